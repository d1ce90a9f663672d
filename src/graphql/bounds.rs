//! What a document may expand to: its selections with every fragment spread inlined, its
//! aliases and its nesting, measured right after parsing — before the validator, the
//! executor or any of our own walks see it.
//!
//! Depth and complexity limits read a document as written. A fragment that spreads the
//! next one twice, 22 levels deep, is 900 bytes and a few levels deep, yet its operation
//! expands to four million selections: the validator's inlining walks (and the executor)
//! then take memory and time exponential in the document's size. Here each fragment is
//! measured once and its size reused wherever it is spread, so the measure is linear in the
//! document and the bound holds for what would run, whatever its shape.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, Positioned, Request, Response, ServerError, ServerResult, Variables};
use async_graphql_value::Name;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How deeply selection sets and fragments may nest, spreads followed: the schema's
/// recursion limit too. It keeps every walk of a document (ours, the validator's, the
/// executor's) off the end of a task's stack.
pub const MAX_NESTING: usize = 64;

/// The limits a document is held to (`MAX_QUERY_SELECTIONS`, `MAX_QUERY_ALIASES`, and
/// the nesting the schema's recursion limit allows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Lexical tokens, counted before the document is parsed.
    pub max_tokens: usize,
    /// Fields, fragment spreads, inline fragments and directives, every spread inlined.
    pub max_selections: usize,
    /// Aliased fields, every spread inlined.
    pub max_aliases: usize,
    /// Selection sets and fragments entered one inside another.
    pub max_nesting: usize,
}

impl Bounds {
    /// The bounds `config` sets.
    pub fn of(config: &crate::config::Config) -> Self {
        Bounds {
            max_tokens: config.max_query_tokens,
            max_selections: config.max_query_selections,
            max_aliases: config.max_query_aliases,
            max_nesting: MAX_NESTING,
        }
    }
}

/// How far a document expands: every operation with its spreads inlined, plus the
/// fragments no operation reaches (the validator walks those too). Counts saturate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expansion {
    pub selections: usize,
    pub aliases: usize,
    /// The deepest nesting of selection sets and fragments.
    pub nesting: usize,
}

impl Expansion {
    fn add(&mut self, other: Expansion) {
        self.selections = self.selections.saturating_add(other.selections);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.nesting = self.nesting.max(other.nesting);
    }
}

/// Measures `document`. A fragment is measured once (its size memoised), so this is linear
/// in the document; a cycle of fragments (the validator refuses those) counts its spread
/// once. Nesting deeper than `stop_at` ends the walk early, so a pathological chain of
/// fragments cannot exhaust the stack: the result then reports `stop_at + 1`.
pub fn measure(document: &ExecutableDocument, stop_at: usize) -> Expansion {
    let mut walk = Walk { fragments: &document.fragments, sizes: HashMap::new(), stop_at };
    let mut total = Expansion::default();
    for (_, operation) in document.operations.iter() {
        total.add(walk.selection_set(&operation.node.selection_set, 1));
    }
    let reached: HashSet<Name> = walk.sizes.keys().cloned().collect();
    for name in document.fragments.keys().filter(|name| !reached.contains(*name)) {
        total.add(walk.fragment(name, 1));
    }
    total
}

/// Refuses a document past `bounds`, as a request error (`BAD_USER_INPUT`) that names
/// the limit in `extensions.limit`.
pub fn check(document: &ExecutableDocument, bounds: &Bounds) -> Result<(), ServerError> {
    let expansion = measure(document, bounds.max_nesting);
    let (limit, allowed, what) = if expansion.nesting > bounds.max_nesting {
        ("MAX_NESTING", bounds.max_nesting, "levels of selection sets and fragments, one inside another")
    } else if expansion.selections > bounds.max_selections {
        (
            "MAX_QUERY_SELECTIONS",
            bounds.max_selections,
            "selections (fields, fragments and directives, every spread inlined)",
        )
    } else if expansion.aliases > bounds.max_aliases {
        ("MAX_QUERY_ALIASES", bounds.max_aliases, "aliased fields (every fragment spread inlined)")
    } else {
        return Ok(());
    };
    Err(refusal(format!("the document expands to more than {allowed} {what} ({limit} is {allowed})"), limit))
}

