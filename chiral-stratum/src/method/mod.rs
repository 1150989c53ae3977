//! One Stratum method per file: parse the params, apply to the session,
//! encode the reply. [`dispatch`] routes by name; unknown methods get an
//! error reply, not a disconnect.

mod authorize;
mod configure;
mod extranonce_subscribe;
mod submit;
mod subscribe;
mod suggest_difficulty;

use serde_json::Value;

use crate::server::{Session, Shared};
use crate::wire::{ErrorCode, Message};

/// Ban points for an unknown method.
const UNKNOWN_METHOD_POINTS: u32 = 2;

/// Handles one request and returns what to send back (the reply first).
pub(crate) fn dispatch(
    session: &mut Session,
    shared: &Shared,
    id: Value,
    method: &str,
    params: &Value,
) -> Vec<Message> {
    match method {
        "mining.configure" => configure::handle(session, shared, id, params),
        "mining.subscribe" => subscribe::handle(session, shared, id, params),
        "mining.authorize" => authorize::handle(session, shared, id, params),
        "mining.submit" => submit::handle(session, shared, id, params),
        "mining.suggest_difficulty" => suggest_difficulty::handle(session, shared, id, params),
        "mining.extranonce.subscribe" => extranonce_subscribe::handle(session, id),
        _ => {
            session.add_ban_points(UNKNOWN_METHOD_POINTS);
            vec![Message::err(id, ErrorCode::Other)]
        }
    }
}
