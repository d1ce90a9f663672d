//! Each event is serialised once per distinct subscription operation, not once per
//! subscriber.
//!
//! Two subscribers of a practice that sent the same operation (document, operation name
//! and variables) receive byte-identical results for an event, because an event's
//! snapshot never changes and nothing in it depends on who asks. So the first of them to
//! resolve the event serialises the result and the others reuse that JSON.
//!
//! How it threads through async-graphql: the websocket executor gives every operation a
//! [`RenderSlot`] (request data) that knows the operation's shape. When async-graphql
//! resolves an item of a subscription stream, [`Cached`] looks up (shape, practice, seq):
//! on a hit it leaves the JSON in the slot and resolves to nothing; on a miss it resolves
//! normally and notes the key in the slot. The executor then asks the slot for the JSON
//! of each response ([`RenderSlot::json`]): the cached text, or the response serialised
//! now and stored. Without a slot (HTTP, SSE) `Cached` is the plain type.

use async_graphql::parser::types::Field;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, Request, Response, ServerResult, Value, registry};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::events::StoredEvent;

/// Serialised results kept: enough for the last events of every busy practice and shape.
const CAPACITY: usize = 4096;

/// What makes two operations render an event the same way.
#[derive(Clone)]
struct Shape {
    hash: u64,
    /// Operation name, variables and document: compared in full, so a hash collision
    /// cannot hand one operation's result to another.
    text: Arc<str>,
}

impl Shape {
    fn of(request: &Request) -> Self {
        let variables = serde_json::to_string(&request.variables).unwrap_or_default();
        let name = request.operation_name.as_deref().unwrap_or_default();
        let text: Arc<str> = format!("{name}\n{variables}\n{}", request.query).into();
        let mut hasher = DefaultHasher::new();
        text.hash(&mut hasher);
        Self { hash: hasher.finish(), text }
    }

    fn same(&self, other: &Shape) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

struct Entry {
    shape: Shape,
    practice_id: String,
    json: Arc<str>,
}

impl Entry {
    fn is(&self, shape: &Shape, practice_id: &str) -> bool {
        self.practice_id == practice_id && self.shape.same(shape)
    }
}

/// The serialised results of recent events, oldest evicted first.
#[derive(Default)]
pub struct RenderCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// By (shape hash, seq); the few entries under one key differ by practice or shape.
    map: HashMap<(u64, i64), Vec<Entry>>,
    /// Insertion order, for eviction.
    order: VecDeque<(u64, i64)>,
}

impl RenderCache {
    fn get(&self, shape: &Shape, practice_id: &str, seq: i64) -> Option<Arc<str>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let found = entries.map.get(&(shape.hash, seq))?;
        found.iter().find(|e| e.is(shape, practice_id)).map(|e| e.json.clone())
    }

    fn insert(&self, key: Key, json: Arc<str>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let Entries { map, order } = &mut *entries;
        let slot = (key.shape.hash, key.seq);
        let under = map.entry(slot).or_default();
        if under.iter().any(|e| e.is(&key.shape, &key.practice_id)) {
            return; // another subscriber rendered it at the same time
        }
        under.push(Entry { shape: key.shape, practice_id: key.practice_id, json });
        order.push_back(slot);
        if order.len() > CAPACITY
            && let Some(oldest) = order.pop_front()
            && let Some(under) = map.get_mut(&oldest)
        {
            // Entries under one key are pushed in order, so the first is the oldest.
            under.remove(0);
            if under.is_empty() {
                map.remove(&oldest);
            }
        }
    }

    /// How many results are held (for tests).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Key {
    shape: Shape,
    practice_id: String,
    seq: i64,
}

enum Found {
    Nothing,
    Hit(Arc<str>),
    Miss(Key),
}

/// One operation's link to the cache, carried as request data.
#[derive(Clone)]
pub struct RenderSlot(Arc<SlotInner>);

struct SlotInner {
    cache: Arc<RenderCache>,
    shape: Shape,
    /// What resolving the latest item found; an operation resolves one item at a time.
    found: Mutex<Found>,
}

impl RenderSlot {
    pub fn new(cache: &Arc<RenderCache>, request: &Request) -> Self {
        Self(Arc::new(SlotInner { cache: cache.clone(), shape: Shape::of(request), found: Mutex::new(Found::Nothing) }))
    }

    /// Whether the event's result is cached (it is then kept for [`RenderSlot::json`]).
    fn lookup(&self, event: &StoredEvent) -> bool {
        let hit = self.0.cache.get(&self.0.shape, &event.practice_id, event.seq);
        let found = match hit {
            Some(json) => Found::Hit(json),
            None => {
                Found::Miss(Key { shape: self.0.shape.clone(), practice_id: event.practice_id.clone(), seq: event.seq })
            }
        };
        let is_hit = matches!(found, Found::Hit(_));
        *self.0.found.lock().unwrap_or_else(|e| e.into_inner()) = found;
        is_hit
    }

    /// The JSON to send for `response`, the latest result of this operation: shared if
    /// it is an event's (cached now if it was not), `None` for anything else (errors,
    /// non-event results), which the caller serialises itself.
    pub fn json(&self, response: &Response) -> Option<Arc<str>> {
        let found = std::mem::replace(&mut *self.0.found.lock().unwrap_or_else(|e| e.into_inner()), Found::Nothing);
        if !response.errors.is_empty() {
            return None;
        }
        match found {
            Found::Nothing => None,
            Found::Hit(json) => Some(json),
            Found::Miss(key) => {
                let json: Arc<str> = serde_json::to_string(response).ok()?.into();
                self.0.cache.insert(key, json.clone());
                Some(json)
            }
        }
    }
}

/// An event's GraphQL object that resolves through the cache when its operation has a
/// [`RenderSlot`]. It is the inner type in the schema.
pub struct Cached<T> {
    pub item: T,
    pub event: Arc<StoredEvent>,
}

impl<T> Cached<T> {
    /// The same event as another GraphQL type (e.g. the interface narrowed to an object).
    pub fn map<U>(self, f: impl FnOnce(T) -> Option<U>) -> Option<Cached<U>> {
        let event = self.event;
        f(self.item).map(|item| Cached { item, event })
    }
}

impl<T: OutputType> OutputType for Cached<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.item.introspection_type_name()
    }

    fn create_type_info(registry: &mut registry::Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        if let Some(slot) = ctx.data_opt::<RenderSlot>()
            && slot.lookup(&self.event)
        {
            // The JSON is in the slot; what is resolved here is never sent.
            return Ok(Value::Null);
        }
        self.item.resolve(ctx, field).await
    }
}
