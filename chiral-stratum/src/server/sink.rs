//! Where accepted shares go ([`ShareSink`], [`Durable`]) and who may mine
//! ([`Authorizer`]).

use std::future::Future;
use std::pin::Pin;

use chiral_pool_core::ids::PayoutId;
use chiral_pool_core::share::{Share, VerifiedShare};

/// Decides whether a username may mine.
pub trait Authorizer: Send + Sync + 'static {
    /// Whether `payout` / `worker` with `password` may submit.
    fn authorize(&self, payout: &PayoutId, worker: &str, password: &str) -> bool;
}

/// Accepts every well-formed payout id (the default: payouts go to the
/// id in the username, so there is nothing to steal).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _: &PayoutId, _: &str, _: &str) -> bool {
        true
    }
}

/// Receives every accepted share (for accounting and publication). Called
/// on the connection's task: keep it quick and non-blocking; slow work
/// (a disk write, waiting for room in a queue) goes into the returned
/// [`Durable`].
///
/// ```
/// use chiral_pool_core::share::{Share, VerifiedShare};
/// use chiral_stratum::server::{Durable, ShareSink, SinkError};
/// use tokio::sync::{mpsc, oneshot};
///
/// /// Hands shares to a writer task and confirms each once it is written.
/// struct Persist(mpsc::Sender<(Share, oneshot::Sender<Result<(), SinkError>>)>);
///
/// impl ShareSink for Persist {
///     fn accepted(&self, share: &Share, _: &VerifiedShare) -> Durable {
///         let (queue, share) = (self.0.clone(), share.clone());
///         Durable::after(async move {
///             let (done, written) = oneshot::channel();
///             queue
///                 .send((share, done))
///                 .await
///                 .map_err(|_| SinkError::new("writer stopped"))?;
///             written.await.map_err(|_| SinkError::new("writer stopped"))?
///         })
///     }
/// }
/// ```
pub trait ShareSink: Send + Sync + 'static {
    /// A share passed validation. The miner is told "accepted" once the
    /// returned [`Durable`] completes with `Ok`; an `Err` makes the reply
    /// an error, so a miner never hears "accepted" for a share the sink
    /// could not keep.
    fn accepted(&self, share: &Share, verified: &VerifiedShare) -> Durable;
}

/// Why a sink could not keep an accepted share.
#[derive(Debug, thiserror::Error)]
#[error("share not stored: {source}")]
pub struct SinkError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl SinkError {
    /// A sink error from any error (or a message).
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        SinkError {
            source: source.into(),
        }
    }
}

type Confirmation = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send>>;

/// When an accepted share may be confirmed to its miner: at once, or after
/// the sink's future completes (a journal's group commit, room in a
/// publication queue). The connection waits for it before it sends the
/// reply, so a sink that persists shares can promise that every confirmed
/// share survives a crash, and one that fails makes the reply an error.
#[must_use]
pub struct Durable(Option<Confirmation>);

impl Durable {
    /// Confirm at once.
    pub fn now() -> Self {
        Durable(None)
    }

    /// Confirm once `done` completes with `Ok`; refuse the share if it
    /// completes with `Err`.
    pub fn after(done: impl Future<Output = Result<(), SinkError>> + Send + 'static) -> Self {
        Durable(Some(Box::pin(done)))
    }

    /// Whether the share is confirmed already (no wait).
    pub fn is_now(&self) -> bool {
        self.0.is_none()
    }

    /// Waits for the sink.
    pub async fn wait(self) -> Result<(), SinkError> {
        match self.0 {
            Some(done) => done.await,
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Durable::after(..)"
        } else {
            "Durable::now()"
        })
    }
}

/// A sink that drops shares (counters still count them).
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscardShares;

impl ShareSink for DiscardShares {
    fn accepted(&self, _: &Share, _: &VerifiedShare) -> Durable {
        Durable::now()
    }
}
