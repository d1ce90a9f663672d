//! The settings of GraphQL clients as they come: trusted documents and the bound of the
//! automatic persisted queries, and for the HTTP door the origins CORS allows and the size
//! of a batch. They are one `ClientArgs` (`config.clients`) and live here, with the
//! persisted queries, rather than in `http/`: `Config` composes them and sits below
//! `http` (the schema and the state take it), so it may not import from there.

use clap::Args;

/// What browsers on other origins, persisted-query clients and batching clients may do.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Origins (`https://app.example`) whose pages may call `/graphql` and
    /// `/graphql/stream` and open websockets, comma-separated; `*` allows any. Empty (the
    /// default): same origin only.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', default_value = "")]
    pub cors_allowed_origins: Vec<String>,
    /// Operations one batched POST (a JSON array) may carry.
    #[arg(long, env = "MAX_BATCH", default_value_t = 10)]
    pub max_batch: usize,
    /// Refuse every operation whose document was not registered ahead of time
    /// (`clinicstream persisted-queries register`): trusted documents only.
    #[arg(long, env = "PERSISTED_QUERIES_ONLY", default_value_t = false, action = clap::ArgAction::Set)]
    pub persisted_queries_only: bool,
    /// Automatic persisted queries kept in the database (shared by replicas); past it the
    /// least recently used are pruned. Registered documents are never pruned.
    #[arg(long, env = "PERSISTED_QUERIES_MAX", default_value_t = 10_000)]
    pub persisted_queries_max: u64,
}
