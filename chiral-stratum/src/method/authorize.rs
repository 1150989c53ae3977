//! `mining.authorize`: `<payout id>.<worker>` usernames; in a pool that
//! pays in the coinbase the payout id is an address of its network.

use chiral_pool_core::ids::PayoutId;
use chiral_pool_core::payout::payout_script;
use serde_json::{json, Value};

use crate::server::{Session, Shared};
use crate::wire::{ErrorCode, Message};

/// Most usernames one connection may authorize.
const MAX_USERS_PER_CONNECTION: usize = 16;

/// Params: `[username, password]`. The username is `<payout id>` or
/// `<payout id>.<worker>`; the pluggable authorizer decides.
pub(crate) fn handle(
    session: &mut Session,
    shared: &Shared,
    id: Value,
    params: &Value,
) -> Vec<Message> {
    let Some(user) = params.get(0).and_then(Value::as_str) else {
        return vec![Message::err(id, ErrorCode::Other)];
    };
    let password = params.get(1).and_then(Value::as_str).unwrap_or("");
    let (payout, worker) = user.split_once('.').unwrap_or((user, ""));
    let Ok(payout) = PayoutId::new(payout) else {
        return vec![Message::err(id, ErrorCode::Unauthorized)];
    };
    // The pool's network: the server's setting, else what its share chain
    // position pays (the two agree in a node; an embedder may set one).
    let network = shared.config.addresses.or_else(|| {
        shared
            .positions()
            .borrow()
            .payouts
            .as_ref()
            .and_then(|p| p.network)
    });
    if let Some(network) = network {
        if let Err(e) = payout_script(&payout, network) {
            return vec![Message::err_with(
                id,
                ErrorCode::Unauthorized,
                format!("{e}: this pool pays {network} addresses in the coinbase"),
            )];
        }
    }
    if worker.len() > 64
        || session.users.len() >= MAX_USERS_PER_CONNECTION
        || !shared.authorizer.authorize(&payout, worker, password)
    {
        return vec![Message::err(id, ErrorCode::Unauthorized)];
    }
    session.users.insert(user.to_owned(), payout.clone());
    if session.payout.is_none() {
        session.payout = Some(payout);
    }
    let mut out = vec![Message::ok(id, json!(true))];
    out.extend(session.start_work_if_ready(shared));
    out
}
