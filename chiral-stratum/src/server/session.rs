//! One miner connection: framing, timeouts, jobs, ban points.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use chiral_pool_core::chain::Tip;
use chiral_pool_core::ids::PayoutId;
use chiral_pool_core::pow::Target;
use chiral_pool_core::share::commitment::Commitment;
use chiral_pool_core::share::VerifiedShare;
use chiral_pool_core::sharechain::JobPosition;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch};
use tokio::time::{sleep_until, Instant};
use tokio_util::codec::{Framed, LinesCodecError};
use tracing::{debug, error, warn};

use super::{Durable, RejectReason, Shared};
use crate::codec::line_codec;
use crate::job::JobParams;
use crate::method::dispatch;
use crate::vardiff::Vardiff;
use crate::wire::{ErrorCode, Message};

/// Ban points for a line that is not a Stratum message.
const MALFORMED_POINTS: u32 = 10;
/// Read buffer reserved per connection; grows only for long lines.
const READ_BUFFER: usize = 512;

/// An accepted share whose reply waits for the sink to keep it.
pub(crate) struct AwaitingReply {
    /// The submit's request id.
    pub id: Value,
    /// The worker, for the counters once the share is kept.
    pub user: String,
    /// The share as verified (its weight; what to forget if not kept).
    pub verified: VerifiedShare,
    /// The sink's confirmation.
    pub durable: Durable,
}

/// A job as issued to this connection.
pub(crate) struct IssuedJob {
    pub params: JobParams,
    pub target: Target,
    pub payout: PayoutId,
}

/// Per-connection state.
pub(crate) struct Session {
    pub peer: SocketAddr,
    pub extranonce1: [u8; 4],
    pub subscribed: bool,
    pub users: BTreeMap<String, PayoutId>,
    /// Jobs commit to this payout id (the first authorized one).
    pub payout: Option<PayoutId>,
    pub version_mask: Option<u32>,
    pub extranonce_subscribed: bool,
    pub vardiff: Vardiff,
    pub working: bool,
    /// Accepted shares the sink has not made durable yet; their replies
    /// wait for them.
    pub awaiting: Vec<AwaitingReply>,
    jobs: VecDeque<IssuedJob>,
    next_job: u64,
    sent_difficulty: Option<f64>,
    last_job_time: u32,
    ban_points: u32,
    max_jobs: usize,
}

impl Session {
    pub fn new(shared: &Shared, peer: SocketAddr, extranonce1: [u8; 4]) -> Self {
        Session {
            peer,
            extranonce1,
            subscribed: false,
            users: BTreeMap::new(),
            payout: None,
            version_mask: None,
            extranonce_subscribed: false,
            vardiff: Vardiff::new(
                shared.config.vardiff,
                shared.config.initial_difficulty,
                shared.now_ms(),
            ),
            working: false,
            awaiting: Vec::new(),
            jobs: VecDeque::new(),
            next_job: 0,
            sent_difficulty: None,
            last_job_time: 0,
            ban_points: 0,
            max_jobs: shared.config.max_jobs.max(1),
        }
    }

    pub fn add_ban_points(&mut self, points: u32) {
        self.ban_points = self.ban_points.saturating_add(points);
    }

    pub fn relieve_ban_points(&mut self) {
        self.ban_points = self.ban_points.saturating_sub(1);
    }

    pub fn job(&self, id: &str) -> Option<&IssuedJob> {
        self.jobs.iter().find(|j| j.params.id == id)
    }

    /// After subscribe and authorize: the first difficulty and job.
    pub fn start_work_if_ready(&mut self, shared: &Shared) -> Vec<Message> {
        if self.working || !self.subscribed || self.payout.is_none() {
            return Vec::new();
        }
        self.working = true;
        self.issue_job(shared, true)
    }

