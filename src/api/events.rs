//! `GET /api/v1/events`: the node's events as server-sent events, one
//! per link joining, block settled, share-count and hashrate sample
//! (event name: its `type`; data: its JSON). A stream that falls behind
//! gets a `lagged` event with the count it missed. Streams are capped;
//! past the cap the answer is 503.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::{Api, ApiError};
use crate::node::NodeEvent;

/// How often an idle stream sends a comment, so proxies and browsers keep
/// it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) async fn stream(State(api): State<Arc<Api>>) -> Response {
    let Ok(permit) = api.streams.clone().try_acquire_owned() else {
        return ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many event streams open".into(),
        )
        .into_response();
    };
    let events = api.node.watch.subscribe();
    // The stream ends when the server or the node stops, so a graceful
    // shutdown does not wait on it.
    let ends = (api.closing.subscribe(), api.node.stopping());
    let state = (events, ends, permit);
    let body = stream::unfold(state, |(mut events, mut ends, permit)| async move {
        let received = tokio::select! {
            received = events.recv() => received,
            _ = ends.0.wait_for(|closing| *closing) => return None,
            _ = ends.1.wait_for(|stopping| *stopping) => return None,
        };
        let event = match received {
            Ok(event) => to_sse(&event),
            Err(RecvError::Lagged(missed)) => Event::default()
                .event("lagged")
                .data(json!({"missed": missed}).to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(event), (events, ends, permit)))
    });
    Sse::new(body)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

fn to_sse(event: &NodeEvent) -> Event {
    let name = match event {
        NodeEvent::Link(_) => "link",
        NodeEvent::Block(_) => "block",
        NodeEvent::Shares(_) => "shares",
        NodeEvent::Hashrate(_) => "hashrate",
    };
    // Serializing plain structs of strings and numbers cannot fail; an
    // empty object would be the answer if it did.
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    Event::default().event(name).data(data)
}
