//! The door commands from a bus come through (`inbox`): the same admission (rate token,
//! persisted query, document bounds) and execution as a POST, as the command consumer's
//! API key, recorded in the audit trail as BRIDGE. Only mutations run.

use async_graphql::parser::types::OperationType as GqlOperation;
use async_trait::async_trait;
use serde_json::{Value, json};

use super::operation::{admit, kind, run_through};
use crate::auth::{Auth, Principal};
use crate::inbox::{Execute, Executed};
use crate::state::AppState;
use crate::vocab::Transport;

pub struct CommandDoor {
    state: AppState,
}

impl CommandDoor {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[async_trait]
impl Execute for CommandDoor {
    async fn mutation(&self, principal: Principal, request: Value) -> Executed {
        let Ok(mut request) = serde_json::from_value::<async_graphql::Request>(request) else {
            let error =
                json!({"message": "the request is not a GraphQL request", "extensions": {"code": "BAD_USER_INPUT"}});
            return Executed::Ran(json!({ "data": null, "errors": [error] }));
        };
        let auth = Auth(Some(principal));
        if let Err(stopped) = admit(&self.state, &auth, &mut request, false).await {
            return Executed::Ran(serde_json::to_value(stopped.response()).unwrap_or(Value::Null));
        }
        match kind(&mut request) {
            Some(GqlOperation::Query) => return Executed::NotAMutation("query"),
            Some(GqlOperation::Subscription) => return Executed::NotAMutation("subscription"),
            Some(GqlOperation::Mutation) | None => {}
        }
        let response = run_through(&self.state, &auth, request, Transport::Bridge).await;
        Executed::Ran(serde_json::to_value(response).unwrap_or(Value::Null))
    }
}