    /// A new job at the current vardiff difficulty, preceded by
    /// `mining.set_difficulty` when it changed (a new difficulty applies
    /// from this job on; older jobs keep theirs).
    pub fn issue_job(&mut self, shared: &Shared, clean: bool) -> Vec<Message> {
        let Some(payout) = self.payout.clone() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let difficulty = self.vardiff.difficulty();
        // Vardiff clamps into bounds the server checked when it was built,
        // so this holds; if it ever did not, no job beats a wrong target.
        let Ok(target) = Target::from_difficulty(difficulty) else {
            error!(
                difficulty,
                "vardiff produced a difficulty with no target; no job sent"
            );
            return Vec::new();
        };
        if self.sent_difficulty != Some(difficulty) {
            out.push(Message::notify(
                "mining.set_difficulty",
                json!([difficulty]),
            ));
            self.sent_difficulty = Some(difficulty);
        }
        let en_len = self.extranonce1.len() + shared.config.extranonce2_size;
        let position = shared.positions().borrow().clone();
        let commitment = Commitment {
            pool: shared.config.pool_id,
            payout: payout.clone(),
            chain_bits: position.chain_bits,
            parent: position.parent,
            uncles: position.uncles,
        };
        let plan = match (&position.payouts, shared.config.addresses) {
            (Some(plan), _) => plan,
            (None, None) => &shared.ledger_plan,
            // A pool that pays in the coinbase, on a window this node
            // cannot know (it joined on an assumed base): any payouts it
            // put in a job would be refused by its peers.
            (None, Some(_)) => {
                debug!("the window of the best tip is not known here yet; no job sent");
                return out;
            }
        };
        // The finder's script follows from the plan's own network, so a
        // job cannot pay a finder other than its commitment's.
        let finder = match plan.finder_script(&payout) {
            Ok(script) => script,
            Err(e) => {
                debug!(error = %e, "the payout id is not an address of the pool; no job sent");
                return out;
            }
        };
        let mut template = match shared.work.template(&commitment, plan, &finder, en_len) {
            Ok(template) => template,
            Err(e) => {
                debug!(error = %e, "the work source gave no template; no job sent");
                return out;
            }
        };
        // A link must be later than the median time of its ancestors.
        template.time = template.time.max(position.min_time);
        // Two jobs issued within one second would be identical, and a miner
        // that restarts its search per job would resubmit the same shares:
        // every job gets a later ntime than the one before.
        if template.time <= self.last_job_time {
            template.time = self.last_job_time.saturating_add(1);
        }
        self.last_job_time = template.time;
        if self.version_mask.is_some() {
            // Job versions carry no bits inside the rolling mask.
            template.version &= !(shared.config.version_mask as i32);
        }
        self.next_job += 1;
        let params = JobParams {
            id: format!("{:x}", self.next_job),
            template,
            clean,
        };
        out.push(Message::notify("mining.notify", params.to_params()));
        if clean {
            self.jobs.clear();
        }
        self.jobs.push_back(IssuedJob {
            params,
            target,
            payout,
        });
        while self.jobs.len() > self.max_jobs {
            self.jobs.pop_front();
        }
        out
    }

