//! `mining.configure` (BIP 310): version rolling.

use serde_json::{json, Map, Value};

use crate::server::{Session, Shared};
use crate::wire::{u32_param, ErrorCode, Message};

/// Params: `[[extension, ...], {"version-rolling.mask": "hex", ...}]`.
/// Only version rolling is supported; other extensions are answered false.
pub(crate) fn handle(
    session: &mut Session,
    shared: &Shared,
    id: Value,
    params: &Value,
) -> Vec<Message> {
    let Some(extensions) = params.get(0).and_then(Value::as_array) else {
        return vec![Message::err(id, ErrorCode::Other)];
    };
    let options = params.get(1).and_then(Value::as_object);
    let mut result = Map::new();
    for ext in extensions.iter().filter_map(Value::as_str).take(16) {
        if ext == "version-rolling" {
            let requested = options
                .and_then(|o| o.get("version-rolling.mask"))
                .and_then(u32_param)
                .unwrap_or(u32::MAX);
            let mask = requested & shared.config.version_mask;
            session.version_mask = Some(mask);
            result.insert("version-rolling".into(), json!(true));
            result.insert("version-rolling.mask".into(), json!(format!("{mask:08x}")));
        } else {
            result.insert(ext.to_owned(), json!(false));
        }
    }
    vec![Message::ok(id, Value::Object(result))]
}
