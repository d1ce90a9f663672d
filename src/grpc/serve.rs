//! Serving the gRPC door on its own listener: `clinicstream.v1.Events`, `grpc.health.v1`
//! (SERVING while the app serves, NOT_SERVING once it drains) and server reflection (v1
//! and v1alpha, so `grpcurl` and generated clients' tools list and describe it).

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use super::proto::{EventsServer, FILE_DESCRIPTOR_SET, SERVICE_NAME};
use super::service::EventsService;
use crate::state::AppState;

/// The largest request a client may send (a `SubscribeRequest` is a few hundred bytes);
/// a larger one is refused before it is decoded.
const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// Serves on `listener` until the app starts draining; open streams end then with
/// UNAVAILABLE (`http::streamed::hold` ends them), so clients resume elsewhere.
pub async fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    let drain = state.shutdown.clone();
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status(SERVICE_NAME, ServingStatus::Serving).await;
    health.set_service_status("", ServingStatus::Serving).await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let reflection_v1 = reflection().build_v1()?;
    let events = EventsServer::new(EventsService::new(state))
        .max_decoding_message_size(MAX_REQUEST_BYTES)
        .max_encoding_message_size(usize::MAX);
    tracing::info!(addr = %listener.local_addr()?, "gRPC listening");
    // Events are small frames written one at a time (see the HTTP listener's TCP_NODELAY).
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let stopped = async move {
        drain.cancelled().await;
        health.set_service_status(SERVICE_NAME, ServingStatus::NotServing).await;
        health.set_service_status("", ServingStatus::NotServing).await;
    };
    Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(events)
        .serve_with_incoming_shutdown(incoming, stopped)
        .await?;
    Ok(())
}