    pub async fn run(
        &mut self,
        shared: &Shared,
        stream: TcpStream,
        stop: broadcast::Receiver<()>,
    ) -> Result<(), LinesCodecError> {
        let mut framed = Framed::with_capacity(stream, line_codec(), READ_BUFFER);
        let mut tips = shared.work.tip();
        tips.borrow_and_update();
        let mut positions = shared.positions();
        positions.borrow_and_update();
        // The tip and stop waits live across submits: re-creating them for
        // every line would register and drop a waiter on channels that all
        // connections share.
        let mut control = Box::pin(next_control(tips, positions, stop));
        let handshake_deadline = Instant::now() + shared.config.handshake_timeout;
        let mut last_line = Instant::now();
        // One timer for both deadlines, re-armed only when it fires: a line
        // just moves `last_line`, it does not touch the timer wheel.
        let timeout = sleep_until(handshake_deadline.min(last_line + shared.config.idle_timeout));
        tokio::pin!(timeout);
        let retarget =
            std::time::Duration::from_secs_f64(shared.config.vardiff.retarget_secs.max(1.0));
        let mut vardiff_tick = tokio::time::interval_at(Instant::now() + retarget, retarget);
        loop {
            let outgoing: Vec<Message> = tokio::select! {
                line = framed.next() => match line {
                    None => return Ok(()),
                    Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                        debug!("line too long; closing");
                        self.abuse(shared);
                        return Ok(());
                    }
                    Some(Err(e)) => return Err(e),
                    Some(Ok(line)) => {
                        last_line = Instant::now();
                        self.on_line(shared, &line)
                    }
                },
                (event, tips, positions, stop) = &mut control => match event {
                    Control::Tip => {
                        control.set(next_control(tips, positions, stop));
                        if self.working { self.issue_job(shared, true) } else { Vec::new() }
                    }
                    Control::Position => {
                        control.set(next_control(tips, positions, stop));
                        // Work on the old share chain tip still counts as
                        // shares; a link found on it may still be an uncle.
                        if self.working { self.issue_job(shared, false) } else { Vec::new() }
                    }
                    Control::TipsClosed => return Ok(()),
                    Control::Stop => {
                        let bye = Message::notify("client.reconnect", json!([]));
                        let _ = tokio::time::timeout(shared.config.write_timeout, framed.send(bye.to_line())).await;
                        return Ok(());
                    }
                },
                _ = vardiff_tick.tick() => {
                    if self.working && self.vardiff.on_tick(shared.now_ms()).is_some() {
                        self.issue_job(shared, false)
                    } else {
                        Vec::new()
                    }
                }
                () = &mut timeout => {
                    let idle = last_line + shared.config.idle_timeout;
                    let deadline = if self.working { idle } else { handshake_deadline.min(idle) };
                    if deadline <= Instant::now() {
                        debug!(working = self.working, "timed out");
                        return Ok(());
                    }
                    timeout.as_mut().reset(deadline);
                    Vec::new()
                }
            };
            // The sink's write of the accepted share comes before the reply
            // that confirms it. A sink that never finishes cannot hold the
            // connection longer than a blocked write could.
            let mut replies = Vec::with_capacity(self.awaiting.len() + outgoing.len());
            for pending in std::mem::take(&mut self.awaiting) {
                let AwaitingReply {
                    id,
                    user,
                    verified,
                    durable,
                } = pending;
                // Waited for on a task of its own, so a timeout here does
                // not cancel the sink's work: the share is still kept (and
                // published) after the connection gives up on it.
                let mut kept = tokio::spawn(durable.wait());
                match tokio::time::timeout(shared.config.write_timeout, &mut kept).await {
                    Ok(Ok(Ok(()))) => {
                        shared
                            .stats
                            .accept(&user, verified.difficulty, shared.now_ms());
                        replies.push(Message::ok(id, json!(true)));
                    }
                    Ok(Ok(Err(e))) => {
                        warn!(error = %e, %user, "accepted share not kept; miner told");
                        // Not kept, so not a duplicate if the miner sends it again.
                        shared.forget(&verified);
                        shared.stats.reject(RejectReason::NotStored);
                        replies.push(Message::err(id, ErrorCode::Other));
                    }
                    Ok(Err(e)) => {
                        warn!(error = %e, %user, "share sink task failed; closing");
                        shared.forget(&verified);
                        shared.stats.reject(RejectReason::NotStored);
                        return Ok(());
                    }
                    Err(_) => {
                        warn!(%user, "share sink timed out; closing");
                        shared.stats.reject(RejectReason::NotStored);
                        return Ok(());
                    }
                }
            }
            replies.extend(outgoing);
            let outgoing = replies;
            if outgoing.is_empty() {
                continue;
            }
            for msg in outgoing {
                match tokio::time::timeout(shared.config.write_timeout, framed.feed(msg.to_line()))
                    .await
                {
                    Ok(Ok(())) => {}
                    _ => return Ok(()),
                }
            }
            match tokio::time::timeout(
                shared.config.write_timeout,
                SinkExt::<String>::flush(&mut framed),
            )
            .await
            {
                Ok(Ok(())) => {}
                _ => return Ok(()),
            }
            if self.ban_points >= shared.config.ban_threshold {
                self.abuse(shared);
                return Ok(());
            }
        }
    }

    fn abuse(&mut self, shared: &Shared) {
        shared
            .stats
            .disconnected_for_abuse
            .fetch_add(1, Ordering::Relaxed);
        shared.ban(self.peer.ip());
    }

    fn on_line(&mut self, shared: &Shared, line: &str) -> Vec<Message> {
        let line = line.trim();
        if line.is_empty() {
            return Vec::new();
        }
        match Message::parse(line) {
            Ok(Message::Request { id, method, params }) => {
                dispatch(self, shared, id, &method, &params)
            }
            // Notifications and stray responses from a miner need no reply.
            Ok(_) => Vec::new(),
            Err(_) => {
                self.add_ban_points(MALFORMED_POINTS);
                vec![Message::Response {
                    id: Value::Null,
                    result: Value::Null,
                    error: crate::wire::ErrorCode::Other.to_value(),
                }]
            }
        }
    }
}

/// What the work source or the server asked of a connection.
enum Control {
    /// A new tip: send a clean job.
    Tip,
    /// A new share chain tip: send a job on it.
    Position,
    /// The work source is gone.
    TipsClosed,
    /// The server is shutting down.
    Stop,
}

/// Waits for the next tip or the stop signal, handing the receivers back so
/// the next wait can be built from them.
async fn next_control(
    mut tips: watch::Receiver<Tip>,
    mut positions: watch::Receiver<JobPosition>,
    mut stop: broadcast::Receiver<()>,
) -> (
    Control,
    watch::Receiver<Tip>,
    watch::Receiver<JobPosition>,
    broadcast::Receiver<()>,
) {
    let event = tokio::select! {
        changed = tips.changed() => match changed {
            Ok(()) => {
                tips.borrow_and_update();
                // A clean job is built on the newest position too.
                positions.borrow_and_update();
                Control::Tip
            }
            Err(_) => Control::TipsClosed,
        },
        changed = positions.changed(), if positions.has_changed().is_ok() => match changed {
            Ok(()) => {
                positions.borrow_and_update();
                Control::Position
            }
            // The share chain is gone: one last job, then the guard above
            // leaves the closed channel alone.
            Err(_) => Control::Position,
        },
        _ = stop.recv() => Control::Stop,
    };
    (event, tips, positions, stop)
}
