//! Per-connection variable difficulty toward a target share interval.
//!
//! The state machine takes `now` (milliseconds) as an argument so tests
//! control time.

/// Vardiff settings; defaults are close to ckpool's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VardiffConfig {
    /// Wanted seconds between shares. Default: 10.
    pub target_interval_secs: f64,
    /// Seconds between retargets. Default: 30.
    pub retarget_secs: f64,
    /// Lowest difficulty. Default: 1/65536.
    pub min_difficulty: f64,
    /// Highest difficulty. Default: 2^40.
    pub max_difficulty: f64,
}

impl VardiffConfig {
    /// The documented defaults.
    pub const fn new() -> Self {
        VardiffConfig {
            target_interval_secs: 10.0,
            retarget_secs: 30.0,
            min_difficulty: 1.0 / 65536.0,
            max_difficulty: 1_099_511_627_776.0,
        }
    }
}

impl Default for VardiffConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// One connection's vardiff state.
#[derive(Debug, Clone)]
pub struct Vardiff {
    config: VardiffConfig,
    difficulty: f64,
    window_start_ms: u64,
    shares: u32,
}

impl Vardiff {
    /// Starts at `difficulty` (clamped) at time `now_ms`.
    pub fn new(config: VardiffConfig, difficulty: f64, now_ms: u64) -> Self {
        Vardiff {
            difficulty: clamp(difficulty, &config),
            config,
            window_start_ms: now_ms,
            shares: 0,
        }
    }

    /// The difficulty new jobs should carry.
    pub fn difficulty(&self) -> f64 {
        self.difficulty
    }

    /// Sets the difficulty (e.g. `mining.suggest_difficulty`), clamped.
    pub fn set(&mut self, difficulty: f64, now_ms: u64) -> f64 {
        self.difficulty = clamp(difficulty, &self.config);
        self.window_start_ms = now_ms;
        self.shares = 0;
        self.difficulty
    }

    /// Counts a share; returns a new difficulty when a retarget is due and
    /// the change is worth it (more than 10 %).
    pub fn on_share(&mut self, now_ms: u64) -> Option<f64> {
        self.shares += 1;
        self.retarget(now_ms)
    }

    /// Checks for a retarget without a share (a miner that went quiet).
    pub fn on_tick(&mut self, now_ms: u64) -> Option<f64> {
        self.retarget(now_ms)
    }

    fn retarget(&mut self, now_ms: u64) -> Option<f64> {
        let elapsed = now_ms.saturating_sub(self.window_start_ms) as f64 / 1000.0;
        let enough_shares = self.shares >= 30;
        if elapsed < self.config.retarget_secs && !enough_shares {
            return None;
        }
        if elapsed <= 0.0 {
            return None;
        }
        // Shares per second now vs wanted; no shares at all halves.
        let wanted_rate = 1.0 / self.config.target_interval_secs;
        let rate = self.shares as f64 / elapsed;
        let factor = if self.shares == 0 {
            0.5
        } else {
            (rate / wanted_rate).clamp(0.25, 4.0)
        };
        self.window_start_ms = now_ms;
        self.shares = 0;
        let next = clamp(self.difficulty * factor, &self.config);
        if (next / self.difficulty - 1.0).abs() < 0.1 {
            return None;
        }
        self.difficulty = next;
        Some(next)
    }
}

fn clamp(d: f64, c: &VardiffConfig) -> f64 {
    if !d.is_finite() || d <= 0.0 {
        return c.min_difficulty;
    }
    d.clamp(c.min_difficulty, c.max_difficulty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_toward_the_target_interval() {
        let mut v = Vardiff::new(VardiffConfig::new(), 1.0, 0);
        // A miner doing 1 share/s at difficulty 1 (10x too fast).
        let mut now = 0;
        let mut d = v.difficulty();
        for _ in 0..200 {
            // Share rate is inversely proportional to difficulty.
            now += (1000.0 * d) as u64;
            if let Some(next) = v.on_share(now) {
                d = next;
            }
        }
        assert!((8.0..=12.0).contains(&d), "settled at {d}");
    }

    #[test]
    fn a_quiet_miner_gets_easier_work_and_limits_hold() {
        let mut v = Vardiff::new(VardiffConfig::new(), 1.0, 0);
        assert_eq!(v.on_tick(31_000), Some(0.5));
        assert_eq!(v.set(1e30, 0), VardiffConfig::new().max_difficulty);
        assert_eq!(v.set(-1.0, 0), VardiffConfig::new().min_difficulty);
        assert_eq!(v.set(f64::NAN, 0), VardiffConfig::new().min_difficulty);
    }
}
