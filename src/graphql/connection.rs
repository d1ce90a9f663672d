//! Relay connections from domain pages.

use async_graphql::OutputType;
use async_graphql::connection::{Connection, Edge};

use crate::db::paging::Page;

pub fn connection<T: OutputType>(page: Page<T>) -> Connection<String, T> {
    let mut connection = Connection::new(page.has_previous, page.has_next);
    connection.edges.extend(page.items.into_iter().map(|(cursor, node)| Edge::new(cursor, node)));
    connection
}
