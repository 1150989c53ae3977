//! `mining.suggest_difficulty`: the miner asks for a starting difficulty.

use serde_json::{json, Value};

use crate::server::{Session, Shared};
use crate::wire::{ErrorCode, Message};

/// Params: `[difficulty]`. Clamped to the server's limits; applies from
/// the next job, which is sent at once if work has started.
pub(crate) fn handle(
    session: &mut Session,
    shared: &Shared,
    id: Value,
    params: &Value,
) -> Vec<Message> {
    let Some(d) = params.get(0).and_then(Value::as_f64) else {
        return vec![Message::err(id, ErrorCode::Other)];
    };
    session.vardiff.set(d, shared.now_ms());
    let mut out = vec![Message::ok(id, json!(true))];
    if session.working {
        out.extend(session.issue_job(shared, false));
    }
    out
}
