//! The bounds against generated documents: fragments spreading fragments (several times,
//! under directives and inline fragments), aliases and variables. Whatever the validator
//! accepts, one execution resolves no more fields than `MAX_QUERY_SELECTIONS`; whatever is
//! refused is past a bound by an independent, naive count.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo};
use async_graphql::{Request, ServerResult, Value, Variables};
use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestRunner};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Bounds, MAX_NESTING, measure};
use crate::config::Config;

const CASES: u32 = 256;
const BOUNDS: Bounds = Bounds { max_tokens: 100_000, max_selections: 300, max_aliases: 12, max_nesting: MAX_NESTING };

/// Counts the fields an execution resolves (every field but `__typename` passes here).
struct Resolved(Arc<AtomicUsize>);

impl ExtensionFactory for Resolved {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Resolved(self.0.clone()))
    }
}

#[async_trait::async_trait]
impl Extension for Resolved {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        next.run(ctx, info).await
    }
}

/// One selection inside a fragment on `__Type`.
#[derive(Clone, Debug)]
enum Item {
    Field(&'static str),
    Aliased(usize, &'static str),
    Spread(usize),
    SpreadIf(usize, &'static str),
    Inline(Vec<Item>),
}

#[derive(Clone, Debug)]
struct Document {
    /// Fragment `F{i}` holds `fragments[i]`; a spread names a later fragment (no cycles).
    fragments: Vec<Vec<Item>>,
    include: bool,
    skip: bool,
}

fn item(later: std::ops::Range<usize>) -> BoxedStrategy<Item> {
    let field = prop_oneof![Just("name"), Just("kind"), Just("description")];
    let mut leaf = vec![
        field.clone().prop_map(Item::Field).boxed(),
        (0..40usize, field).prop_map(|(n, f)| Item::Aliased(n, f)).boxed(),
    ];
    if !later.is_empty() {
        leaf.push(later.clone().prop_map(Item::Spread).boxed());
        leaf.push(
            (later, prop_oneof![Just("@include(if: $v)"), Just("@skip(if: $w)")])
                .prop_map(|(i, d)| Item::SpreadIf(i, d))
                .boxed(),
        );
    }
    let leaf = proptest::strategy::Union::new(leaf).boxed();
    prop_oneof![4 => leaf.clone(), 1 => prop::collection::vec(leaf, 1..4).prop_map(Item::Inline)].boxed()
}

fn document() -> impl Strategy<Value = Document> {
    (2..11usize).prop_flat_map(|count| {
        let fragments: Vec<_> = (0..count).map(|i| prop::collection::vec(item(i + 1..count), 1..6)).collect();
        (fragments, any::<bool>(), any::<bool>()).prop_map(|(fragments, include, skip)| Document {
            fragments,
            include,
            skip,
        })
    })
}

fn render(items: &[Item]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|item| match item {
            // Aliases name their field, so two of one alias never conflict.
            Item::Field(f) => f.to_string(),
            Item::Aliased(n, f) => format!("{f}{n}: {f}"),
            Item::Spread(i) => format!("...F{i}"),
            Item::SpreadIf(i, d) => format!("...F{i} {d}"),
            Item::Inline(items) => format!("... on __Type {{ {} }}", render(items)),
        })
        .collect();
    parts.join(" ")
}

impl Document {
    fn text(&self) -> String {
        let mut text = "query($v: Boolean!, $w: Boolean!) { __schema { queryType { ...F0 } } }".to_string();
        for (i, items) in self.fragments.iter().enumerate().filter(|(i, _)| self.reached(*i)) {
            text.push_str(&format!(" fragment F{i} on __Type {{ {} }}", render(items)));
        }
        text
    }

    /// Whether F0 reaches fragment `i` (the validator refuses unused fragments).
    fn reached(&self, i: usize) -> bool {
        fn spreads(items: &[Item], out: &mut Vec<usize>) {
            for item in items {
                match item {
                    Item::Spread(i) | Item::SpreadIf(i, _) => out.push(*i),
                    Item::Inline(items) => spreads(items, out),
                    _ => {}
                }
            }
        }
        let mut seen = vec![false; self.fragments.len()];
        let mut stack = vec![0];
        while let Some(at) = stack.pop() {
            if !std::mem::replace(&mut seen[at], true) {
                spreads(&self.fragments[at], &mut stack);
            }
        }
        seen[i]
    }

    /// Selections and aliases by inlining every spread, the slow way; gives up past `cap`.
    fn naive(&self, items: &[Item], cap: usize, count: &mut (usize, usize)) {
        for item in items {
            if count.0 > cap {
                return;
            }
            match item {
                Item::Field(_) => count.0 += 1,
                Item::Aliased(..) => *count = (count.0 + 1, count.1 + 1),
                Item::Spread(i) => {
                    count.0 += 1;
                    self.naive(&self.fragments[*i], cap, count);
                }
                Item::SpreadIf(i, _) => {
                    count.0 += 2;
                    self.naive(&self.fragments[*i], cap, count);
                }
                Item::Inline(items) => {
                    count.0 += 1;
                    self.naive(items, cap, count);
                }
            }
        }
    }

    /// The naive count of the operation: `__schema`, `queryType`, the spread, then F0.
    fn naive_count(&self, cap: usize) -> (usize, usize) {
        let mut count = (3, 0);
        self.naive(&self.fragments[0], cap, &mut count);
        count
    }
}

#[test]
fn nothing_the_validator_accepts_resolves_more_fields_than_the_bound() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let mut config = Config::with_database("sqlite::memory:");
    (config.max_query_selections, config.max_query_aliases) = (BOUNDS.max_selections, BOUNDS.max_aliases);
    let resolved = Arc::new(AtomicUsize::new(0));
    let builder =
        async_graphql::Schema::build(Default::default(), Default::default(), super::super::subscription::Subscription);
    let schema = super::super::schema::limited(builder, &config).extension(Resolved(resolved.clone())).finish();
    let (accepted, refused, most) = (std::cell::Cell::new(0), std::cell::Cell::new(0), std::cell::Cell::new(0));
    let mut runner = TestRunner::new(Cases { cases: CASES, failure_persistence: None, ..Cases::default() });
    runner
        .run(&document(), |document| {
            let text = document.text();
            let variables = Variables::from_json(serde_json::json!({ "v": document.include, "w": document.skip }));
            resolved.store(0, Ordering::Relaxed);
            let response = runtime.block_on(schema.execute(Request::new(&text).variables(variables)));
            let (selections, aliases) = document.naive_count(BOUNDS.max_selections);
            let measured = measure(&async_graphql::parser::parse_query(&text).expect("it parses"), MAX_NESTING);
            let limit =
                response.errors.first().and_then(|e| e.extensions.as_ref()).and_then(|x| x.get("limit")).cloned();
            if limit.is_none() && !response.errors.is_empty() {
                // Refused by the validator for another reason: nothing ran either.
                prop_assert_eq!(resolved.load(Ordering::Relaxed), 0, "{:?}", response.errors);
                return Ok(());
            }
            if limit.is_some() {
                refused.set(refused.get() + 1);
                prop_assert!(
                    selections > BOUNDS.max_selections || aliases > BOUNDS.max_aliases,
                    "refused within bounds: {text}"
                );
                prop_assert_eq!(resolved.load(Ordering::Relaxed), 0, "a refused document resolved fields");
            } else {
                accepted.set(accepted.get() + 1);
                let count = resolved.load(Ordering::Relaxed);
                most.set(most.get().max(count));
                prop_assert!(count <= BOUNDS.max_selections, "resolved past the bound: {}", text);
                prop_assert!(
                    selections <= BOUNDS.max_selections && aliases <= BOUNDS.max_aliases,
                    "accepted past a bound: {}",
                    text
                );
                prop_assert_eq!((measured.selections, measured.aliases), (selections, aliases), "the measure is exact");
            }
            Ok(())
        })
        .expect("every generated document stays within the bounds");
    // Both sides were exercised, or the property says little.
    let (accepted, refused) = (accepted.get(), refused.get());
    assert!(most.get() > 20, "the counter saw the executions ({} fields at most)", most.get());
    assert!(accepted > CASES as usize / 10 && refused > CASES as usize / 10, "accepted {accepted}, refused {refused}");
}

#[test]
fn a_fragment_spread_twice_per_level_is_measured_in_linear_time_and_refused() {
    let levels = 40;
    let mut text = "query { ...F0 }".to_string();
    for i in 0..levels {
        text.push_str(&format!(" fragment F{i} on Query {{ ...F{next} ...F{next} }}", next = i + 1));
    }
    text.push_str(&format!(" fragment F{levels} on Query {{ __typename }}"));
    let document = async_graphql::parser::parse_query(&text).expect("it parses");
    let measured = measure(&document, MAX_NESTING);
    assert_eq!(measured.selections, 3 * (1 << levels) - 1, "2^40 leaves, counted without walking them");
    let error = super::check(&document, &BOUNDS).expect_err("refused");
    assert_eq!(error.extensions.and_then(|x| x.get("limit").cloned()), Some(Value::from("MAX_QUERY_SELECTIONS")));
}

#[test]
fn a_chain_of_fragments_deeper_than_the_nesting_limit_is_refused_without_walking_it_all() {
    let mut text = "query { ...F0 }".to_string();
    for i in 0..5_000 {
        text.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
    }
    text.push_str(" fragment F5000 on Query { __typename }");
    let document = async_graphql::parser::parse_query(&text).expect("it parses");
    let error = super::check(&document, &BOUNDS).expect_err("refused");
    assert_eq!(error.extensions.and_then(|x| x.get("limit").cloned()), Some(Value::from("MAX_NESTING")));
}

#[test]
fn the_introspection_query_graphiql_sends_is_within_the_default_bounds() {
    let text = include_str!("../../tests/api/introspection.graphql");
    let document = async_graphql::parser::parse_query(text).expect("it parses");
    let defaults = Bounds::of(&Config::with_database("sqlite::memory:"));
    let measured = measure(&document, MAX_NESTING);
    assert!(super::check(&document, &defaults).is_ok(), "{measured:?}");
    assert!(super::check_tokens(text, &defaults).is_ok());
}
