//! `mining.extranonce.subscribe`: opt in to `mining.set_extranonce`.

use serde_json::{json, Value};

use crate::server::Session;
use crate::wire::Message;

/// No params. Only clients that opted in are ever sent `mining.set_extranonce`.
pub(crate) fn handle(session: &mut Session, id: Value) -> Vec<Message> {
    session.extranonce_subscribed = true;
    vec![Message::ok(id, json!(true))]
}
