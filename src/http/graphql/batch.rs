//! A batched POST (a JSON array, as Apollo's `BatchHttpLink` sends): at most `MAX_BATCH`
//! operations, run one after another in their order, each admitted, authorised, limited
//! and counted on its own; the answer is the array of their results in the same order.

use async_graphql::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::answer::{many, request_error};
use super::operation::{admit, run};
use crate::auth::Auth;
use crate::state::AppState;

pub(super) async fn answer(state: &AppState, headers: &HeaderMap, auth: &Auth, requests: Vec<Request>) -> Response {
    let max = state.config.clients.max_batch;
    if requests.is_empty() {
        return request_error(StatusCode::BAD_REQUEST, "an empty batch: send at least one operation");
    }
    if requests.len() > max {
        let message =
            format!("a batch may carry at most {max} operations (MAX_BATCH); this one has {}", requests.len());
        return request_error(StatusCode::BAD_REQUEST, &message);
    }
    let mut responses = Vec::with_capacity(requests.len());
    for mut request in requests {
        let response = match admit(state, auth, &mut request, false).await {
            Ok(()) => run(state, auth, request).await,
            Err(stopped) => stopped.response(),
        };
        responses.push(response);
    }
    many(headers, responses)
}
