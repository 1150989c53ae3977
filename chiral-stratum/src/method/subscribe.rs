//! `mining.subscribe`: extranonce assignment and session resume.

use serde_json::{json, Value};

use crate::server::{Session, Shared};
use crate::wire::Message;

/// Params: `[user agent?, session id?]`. A known session id whose
/// extranonce1 is free is resumed; otherwise the connection keeps its own.
pub(crate) fn handle(
    session: &mut Session,
    shared: &Shared,
    id: Value,
    params: &Value,
) -> Vec<Message> {
    if let Some(resume) = params.get(1).and_then(Value::as_str) {
        if let Some(en1) = shared.extranonces.resume(resume, session.extranonce1) {
            session.extranonce1 = en1;
        }
    }
    session.subscribed = true;
    let sid = hex::encode(session.extranonce1);
    shared.extranonces.remember(&sid, session.extranonce1);
    let result = json!([
        [["mining.set_difficulty", sid], ["mining.notify", sid]],
        hex::encode(session.extranonce1),
        shared.config.extranonce2_size,
    ]);
    let mut out = vec![Message::ok(id, result)];
    out.extend(session.start_work_if_ready(shared));
    out
}
