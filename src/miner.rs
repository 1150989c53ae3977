//! A CPU miner on the Stratum client: the example miner and the demo's
//! miners. Hashing runs on blocking threads in small nonce chunks so a
//! new job or a stop request is seen quickly.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chiral_pool_core::pow::Target;
use chiral_stratum::client::{ClientConfig, ClientError, ClientEvent, StratumClient, Submission};
use chiral_stratum::job::JobParams;
use chiral_stratum::wire::ErrorCode;
use tracing::{debug, error, info, warn};

/// Nonces hashed between checks for new work.
const CHUNK: u32 = 1 << 16;

/// Counters of one miner.
#[derive(Debug, Default)]
pub struct MinerStats {
    /// Hashes computed.
    pub hashes: AtomicU64,
    /// Shares accepted by the pool.
    pub accepted: AtomicU64,
    /// Shares rejected by the pool.
    pub rejected: AtomicU64,
    /// Jobs refused because they would not credit this miner.
    pub refused_jobs: AtomicU64,
    /// The pool refused the username at `mining.authorize` (the miner
    /// stopped: retrying would not change the answer).
    pub unauthorized: AtomicBool,
}

/// Mines on `config.addr` until `stop` is set; reconnects with backoff when
/// the connection drops or the server asks. Stops at once, setting
/// [`MinerStats::unauthorized`], if the pool refuses the username.
pub async fn run_cpu_miner(config: ClientConfig, stats: Arc<MinerStats>, stop: Arc<AtomicBool>) {
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::Relaxed) {
        let (client, mut events) = match StratumClient::connect(config.clone()).await {
            Ok(c) => {
                backoff = Duration::from_millis(100);
                c
            }
            Err(ClientError::Server(e)) if e.kind() == Some(ErrorCode::Unauthorized) => {
                error!(user = %config.username, "the pool refused the username: {}", e.message);
                stats.unauthorized.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                // Back off (100 ms doubling to 10 s), watching the stop flag.
                warn!(error = %e, "miner cannot connect; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        info!(user = %config.username, "miner connected");
        let mut difficulty = 1.0;
        let mut job: Option<JobParams> = None;
        let mut en2: u64 = 0;
        let mut nonce_base: u32 = 0;
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            // Drain pushed events without blocking.
            let mut reconnect = false;
            loop {
                match events.try_recv() {
                    Ok(ClientEvent::Job(j)) => {
                        job = checked(&client, j, &stats);
                        en2 = 0;
                        nonce_base = 0;
                    }
                    Ok(ClientEvent::Difficulty(d)) => difficulty = d,
                    Ok(ClientEvent::Reconnect) | Ok(ClientEvent::Disconnected) => reconnect = true,
                    Ok(ClientEvent::Extranonce { .. }) => reconnect = true,
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(_) => {
                        reconnect = true;
                        break;
                    }
                }
            }
            if reconnect {
                break;
            }
            let Some(current) = job.clone() else {
                match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
                    Ok(Some(ClientEvent::Job(j))) => job = checked(&client, j, &stats),
                    Ok(Some(ClientEvent::Difficulty(d))) => difficulty = d,
                    Ok(Some(_)) | Ok(None) | Err(_) => break,
                }
                continue;
            };
            let session = client.session().clone();
            // The client passes on only finite, positive difficulties; if
            // one ever had no target, mining on a made-up one would waste
            // the work, so reconnect instead.
            let Ok(target) = Target::from_difficulty(difficulty) else {
                warn!(
                    difficulty,
                    "pool sent a difficulty with no target; reconnecting"
                );
                break;
            };
            let en2_bytes = extranonce2(en2, session.extranonce2_size);
            let start = nonce_base;
            let coinbase = current.coinbase(&session.extranonce1, &en2_bytes);
            let header = current.header(
                &coinbase,
                current.template.time,
                0,
                current.template.version as u32,
            );
            let found = tokio::task::spawn_blocking(move || {
                header.find_nonce(&target, start..start.saturating_add(CHUNK))
            })
            .await
            .ok()
            .flatten();
            stats.hashes.fetch_add(CHUNK as u64, Ordering::Relaxed);
            match nonce_base.checked_add(CHUNK) {
                Some(n) => nonce_base = n,
                None => {
                    nonce_base = 0;
                    en2 = en2.wrapping_add(1);
                }
            }
            if let Some(nonce) = found {
                let submission = Submission {
                    job_id: current.id.clone(),
                    extranonce2: en2_bytes,
                    ntime: current.template.time,
                    nonce,
                    version_bits: None,
                };
                match client.submit(&submission).await {
                    Ok(()) => {
                        stats.accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        debug!(error = %e, "share rejected");
                        stats.rejected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

/// The job if it credits this miner ([`StratumClient::check_job`]);
/// otherwise no work is done on it, and the miner says why.
fn checked(client: &StratumClient, job: JobParams, stats: &MinerStats) -> Option<JobParams> {
    match client.check_job(&job) {
        Ok(()) => Some(job),
        Err(e) => {
            stats.refused_jobs.fetch_add(1, Ordering::Relaxed);
            warn!(job = %job.id, error = %e, "job refused: no work is done on it");
            None
        }
    }
}

/// Extranonce2 number `counter` in the `size` bytes the pool asked for:
/// big-endian, the counter's low bytes when `size` is under 8, zero-padded
/// in front when it is over.
pub fn extranonce2(counter: u64, size: usize) -> Vec<u8> {
    let be = counter.to_be_bytes();
    let mut out = vec![0u8; size.saturating_sub(be.len())];
    out.extend_from_slice(&be[be.len().saturating_sub(size)..]);
    out
}

#[cfg(test)]
mod tests {
    use super::extranonce2;

    #[test]
    fn extranonce2_has_the_size_the_pool_asked_for() {
        assert_eq!(extranonce2(0x0102_0304_0506_0708, 2), vec![7, 8]);
        assert_eq!(extranonce2(0x0102_0304_0506_0708, 4), vec![5, 6, 7, 8]);
        assert_eq!(
            extranonce2(0x0102_0304_0506_0708, 8),
            vec![1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(extranonce2(1, 10), vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        for size in 1..=16 {
            assert_eq!(extranonce2(u64::MAX, size).len(), size);
        }
    }
}
