//! Admin actions: only a `POST` carrying the node's bearer token, kept in
//! its data directory (`api-token`, readable by its owner alone), is
//! obeyed. A node without a data directory has no token and obeys none.

use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use chiral_pool_core::ids::PoolId;
use serde::Deserialize;
use serde_json::{json, Value};

use super::json::parse_pool;
use super::{Api, ApiError};

/// The token's file in a node's data directory.
pub const TOKEN_FILE: &str = "api-token";

/// The secret admin actions need: 32 random bytes, as 64 hex digits.
#[derive(Clone)]
pub struct AdminToken(String);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        AdminToken(hex::encode(bytes))
    }

    /// The token in `dir`'s [`TOKEN_FILE`], written there first (owner
    /// read and write only) if there is none. A file that does not hold
    /// 64 hex digits, or (on unix) that others may read, is an error, not
    /// replaced.
    pub fn load_or_create(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(TOKEN_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(&path)?.permissions().mode();
                    if mode & 0o077 != 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::PermissionDenied,
                            format!(
                                "{} is readable by others (mode {:o}): chmod 600 it",
                                path.display(),
                                mode & 0o777
                            ),
                        ));
                    }
                }
                let token = text.trim();
                let valid = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
                if !valid {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} does not hold 64 hex digits", path.display()),
                    ));
                }
                Ok(AdminToken(token.to_ascii_lowercase()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)?;
                let token = Self::generate();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&path)?;
                writeln!(file, "{}", token.0)?;
                file.sync_all()?;
                Ok(token)
            }
            Err(e) => Err(e),
        }
    }

    /// The token's text (what a client sends as `Bearer <token>`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is the token, compared in time independent of
    /// where they differ.
    fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Refuses a request without the token: 403 if the node has none, 401
/// if it is missing or wrong.
fn authorize(api: &Api, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &api.admin_token else {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "admin actions are off: this node has no data directory for a token".into(),
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme's name is case-insensitive (RFC 9110).
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .unwrap_or_default();
    if token.matches(presented.trim()) {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            format!("admin actions need 'Authorization: Bearer <token>' (the token is in the data directory's {TOKEN_FILE})"),
        ))
    }
}

/// `POST /api/v1/admin/republish`: the node's signed records (its pool's
/// announcement, its directory entry) are put to the DHT now.
pub(super) async fn republish(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&api, &headers)?;
    api.node
        .manager
        .republish()
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("republish failed: {e}")))?;
    Ok(Json(json!({"republished": true})))
}

/// What `POST /api/v1/admin/follow` takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FollowRequest {
    /// The pool id, hex.
    pool: String,
}

/// `POST /api/v1/admin/follow` with `{"pool": "<id>"}`: the node finds
/// the pool in the DHT and follows it (a node follows one pool).
pub(super) async fn follow(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    body: Result<Json<FollowRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    authorize(&api, &headers)?;
    let Json(request) = body.map_err(|e| {
        // Too large stays 413; any other bad body is a malformed request.
        let status = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError(status, format!("bad request body: {e}"))
    })?;
    let id: PoolId = parse_pool(&request.pool)?;
    // On its own task: a client that goes away, or a server shutting
    // down, must not cancel the node half way into following.
    let node = api.node.clone();
    let followed = tokio::spawn(tracing::Instrument::in_current_span(async move {
        let ann = node
            .find_pool(&id)
            .await
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "pool not found in the DHT".into()))?;
        node.follow(&ann)
            .await
            .map_err(|e| ApiError(StatusCode::CONFLICT, e.to_string()))
    }));
    match followed.await {
        Ok(result) => result?,
        Err(e) => {
            tracing::error!(error = %e, "the follow task failed");
            return Err(ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "following failed".into(),
            ));
        }
    }
    Ok(Json(json!({"following": id.to_hex()})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_made_once_kept_private_and_checked() {
        let dir =
            std::env::temp_dir().join(format!("chiral-token-{}", AdminToken::generate().as_str()));
        let made = AdminToken::load_or_create(&dir).expect("made");
        let again = AdminToken::load_or_create(&dir).expect("read");
        assert_eq!(made.as_str(), again.as_str());
        assert!(made.matches(again.as_str()));
        assert!(!made.matches(&again.as_str()[1..]));
        assert!(
            !format!("{made:?}").contains(made.as_str()),
            "Debug hides it"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join(TOKEN_FILE);
            let mode = std::fs::metadata(&path).expect("file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            assert!(
                AdminToken::load_or_create(&dir).is_err(),
                "a readable token is refused"
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        std::fs::write(dir.join(TOKEN_FILE), "not a token").expect("write");
        assert!(
            AdminToken::load_or_create(&dir).is_err(),
            "a bad file is not replaced"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
