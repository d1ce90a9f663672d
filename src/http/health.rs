//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::ConnectionTrait;

use crate::state::AppState;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The process can serve: the database and the bus answer, and it is not shutting down.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining".into());
    }
    if let Err(err) = state.services.domain.db.execute_unprepared("SELECT 1").await {
        tracing::warn!(error = %err, "readiness: database unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable".into());
    }
    if let Err(why) = state.services.domain.bus.ready().await {
        tracing::warn!(%why, "readiness: bus unavailable");
        return (StatusCode::SERVICE_UNAVAILABLE, why);
    }
    (StatusCode::OK, "ready".into())
}
