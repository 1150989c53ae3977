//! An assumed base: a node joining a pool older than anything its peers
//! keep takes the oldest links it can fetch on their own proof, checks
//! everything above them, and settles what every other node settles.

mod common;

use std::collections::HashSet;
use std::sync::OnceLock;

use chiral_pool_core::ids::LinkId;
use chiral_pool_core::pow::{Difficulty, Target};
use chiral_pool_core::sharechain::{AssumeError, ChainParams, ProvenLink, ASSUME_STALE_SECS};
use common::links::{cheap_params, LinkFixture, T0};

const LINKS: usize = 400;
const SEGMENT: usize = 300;

fn params() -> ChainParams {
    let mut p = cheap_params();
    p.max_window_links = 100;
    p
}

/// A pool's chain of `LINKS` links, four miners with the hashrate of a
/// link at the floor every 4 s: faster than the 10 s spacing, so the
/// target settles above the floor and each link's work, uncles included,
/// decides the next target. Every seventh link has a sibling that the
/// next link cites as an uncle.
fn pool_chain() -> &'static LinkFixture {
    static POOL: OnceLock<LinkFixture> = OnceLock::new();
    POOL.get_or_init(build_pool_chain)
}

fn build_pool_chain() -> LinkFixture {
    let mut f = LinkFixture::new(params());
    let floor = params().min_difficulty.raw();
    let mut time = T0;
    for i in 0..LINKS {
        let who = ["ann", "bob", "cy", "dee"][i % 4];
        let job = f.chain.job();
        let target = Target::from_compact(job.chain_bits).expect("a target");
        let difficulty = Difficulty::from_target(&target).raw();
        time += u32::try_from((4 * difficulty / floor).max(1)).expect("small");
        f.extend(who, time, i as u64);
        if i % 7 == 3 {
            // Received second, on equal work: an uncle for the next link.
            let sibling = f.link_at(&job, "eve", time, 1 << 45 | i as u64);
            f.insert(sibling).expect("a valid sibling");
        }
    }
    f
}

/// The last `n` links of `f`'s best chain, oldest first, and the uncles
/// they cite that are not among them.
fn segment(f: &LinkFixture, n: usize) -> (Vec<ProvenLink>, Vec<ProvenLink>) {
    let mut ids = f.chain.best_chain(n);
    ids.reverse();
    let links: Vec<ProvenLink> = ids
        .iter()
        .map(|id| f.chain.get(id).expect("held").clone())
        .collect();
    let on_chain: HashSet<LinkId> = ids.iter().copied().collect();
    let uncles = links
        .iter()
        .flat_map(|l| l.commitment().uncles.clone())
        .filter(|u| !on_chain.contains(u))
        .filter_map(|u| f.chain.get(&u).cloned())
        .collect();
    (links, uncles)
}

fn fresh() -> LinkFixture {
    LinkFixture::new(params())
}

#[test]
fn a_fresh_node_on_an_assumed_base_computes_the_same_targets_and_windows() {
    let pool = pool_chain();
    let (links, uncles) = segment(pool, SEGMENT);
    assert!(!uncles.is_empty(), "the segment cites uncles");
    let depth = params().rules_depth() as usize;
    assert!(
        links[..depth]
            .iter()
            .any(|l| !l.commitment().uncles.is_empty()),
        "the base itself cites uncles"
    );
    let mut node = fresh();
    let now = node.now;
    let added = node.chain.assume(links, uncles, now).expect("taken");
    assert!(added.invalid.is_empty(), "{:?}", added.invalid);
    let tip = pool.chain.tip().expect("tip");
    assert_eq!(node.chain.tip(), Some(tip));
    // Windows above the base (and a window's depth) are the pool's, byte
    // for byte; those reaching into the base are not known here.
    for id in pool.chain.best_chain(SEGMENT - depth - 100) {
        let ours = node.chain.window(id).expect("window");
        assert_eq!(
            Some(&ours),
            pool.chain.window(id).as_ref(),
            "window of {id}"
        );
        assert_eq!(Some(ours), node.chain.window_from_scratch(id));
    }
    let (base_top, _) = segment(pool, SEGMENT);
    let in_base = base_top[depth - 1].id();
    assert!(node.chain.settle(base_top[depth].id(), 1_000).is_none());
    assert!(node.chain.window(in_base).is_some_and(|w| w.links == 0));
    assert_eq!(
        node.chain.next_split(1_000_000),
        pool.chain.next_split(1_000_000)
    );
    // And the chain goes on: a new link on the tip is checked as any.
    let last = pool.chain.get(&tip).expect("tip").header().time();
    node.extend("fay", last + 10, 1 << 40);
}

