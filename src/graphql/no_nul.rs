//! The one edge every GraphQL string passes: no NUL character gets in. Postgres text
//! cannot hold one (`invalid byte sequence for encoding "UTF8": 0x00`), so a NUL that
//! reached SQL answered INTERNAL; here it is BAD_USER_INPUT before any resolver runs, on
//! every door (HTTP, websockets, SSE, multipart), in variables and in the document alike.
//! Other control characters are the validators' (`domain::validate`): refused in ids and
//! free text, newlines and tabs allowed in free text.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{Directive, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, Pos, Positioned, ServerError, ServerResult, Value, Variables};
use std::sync::Arc;

use crate::error::AppError;

pub struct NoNul;

impl ExtensionFactory for NoNul {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NoNul)
    }
}

#[async_trait::async_trait]
impl Extension for NoNul {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Some((name, _)) = variables.iter().find(|(_, value)| holds_nul(value)) {
            return Err(refused(&format!("variable ${name}"), Pos::default()));
        }
        let document = next.run(ctx, query, variables).await?;
        for (_, operation) in document.operations.iter() {
            let op = &operation.node;
            for definition in &op.variable_definitions {
                if definition.node.default_value.as_ref().is_some_and(|v| holds_nul(&v.node)) {
                    return Err(refused(&format!("the default of ${}", definition.node.name.node), definition.pos));
                }
            }
            in_directives(&op.directives)?;
            in_selections(&op.selection_set)?;
        }
        for fragment in document.fragments.values() {
            in_directives(&fragment.node.directives)?;
            in_selections(&fragment.node.selection_set)?;
        }
        Ok(document)
    }
}

fn refused(what: &str, pos: Pos) -> ServerError {
    AppError::bad_input(format!("{what}: a string must not contain NUL characters")).extend().into_server_error(pos)
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields.iter().any(|(name, v)| name.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// A literal in the document (it may hold variables,
/// which are checked on their own).
fn literal_holds_nul(value: &async_graphql_value::Value) -> bool {
    use async_graphql_value::Value as V;
    match value {
        V::String(s) => s.contains('\0'),
        V::List(items) => items.iter().any(literal_holds_nul),
        V::Object(fields) => fields.values().any(literal_holds_nul),
        _ => false,
    }
}

fn in_arguments(
    arguments: &[(Positioned<async_graphql::Name>, Positioned<async_graphql_value::Value>)],
) -> ServerResult<()> {
    match arguments.iter().find(|(_, value)| literal_holds_nul(&value.node)) {
        Some((name, value)) => Err(refused(&format!("argument {}", name.node), value.pos)),
        None => Ok(()),
    }
}

fn in_directives(directives: &[Positioned<Directive>]) -> ServerResult<()> {
    directives.iter().try_for_each(|d| in_arguments(&d.node.arguments))
}

fn in_selections(set: &Positioned<SelectionSet>) -> ServerResult<()> {
    for item in &set.node.items {
        match &item.node {
            Selection::Field(field) => {
                in_arguments(&field.node.arguments)?;
                in_directives(&field.node.directives)?;
                in_selections(&field.node.selection_set)?;
            }
            Selection::FragmentSpread(spread) => in_directives(&spread.node.directives)?,
            Selection::InlineFragment(inline) => {
                in_directives(&inline.node.directives)?;
                in_selections(&inline.node.selection_set)?;
            }
        }
    }
    Ok(())
}
