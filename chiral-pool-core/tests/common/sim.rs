//! A seeded, deterministic simulator of share chain nodes: links found by
//! a Poisson process at the pool's spacing, pushed to every peer with a
//! delay (as gossip would), ancestors fetched from the peer that sent a
//! child, partitions, clock skew and a selfish miner.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use chiral_pool_core::ids::{LinkId, PayoutId};
use chiral_pool_core::payout::Settlement;
use chiral_pool_core::pow::{CompactTarget, Difficulty, Hash256, Target};
use chiral_pool_core::sharechain::testing::{mine_link, BlockRef};
use chiral_pool_core::sharechain::{
    Added, ChainParams, Insertion, Link, Origin, Pending, PendingLimits, ShareChain,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::links::{miner, T0};

/// The reward the simulator settles blocks with.
pub const SETTLED_REWARD: u64 = 312_500_000;

/// How a run goes.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub params: ChainParams,
    /// Relative hashrate of each node.
    pub hashrate: Vec<u32>,
    /// Seconds of mining.
    pub duration_secs: u64,
    /// Per-hop delay range, milliseconds.
    pub delay_ms: (u64, u64),
    /// Probability that a delivery happens twice.
    pub duplicate: f64,
    /// Each node's clock offset, seconds.
    pub clock_offset: Vec<i64>,
    /// Extra delay with which each node learns a new block, milliseconds.
    pub block_delay_ms: Vec<u64>,
    /// Nodes in group A during `partition` (seconds from start); the rest
    /// are group B; messages between groups are lost.
    pub partition: Option<(Vec<usize>, u64, u64)>,
    /// A node that withholds its links (selfish mining).
    pub selfish: Option<usize>,
    /// The node whose first block link is its last act: it pushes the link
    /// to its peers and stops at once, without submitting the block.
    pub finder_crashes: Option<usize>,
    /// Network difficulty in floor links: about one link in this many is
    /// a block.
    pub links_per_block: u128,
}

impl SimConfig {
    pub fn new(seed: u64, params: ChainParams, nodes: usize) -> Self {
        SimConfig {
            seed,
            params,
            hashrate: vec![1; nodes],
            duration_secs: 600,
            delay_ms: (20, 200),
            duplicate: 0.0,
            clock_offset: vec![0; nodes],
            block_delay_ms: vec![0; nodes],
            partition: None,
            selfish: None,
            finder_crashes: None,
            links_per_block: 20,
        }
    }
}

enum Kind {
    Mine,
    Deliver {
        to: usize,
        from: usize,
        link: Link,
    },
    Block {
        to: usize,
        hash: Hash256,
        height: u32,
    },
}

/// One simulated node.
pub struct SimNode {
    pub chain: ShareChain,
    pub payout: PayoutId,
    block: BlockRef,
    /// Own links not yet published (selfish node only).
    withheld: Vec<Link>,
    /// Highest share chain height seen from others (selfish node only).
    public_height: u64,
    /// Private links ahead of the public chain (selfish node only).
    lead: u64,
    /// Racing the public chain at equal height (selfish node only).
    race: bool,
}

/// The simulator.
pub struct Sim {
    pub config: SimConfig,
    pub nodes: Vec<SimNode>,
    rng: StdRng,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: HashMap<usize, Kind>,
    seq: u64,
    now_ms: u64,
    /// The block chain every node mines: its tip and height.
    block_tip: (Hash256, u32),
    /// Blocks that extended the block chain, in order.
    pub blocks: Vec<LinkId>,
    /// Links found, by node.
    pub found: Vec<u64>,
    /// Each node's settlement of each block, the first time it could
    /// settle it.
    pub first_settled: Vec<HashMap<LinkId, Settlement>>,
    /// The block link the crashing finder pushed before it stopped.
    pub crashed_with: Option<LinkId>,
}

