//! `mining.submit`: rebuild the header and let core's validator judge it.

use chiral_pool_core::share::{Share, ShareError};
use serde_json::{json, Value};

use crate::job::roll_version;
use crate::server::{AwaitingReply, RejectReason, Session, Shared};
use crate::wire::{hex_param, u32_param, ErrorCode, Message};

/// How far ntime may run ahead of the job's time, seconds.
const MAX_NTIME_AHEAD: u32 = 7200;
/// Ban points of a share that is invalid, a duplicate or too weak.
const BAD_SHARE_POINTS: u32 = 5;
/// Ban points of a share on a job or block that is gone: honest miners
/// send a few of these after every block.
const STALE_POINTS: u32 = 1;

/// Params: `[username, job id, extranonce2, ntime, nonce, version bits?]`.
/// Nothing the miner claims is trusted: the header is rebuilt from the
/// job and checked by the pool's [`ShareValidator`](chiral_pool_core::share::ShareValidator).
pub(crate) fn handle(
    session: &mut Session,
    shared: &Shared,
    id: Value,
    params: &Value,
) -> Vec<Message> {
    match check(session, shared, params) {
        Ok((Kept::Now, extra)) => {
            let mut out = vec![Message::ok(id, json!(true))];
            out.extend(extra);
            out
        }
        // The reply waits for the sink (see `Session::run`).
        Ok((Kept::Later(awaiting), extra)) => {
            session.awaiting.push(AwaitingReply { id, ..*awaiting });
            extra
        }
        Err((reason, code, points)) => {
            shared.stats.reject(reason);
            session.add_ban_points(points);
            vec![Message::err(id, code)]
        }
    }
}

type Rejection = (RejectReason, ErrorCode, u32);

/// When an accepted share is kept: already (the sink confirmed it at
/// once; counted, replied now), or once its reply's wait completes.
enum Kept {
    Now,
    Later(Box<AwaitingReply>),
}

fn invalid() -> Rejection {
    (RejectReason::Invalid, ErrorCode::Other, BAD_SHARE_POINTS)
}

fn stale() -> Rejection {
    (RejectReason::Stale, ErrorCode::JobNotFound, STALE_POINTS)
}

/// Whether the accepted share is kept yet (a pending reply has its id
/// still unset) and the messages that follow its reply.
fn check(
    session: &mut Session,
    shared: &Shared,
    params: &Value,
) -> Result<(Kept, Vec<Message>), Rejection> {
    if !session.subscribed {
        return Err((
            RejectReason::NotSubscribed,
            ErrorCode::NotSubscribed,
            BAD_SHARE_POINTS,
        ));
    }
    let p = params.as_array().ok_or_else(invalid)?;
    if !(5..=6).contains(&p.len()) {
        return Err(invalid());
    }
    let user = p.first().and_then(Value::as_str).unwrap_or("");
    if !session.users.contains_key(user) {
        return Err((
            RejectReason::Unauthorized,
            ErrorCode::Unauthorized,
            BAD_SHARE_POINTS,
        ));
    }
    let job_id = p.get(1).and_then(Value::as_str).ok_or_else(invalid)?;
    let Some(job) = session.job(job_id) else {
        return Err(stale());
    };
    let en2_len = shared.config.extranonce2_size;
    let en2 = p
        .get(2)
        .and_then(|v| hex_param(v, en2_len))
        .ok_or_else(invalid)?;
    let ntime = p.get(3).and_then(u32_param).ok_or_else(invalid)?;
    let nonce = p.get(4).and_then(u32_param).ok_or_else(invalid)?;
    let t = &job.params.template;
    if ntime < t.time || ntime > t.time.saturating_add(MAX_NTIME_AHEAD) {
        return Err(invalid());
    }
    let job_version = t.version as u32;
    let version = match p.get(5) {
        None => job_version,
        Some(bits) => {
            let bits = u32_param(bits).ok_or_else(invalid)?;
            let mask = session.version_mask.unwrap_or(0);
            roll_version(job_version, bits, mask).ok_or_else(invalid)?
        }
    };
    let coinbase = job.params.coinbase(&session.extranonce1, &en2);
    let header = job.params.header(&coinbase, ntime, nonce, version);
    let share = Share {
        pool_id: shared.config.pool_id,
        payout_id: job.payout.clone(),
        target: job.target,
        header,
        coinbase,
        merkle_branch: t.merkle_branch.clone(),
    };
    let verified = shared.validate(&share).map_err(|e| match e {
        ShareError::Stale => stale(),
        ShareError::Duplicate => (
            RejectReason::Duplicate,
            ErrorCode::Duplicate,
            BAD_SHARE_POINTS,
        ),
        ShareError::LowDifficulty => (
            RejectReason::LowDifficulty,
            ErrorCode::LowDifficulty,
            BAD_SHARE_POINTS,
        ),
        // The server's memory is full, not the miner's fault.
        ShareError::DedupeFull => (RejectReason::Overloaded, ErrorCode::Other, 0),
        _ => invalid(),
    })?;
    let now = shared.now_ms();
    session.relieve_ban_points();
    if verified.is_block {
        shared
            .stats
            .blocks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        shared.work.block_found(&share.header, &share.coinbase);
    }
    let durable = shared.sink.accepted(&share, &verified);
    let kept = if durable.is_now() {
        shared.stats.accept(user, verified.difficulty, now);
        Kept::Now
    } else {
        Kept::Later(Box::new(AwaitingReply {
            id: Value::Null,
            user: user.to_owned(),
            verified,
            durable,
        }))
    };
    let extra = match session.vardiff.on_share(now) {
        Some(_) => session.issue_job(shared, false),
        None => Vec::new(),
    };
    Ok((kept, extra))
}
