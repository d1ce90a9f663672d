//! Entity references load in batches: every reference of one `_entities` request (and any
//! nested ones) waits a moment, then each kind is read with one query, as the caller may
//! see it (`domain::lookup`). The batches are per request: the `EntityBatches` extension
//! gives each request an empty slot; the first reference fills it with a loader that holds
//! the request's caller.

use async_graphql::Request;
use async_graphql::ServerResult;
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::auth::Principal;
use crate::domain::Services;
use crate::domain::lookup::{self, Kind, Record};

/// Most references read with one query (a gateway may send thousands in one request).
const MAX_BATCH: usize = 500;

/// One reference: a resource kind and an id.
pub type Reference = (Kind, String);

/// Loads references for one caller.
pub struct EntityLoader {
    services: Services,
    who: Principal,
}

impl Loader<Reference> for EntityLoader {
    type Value = Record;
    /// The domain's error, shared by every reference of the failed batch.
    type Error = Arc<crate::error::AppError>;

    async fn load(&self, keys: &[Reference]) -> Result<HashMap<Reference, Record>, Self::Error> {
        let mut by_kind: HashMap<Kind, Vec<String>> = HashMap::new();
        for (kind, id) in keys {
            by_kind.entry(*kind).or_default().push(id.clone());
        }
        let mut found = HashMap::with_capacity(keys.len());
        for (kind, ids) in by_kind {
            let records = lookup::visible(&self.services, &self.who, kind, &ids).await.map_err(Arc::new)?;
            found.extend(records.into_iter().map(|(id, record)| ((kind, id), record)));
        }
        Ok(found)
    }
}

/// The request's loader, made on first use.
#[derive(Default)]
pub struct Slot(OnceLock<DataLoader<EntityLoader>>);

impl Slot {
    pub fn loader(&self, services: &Services, who: &Principal) -> &DataLoader<EntityLoader> {
        self.0.get_or_init(|| {
            DataLoader::new(EntityLoader { services: services.clone(), who: who.clone() }, tokio::spawn)
                .max_batch_size(MAX_BATCH)
        })
    }
}

/// Gives every request of the federated schema its own `Slot`.
pub struct EntityBatches;

impl ExtensionFactory for EntityBatches {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(EntityBatches)
    }
}

#[async_trait::async_trait]
impl Extension for EntityBatches {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        next.run(ctx, request.data(Slot::default())).await
    }
}