impl Sim {
    pub fn new(config: SimConfig) -> Self {
        let pool = chiral_pool_core::ids::PoolId::from_bytes([9; 32]);
        let network =
            Difficulty::from_raw(config.params.min_difficulty.raw() * config.links_per_block);
        let bits: CompactTarget = Target::from_fixed_difficulty(network).to_compact_lossy();
        let genesis = BlockRef {
            prev_hash: [0; 32],
            bits,
            height: 1,
        };
        let nodes = (0..config.hashrate.len())
            .map(|i| {
                let mut chain =
                    ShareChain::new(pool, config.params.clone(), PendingLimits::default())
                        .expect("valid chain params");
                chain.add_block(genesis.prev_hash, genesis.height, u64::from(T0));
                SimNode {
                    chain,
                    payout: miner(&format!("node{i}")),
                    block: genesis,
                    withheld: Vec::new(),
                    public_height: 0,
                    lead: 0,
                    race: false,
                }
            })
            .collect();
        let mut sim = Sim {
            rng: StdRng::seed_from_u64(config.seed),
            found: vec![0; config.hashrate.len()],
            config,
            nodes,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            seq: 0,
            now_ms: 0,
            block_tip: ([0; 32], 1),
            blocks: Vec::new(),
            first_settled: Vec::new(),
            crashed_with: None,
        };
        sim.first_settled = vec![HashMap::new(); sim.nodes.len()];
        let first = sim.next_link_delay();
        sim.schedule(first, Kind::Mine);
        sim
    }

    fn schedule(&mut self, after_ms: u64, kind: Kind) {
        self.seq += 1;
        let id = self.seq as usize;
        self.events.insert(id, kind);
        self.queue
            .push(Reverse((self.now_ms + after_ms, self.seq, id)));
    }

    fn next_link_delay(&mut self) -> u64 {
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        let mean_ms = 1000.0 * f64::from(self.config.params.target_spacing_secs);
        (-u.ln() * mean_ms) as u64
    }

    fn clock(&self, node: usize) -> u64 {
        let secs = u64::from(T0) + self.now_ms / 1000;
        secs.saturating_add_signed(self.config.clock_offset[node])
    }

    fn cut_off(&self, a: usize, b: usize) -> bool {
        let Some((group, from, to)) = &self.config.partition else {
            return false;
        };
        let secs = self.now_ms / 1000;
        secs >= *from && secs < *to && group.contains(&a) != group.contains(&b)
    }

