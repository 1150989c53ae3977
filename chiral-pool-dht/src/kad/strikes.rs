//! Strikes against peers that send forged records, and the bans they earn.
//!
//! A strike is one forged record (see [`Fault::Forged`](super::record::Fault)).
//! Strikes decay: one is forgiven per `decay` period, so an honest peer
//! that once relayed something odd is not banned for it a day later. A
//! peer reaching the limit is banned for `ban`; when the ban lifts it
//! starts again with no strikes. Time is an argument, so tests drive it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// What a strike did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Strike {
    /// Counted; the peer now has this many strikes.
    Counted(u32),
    /// The strike reached the limit: the peer is banned from now on.
    Banned,
    /// The peer was banned already; nothing changed.
    AlreadyBanned,
}

/// A peer's unforgiven strikes.
#[derive(Debug, Clone, Copy)]
struct Strikes {
    count: u32,
    /// When the decay of `count` started: the last strike, or the last
    /// forgiveness.
    since: Instant,
}

/// Strikes and bans of every peer that sent forged records.
#[derive(Debug)]
pub(super) struct StrikeBook {
    limit: u32,
    decay: Duration,
    ban: Duration,
    strikes: HashMap<PeerId, Strikes>,
    /// Banned peers and when their ban lifts (`None`: a ban too long for
    /// an `Instant` never lifts).
    banned: HashMap<PeerId, Option<Instant>>,
}

impl StrikeBook {
    /// A book banning at `limit` strikes for `ban`, forgiving one strike
    /// per `decay` (zero: every strike is forgiven at once, so only a limit
    /// of 1 bans).
    pub(super) fn new(limit: u32, decay: Duration, ban: Duration) -> Self {
        StrikeBook {
            limit,
            decay,
            ban,
            strikes: HashMap::new(),
            banned: HashMap::new(),
        }
    }

    /// Whether `peer` is banned at `now`.
    pub(super) fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.banned
            .get(peer)
            .is_some_and(|until| until.is_none_or(|t| t > now))
    }

    /// Unforgiven strikes of `peer` at `now`.
    #[cfg(test)]
    pub(super) fn strikes(&self, peer: &PeerId, now: Instant) -> u32 {
        self.strikes
            .get(peer)
            .map_or(0, |s| self.decayed(*s, now).count)
    }

    /// Counts one forged record from `peer` at `now`.
    pub(super) fn strike(&mut self, peer: PeerId, now: Instant) -> Strike {
        if self.is_banned(&peer, now) {
            return Strike::AlreadyBanned;
        }
        let current = self.strikes.get(&peer).map_or(
            Strikes {
                count: 0,
                since: now,
            },
            |s| self.decayed(*s, now),
        );
        let count = current.count.saturating_add(1);
        if count >= self.limit {
            self.strikes.remove(&peer);
            self.banned.insert(peer, now.checked_add(self.ban));
            return Strike::Banned;
        }
        // A new strike restarts the decay: forgiveness needs a quiet period.
        self.strikes.insert(peer, Strikes { count, since: now });
        Strike::Counted(count)
    }

    /// Forgets lifted bans and fully forgiven strikes, so the book stays
    /// bounded by the peers that misbehaved recently.
    pub(super) fn prune(&mut self, now: Instant) {
        self.banned.retain(|_, until| until.is_none_or(|t| t > now));
        let decay = self.decay;
        self.strikes
            .retain(|_, s| forgiven(s.since, now, decay) < u128::from(s.count));
    }

    fn decayed(&self, s: Strikes, now: Instant) -> Strikes {
        match u32::try_from(forgiven(s.since, now, self.decay)) {
            Ok(n) if n < s.count => Strikes {
                count: s.count - n,
                // `n` whole periods fit in the time elapsed since `since`.
                since: s.since + self.decay * n,
            },
            _ => Strikes {
                count: 0,
                since: now,
            },
        }
    }
}

/// Whole decay periods between `since` and `now` (all of them when
/// `decay` is zero).
fn forgiven(since: Instant, now: Instant, decay: Duration) -> u128 {
    let elapsed = now.saturating_duration_since(since).as_nanos();
    elapsed.checked_div(decay.as_nanos()).unwrap_or(u128::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECAY: Duration = Duration::from_secs(600);
    const BAN: Duration = Duration::from_secs(3600);

    fn book() -> StrikeBook {
        StrikeBook::new(3, DECAY, BAN)
    }

    #[test]
    fn the_limit_bans_and_the_ban_lifts() {
        let (mut b, peer, t0) = (book(), PeerId::random(), Instant::now());
        assert_eq!(b.strike(peer, t0), Strike::Counted(1));
        assert_eq!(b.strike(peer, t0), Strike::Counted(2));
        assert_eq!(b.strike(peer, t0), Strike::Banned);
        assert!(b.is_banned(&peer, t0));
        assert_eq!(b.strike(peer, t0), Strike::AlreadyBanned);
        assert!(b.is_banned(&peer, t0 + BAN - Duration::from_secs(1)));
        assert!(!b.is_banned(&peer, t0 + BAN));
        // After the ban the peer starts clean.
        assert_eq!(b.strikes(&peer, t0 + BAN), 0);
        assert_eq!(b.strike(peer, t0 + BAN), Strike::Counted(1));
    }

    #[test]
    fn one_strike_is_forgiven_per_decay_period() {
        let (mut b, peer, t0) = (book(), PeerId::random(), Instant::now());
        b.strike(peer, t0);
        b.strike(peer, t0);
        assert_eq!(b.strikes(&peer, t0 + DECAY - Duration::from_secs(1)), 2);
        assert_eq!(b.strikes(&peer, t0 + DECAY), 1);
        assert_eq!(b.strikes(&peer, t0 + DECAY * 2), 0);
        // Two strikes a period apart never reach a limit of three.
        let mut t = t0 + DECAY * 2;
        for _ in 0..10 {
            assert!(matches!(b.strike(peer, t), Strike::Counted(n) if n < 3));
            t += DECAY;
        }
        assert!(!b.is_banned(&peer, t));
    }

    #[test]
    fn forgiveness_is_kept_across_strikes() {
        let (mut b, peer, t0) = (book(), PeerId::random(), Instant::now());
        b.strike(peer, t0);
        b.strike(peer, t0);
        // One forgiven after a period, then a new strike: back to two.
        assert_eq!(b.strike(peer, t0 + DECAY), Strike::Counted(2));
        assert_eq!(b.strike(peer, t0 + DECAY), Strike::Banned);
    }

    #[test]
    fn prune_forgets_lifted_bans_and_forgiven_strikes() {
        let (mut b, t0) = (book(), Instant::now());
        let (banned, struck) = (PeerId::random(), PeerId::random());
        for _ in 0..3 {
            b.strike(banned, t0);
        }
        b.strike(struck, t0);
        b.prune(t0 + DECAY - Duration::from_secs(1));
        assert_eq!((b.banned.len(), b.strikes.len()), (1, 1));
        b.prune(t0 + BAN);
        assert_eq!((b.banned.len(), b.strikes.len()), (0, 0));
    }
}