/// Refuses a document of more than `bounds.max_tokens` tokens, before it is parsed.
pub fn check_tokens(query: &str, bounds: &Bounds) -> Result<(), ServerError> {
    match super::tokens::count(query, bounds.max_tokens) > bounds.max_tokens {
        false => Ok(()),
        true => Err(refusal(
            format!("the document has more than {0} tokens (MAX_QUERY_TOKENS is {0})", bounds.max_tokens),
            "MAX_QUERY_TOKENS",
        )),
    }
}

fn refusal(message: String, limit: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "BAD_USER_INPUT");
    extensions.set("limit", limit);
    error.extensions = Some(extensions);
    error
}

/// Counts `request`'s tokens, parses its document (kept for execution) and refuses it past `bounds`: the
/// check every door runs before anything else reads the document. A document that does
/// not parse passes here; the executor says why it does not.
pub fn admit(request: &mut Request, bounds: &Bounds) -> Result<(), Box<Response>> {
    let refused = |error| Box::new(Response::from_errors(vec![error]));
    check_tokens(&request.query, bounds).map_err(refused)?;
    let Ok(document) = request.parsed_query() else { return Ok(()) };
    check(document, bounds).map_err(refused)
}

/// The same check inside the schema, on every document it parses or is handed: the
/// backstop for executions that no door admitted (the hub's runs, tools, tests).
pub struct Bounded(pub Bounds);

impl ExtensionFactory for Bounded {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Bounded(self.0))
    }
}

#[async_trait::async_trait]
impl Extension for Bounded {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        check_tokens(query, &self.0)?;
        let document = next.run(ctx, query, variables).await?;
        check(&document, &self.0)?;
        Ok(document)
    }
}

struct Walk<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    /// Each fragment's expansion once measured; None while it is being measured (a cycle).
    sizes: HashMap<Name, Option<Expansion>>,
    stop_at: usize,
}

impl Walk<'_> {
    fn selection_set(&mut self, set: &Positioned<SelectionSet>, depth: usize) -> Expansion {
        let mut total = Expansion { nesting: depth, ..Expansion::default() };
        if depth > self.stop_at {
            return total;
        }
        for selection in &set.node.items {
            let (directives, inner) = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    total.aliases = total.aliases.saturating_add(usize::from(field.alias.is_some()));
                    let inner = match field.selection_set.node.items.is_empty() {
                        true => Expansion::default(),
                        false => self.selection_set(&field.selection_set, depth + 1),
                    };
                    (field.directives.len(), inner)
                }
                Selection::FragmentSpread(spread) => {
                    (spread.node.directives.len(), self.fragment(&spread.node.fragment_name.node, depth + 1))
                }
                Selection::InlineFragment(inline) => {
                    (inline.node.directives.len(), self.selection_set(&inline.node.selection_set, depth + 1))
                }
            };
            total.selections = total.selections.saturating_add(1).saturating_add(directives);
            total.add(inner);
        }
        total
    }

    /// A fragment's expansion where it is spread at `depth`. Memoised by name: its counts
    /// are the same wherever it is spread and its nesting shifts with `depth`. The first
    /// walk runs at its real depth, so a long chain of fragments stops at `stop_at` too (a
    /// walk cut short leaves smaller counts behind, but its document is refused anyway).
    fn fragment(&mut self, name: &Name, depth: usize) -> Expansion {
        let shifted = |size: Expansion| Expansion { nesting: size.nesting + depth, ..size };
        match self.sizes.get(name) {
            Some(Some(size)) => return shifted(*size),
            Some(None) => return Expansion { nesting: depth, ..Expansion::default() },
            None => {}
        }
        let Some(definition) = self.fragments.get(name) else {
            return Expansion { nesting: depth, ..Expansion::default() };
        };
        self.sizes.insert(name.clone(), None);
        let mut size = self.selection_set(&definition.node.selection_set, depth);
        size.selections = size.selections.saturating_add(definition.node.directives.len());
        let relative = Expansion { nesting: size.nesting.saturating_sub(depth), ..size };
        self.sizes.insert(name.clone(), Some(relative));
        size
    }
}

#[cfg(test)]
#[path = "bounds_tests.rs"]
mod tests;