    /// Runs until the mining time is over and every message is delivered,
    /// then, while tips differ (two links of equal work, each node keeping
    /// the one it received first), lets one more link settle the tie, as
    /// the next link would on a live pool. Returns how many were needed.
    pub fn run(&mut self) -> usize {
        self.drain();
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|n| !self.is_down(*n))
            .collect();
        for extra in 0..10 {
            let tip = self.nodes[live[0]].chain.tip();
            if live.iter().all(|n| self.nodes[*n].chain.tip() == tip) {
                return extra;
            }
            self.mine_on(live[extra % live.len()]);
            self.drain();
        }
        10
    }

    fn drain(&mut self) {
        let mut healed = false;
        while let Some(Reverse((at, _, id))) = self.queue.pop() {
            self.now_ms = at;
            if let Some((_, _, to)) = &self.config.partition {
                if !healed && self.now_ms / 1000 >= *to {
                    healed = true;
                    self.resync();
                }
            }
            let Some(kind) = self.events.remove(&id) else {
                continue;
            };
            match kind {
                Kind::Mine => self.mine(),
                Kind::Deliver { to, from, link } => self.deliver(to, from, link),
                Kind::Block { to, hash, height } => self.learn_block(to, hash, height),
            }
            for node in 0..self.nodes.len() {
                if self.is_down(node) {
                    continue;
                }
                let now = self.clock(node);
                let added = self.nodes[node].chain.tick(now);
                self.after_added(node, added);
                self.record_settlements(node);
            }
        }
    }

    fn record_settlements(&mut self, node: usize) {
        for block in &self.blocks {
            if self.first_settled[node].contains_key(block) {
                continue;
            }
            if let Some(s) = self.nodes[node].chain.settle(*block, SETTLED_REWARD) {
                self.first_settled[node].insert(*block, s);
            }
        }
    }

    fn mine(&mut self) {
        if self.now_ms / 1000 >= self.config.duration_secs {
            return;
        }
        let next = self.next_link_delay();
        self.schedule(next, Kind::Mine);
        let total: u32 = self.config.hashrate.iter().sum();
        let mut pick = self.rng.gen_range(0..total);
        let node = self
            .config
            .hashrate
            .iter()
            .position(|&h| {
                if pick < h {
                    true
                } else {
                    pick -= h;
                    false
                }
            })
            .expect("a node");
        self.mine_on(node);
    }

    fn mine_on(&mut self, node: usize) {
        self.now_ms += 1;
        self.found[node] += 1;
        let n = &self.nodes[node];
        let time = (self.clock(node) as u32).max(n.chain.job().min_time);
        let link = mine_link(
            *n.chain.pool(),
            &n.chain.job(),
            &n.payout,
            n.block,
            time,
            self.seq,
        );
        let now = self.clock(node);
        let proven = link
            .clone()
            .prove(n.chain.pool(), n.chain.params())
            .expect("own link proves");
        let result = self.nodes[node].chain.insert(proven, Origin::LOCAL, now);
        let added = match result {
            Ok(Insertion::Added(added)) => added,
            other => panic!("node {node} refused its own link: {other:?}"),
        };
        if Some(node) == self.config.selfish {
            self.selfish_found(node, link, added);
        } else if self.config.finder_crashes == Some(node) && !added.blocks.is_empty() {
            // Pushed, never submitted: the finder is gone.
            self.crashed_with = added.blocks.first().copied();
            self.broadcast(node, link);
            self.config.hashrate[node] = 0;
        } else {
            self.after_added(node, added);
        }
    }

    /// Whether `node` is the finder that crashed.
    pub fn is_down(&self, node: usize) -> bool {
        self.crashed_with.is_some() && self.config.finder_crashes == Some(node)
    }

    fn deliver(&mut self, to: usize, from: usize, link: Link) {
        if self.is_down(to) {
            return;
        }
        let now = self.clock(to);
        let node = &mut self.nodes[to];
        let Ok(proven) = link.prove(node.chain.pool(), node.chain.params()) else {
            panic!("a simulated link does not prove");
        };
        match node.chain.insert(proven, Origin(from as u64 + 1), now) {
            Ok(Insertion::Added(added)) => {
                if Some(to) == self.config.selfish {
                    self.selfish_heard(to, &added);
                }
                self.after_added(to, added);
            }
            Ok(Insertion::Pending(Pending::MissingParent(id) | Pending::MissingUncle(id))) => {
                // Ask the peer that sent the child.
                if let Some(wanted) = self.nodes[from].chain.get(&id) {
                    let link = wanted.link().clone();
                    let rtt = 2 * self
                        .rng
                        .gen_range(self.config.delay_ms.0..=self.config.delay_ms.1);
                    self.schedule(rtt, Kind::Deliver { to, from, link });
                }
            }
            Ok(_) => {}
            Err(e) => panic!("node {to} refused an honest link: {e}"),
        }
    }

    fn learn_block(&mut self, to: usize, hash: Hash256, height: u32) {
        if self.is_down(to) {
            return;
        }
        let now = self.clock(to);
        let node = &mut self.nodes[to];
        if height > node.block.height {
            node.block.prev_hash = hash;
            node.block.height = height;
        }
        let added = node.chain.add_block(hash, height, now);
        self.after_added(to, added);
    }

    /// Forwards what joined the chain, and submits blocks.
    fn after_added(&mut self, node: usize, added: Added) {
        for block in &added.blocks {
            self.submit_block(*block, node);
        }
        for id in added.valid {
            if Some(node) == self.config.selfish
                && self.nodes[node]
                    .withheld
                    .iter()
                    .any(|l| l.header.hash() == *id.as_bytes())
            {
                continue;
            }
            let link = self.nodes[node]
                .chain
                .get(&id)
                .expect("valid")
                .link()
                .clone();
            self.broadcast(node, link);
        }
    }

    fn broadcast(&mut self, from: usize, link: Link) {
        for to in 0..self.nodes.len() {
            if to == from || self.cut_off(from, to) {
                continue;
            }
            let copies = if self.rng.gen_bool(self.config.duplicate) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let delay = self
                    .rng
                    .gen_range(self.config.delay_ms.0..=self.config.delay_ms.1);
                self.schedule(
                    delay,
                    Kind::Deliver {
                        to,
                        from,
                        link: link.clone(),
                    },
                );
            }
        }
    }

    /// Every node that holds a block link submits it; the first to extend
    /// the block chain wins, as on a real network.
    fn submit_block(&mut self, block: LinkId, node: usize) {
        let Some(link) = self.nodes[node].chain.get(&block) else {
            return;
        };
        if link.header().prev_hash() != &self.block_tip.0 {
            return;
        }
        self.block_tip = (*block.as_bytes(), self.block_tip.1 + 1);
        self.blocks.push(block);
        let (hash, height) = self.block_tip;
        for to in 0..self.nodes.len() {
            let delay = self.config.block_delay_ms[to];
            self.schedule(delay, Kind::Block { to, hash, height });
        }
    }

    /// After a partition heals, each node offers its recent best chain to
    /// every peer (a fresh node's sync does the same from the store).
    fn resync(&mut self) {
        for from in 0..self.nodes.len() {
            let recent = self.nodes[from].chain.best_chain(200);
            for id in recent.into_iter().rev() {
                let link = self.nodes[from]
                    .chain
                    .get(&id)
                    .expect("held")
                    .link()
                    .clone();
                self.broadcast(from, link);
            }
        }
    }

    /// Selfish mining (Eyal and Sirer's SM1): keep found links private
    /// and publish them to overtake or tie the honest chain.
    fn selfish_found(&mut self, node: usize, link: Link, added: Added) {
        for block in &added.blocks {
            self.submit_block(*block, node);
        }
        let n = &mut self.nodes[node];
        n.withheld.push(link);
        if n.race {
            // Won the race: publish at once.
            n.race = false;
            n.lead = 0;
            self.publish_withheld(node, usize::MAX);
        } else {
            n.lead += 1;
        }
    }

    fn selfish_heard(&mut self, node: usize, added: &Added) {
        let n = &mut self.nodes[node];
        let mut advanced = false;
        for id in &added.valid {
            let own = n.withheld.iter().any(|l| l.header.hash() == *id.as_bytes());
            let height = n.chain.height_of(id).unwrap_or(0);
            if !own && height > n.public_height {
                n.public_height = height;
                advanced = true;
            }
        }
        if !advanced {
            return;
        }
        match n.lead {
            0 => n.race = false,
            1 => {
                n.lead = 0;
                n.race = true;
                self.publish_withheld(node, usize::MAX);
            }
            2 => {
                n.lead = 0;
                self.publish_withheld(node, usize::MAX);
            }
            _ => {
                n.lead -= 1;
                self.publish_withheld(node, 1);
            }
        }
    }

    fn publish_withheld(&mut self, node: usize, count: usize) {
        let take = count.min(self.nodes[node].withheld.len());
        let links: Vec<Link> = self.nodes[node].withheld.drain(..take).collect();
        for link in links {
            self.broadcast(node, link);
        }
    }

    /// The share of found links that are neither on `node`'s best chain
    /// nor cited as uncles by it (orphans: work that earns nothing).
    pub fn orphan_rate(&self, node: usize) -> f64 {
        let chain = &self.nodes[node].chain;
        let best = chain.best_chain(usize::MAX);
        let uncles: usize = best
            .iter()
            .filter_map(|id| chain.get(id))
            .map(|l| l.commitment().uncles.len())
            .sum();
        let found: u64 = self.found.iter().sum();
        1.0 - (best.len() + uncles) as f64 / found as f64
    }

    /// The share of found links not on `node`'s best chain (stale: paid
    /// as uncles at best).
    pub fn stale_rate(&self, node: usize) -> f64 {
        let best = self.nodes[node].chain.best_chain(usize::MAX).len();
        let found: u64 = self.found.iter().sum();
        1.0 - best as f64 / found as f64
    }

    /// Work credited to each payout id along `node`'s best chain.
    pub fn credited_work(&self, node: usize) -> HashMap<PayoutId, u128> {
        let chain = &self.nodes[node].chain;
        let mut out: HashMap<PayoutId, u128> = HashMap::new();
        for id in chain.best_chain(usize::MAX) {
            let link = chain.get(&id).expect("held");
            let d = Difficulty::from_target(&link.chain_target()).raw();
            *out.entry(link.payout().clone()).or_default() += d;
        }
        out
    }
}
