//! The GraphiQL playground, with subscriptions over the same endpoint's websocket.

use async_graphql::http::GraphiQLSource;
use axum::response::Html;

pub fn page() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql").title("clinicstream").finish())
}