#[test]
fn without_the_uncles_it_cites_a_base_weighs_wrong_and_the_links_above_fail() {
    let pool = pool_chain();
    let (links, _) = segment(pool, SEGMENT);
    let mut node = fresh();
    let now = node.now;
    let added = node.chain.assume(links, Vec::new(), now).expect("taken");
    assert!(
        !added.invalid.is_empty() || node.chain.tip() != pool.chain.tip(),
        "the uncles' work is part of the retarget"
    );
}

#[test]
fn a_segment_that_is_short_broken_or_connected_is_refused() {
    let pool = pool_chain();
    let mut node = fresh();
    let depth = params().rules_depth() as usize;
    let now = node.now;
    let (short, _) = segment(pool, depth);
    assert_eq!(
        node.chain.assume(short, Vec::new(), now),
        Err(AssumeError::TooShort { len: depth, depth })
    );
    let (mut broken, _) = segment(pool, 100);
    broken.swap(50, 51);
    assert_eq!(
        node.chain.assume(broken, Vec::new(), now),
        Err(AssumeError::Broken)
    );
    // A chain holding the segment's parent inserts links instead.
    let mut holder = build_pool_chain();
    let now = holder.now;
    let (joined, _) = segment(pool, 100);
    assert_eq!(
        holder.chain.assume(joined, Vec::new(), now),
        Err(AssumeError::Connected)
    );
    assert!(node.chain.is_empty(), "nothing taken from refused segments");
}

/// A node that holds the pool's first `n` links only.
fn behind(pool: &LinkFixture, n: usize) -> (LinkFixture, Vec<LinkId>) {
    let mut node = fresh();
    let mut early = pool.chain.best_chain(LINKS);
    early.reverse();
    for id in &early[..n] {
        let link = pool.chain.get(id).expect("held");
        for uncle in &link.commitment().uncles {
            let uncle = pool.chain.get(uncle).expect("held").link().clone();
            node.insert(uncle).expect("valid");
        }
        node.insert(link.link().clone()).expect("valid");
    }
    (node, early)
}

#[test]
fn a_node_far_behind_catches_up_but_a_live_or_heavier_chain_never_gives_way() {
    let pool = pool_chain();
    let (mut far, early) = behind(pool, 50);
    let now = far.now;
    let (links, uncles) = segment(pool, SEGMENT);
    far.chain
        .assume(links, uncles, now)
        .expect("behind: catches up");
    assert_eq!(far.chain.tip(), pool.chain.tip());
    assert!(!far.chain.contains(&early[0]), "the old links went");

    // The same node, but its tip is recent: live, it keeps its chain.
    let (mut live, _) = behind(pool, 50);
    let live_tip = live.chain.tip().expect("a tip");
    let tip_time = u64::from(live.chain.get(&live_tip).expect("held").header().time());
    let (links, uncles) = segment(pool, SEGMENT);
    assert_eq!(
        live.chain
            .assume(links, uncles, tip_time + ASSUME_STALE_SECS - 1),
        Err(AssumeError::Live)
    );

    // A young honest chain, stale, offered many links of invented history
    // at the floor: its newest 50 against the segment's newest 50.
    let mut cheap = fresh();
    for i in 0..SEGMENT {
        cheap.extend("mallory", T0 + 1 + 10 * i as u32, 1 << 50 | i as u64);
    }
    let (invented, _) = segment(&cheap, SEGMENT - 1);
    let (mut young, _) = behind(pool, 50);
    let now = young.now;
    let before = young.chain.tip();
    assert_eq!(
        young.chain.assume(invented, Vec::new(), now),
        Err(AssumeError::LessWork)
    );
    assert_eq!(young.chain.tip(), before);
}
