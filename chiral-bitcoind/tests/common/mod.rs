//! A stand-in for Bitcoin Core's RPC on loopback: answers the methods a
//! test gives it, checks credentials like Bitcoin Core (HTTP 401 without
//! them), and records every call.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

pub mod blocks;

/// How the stand-in answers one method.
#[derive(Clone)]
pub enum Answer {
    /// `{"result": value, "error": null}`.
    Result(Value),
    /// HTTP 500 with `{"result": null, "error": {code, message}}`, as
    /// Bitcoin Core answers an RPC error.
    Error(i64, &'static str),
    /// A body that is not JSON.
    Garbage,
}

#[derive(Default)]
pub struct Core {
    pub answers: Mutex<HashMap<String, Answer>>,
    /// `Authorization` header wanted (`Basic ...`), if any.
    pub auth: Mutex<Option<String>>,
    pub calls: Mutex<Vec<(String, Value)>>,
    /// Signalled after each call is recorded.
    pub called: tokio::sync::Notify,
}

impl Core {
    pub fn answer(&self, method: &str, answer: Answer) {
        self.answers
            .lock()
            .expect("lock")
            .insert(method.to_owned(), answer);
    }

    /// Waits until `method` was called at least once; its params.
    pub async fn wait_for(&self, method: &str) -> Vec<Value> {
        loop {
            let notified = self.called.notified();
            let calls = self.calls_of(method);
            if !calls.is_empty() {
                return calls;
            }
            tokio::time::timeout(std::time::Duration::from_secs(10), notified)
                .await
                .expect("the call comes");
        }
    }

    pub fn calls_of(&self, method: &str) -> Vec<Value> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, p)| p.clone())
            .collect()
    }
}

async fn handle(
    State(core): State<Arc<Core>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let wanted = core.auth.lock().expect("lock").clone();
    if let Some(wanted) = wanted {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if given != wanted {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    let method = body["method"].as_str().unwrap_or_default().to_owned();
    core.calls
        .lock()
        .expect("lock")
        .push((method.clone(), body["params"].clone()));
    core.called.notify_waiters();
    let answer = core.answers.lock().expect("lock").get(&method).cloned();
    match answer {
        Some(Answer::Result(v)) => Json(json!({"result": v, "error": null, "id": body["id"]})).into_response(),
        Some(Answer::Error(code, message)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"result": null, "error": {"code": code, "message": message}, "id": body["id"]})),
        )
            .into_response(),
        Some(Answer::Garbage) => (StatusCode::OK, "<html>not json</html>").into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"result": null, "error": {"code": -32601, "message": "Method not found"}, "id": body["id"]})),
        )
            .into_response(),
    }
}

/// Starts the stand-in on a free loopback port.
pub async fn start() -> (SocketAddr, Arc<Core>) {
    let core = Arc::new(Core::default());
    let app = Router::new()
        .route("/", post(handle))
        .with_state(core.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, core)
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}
