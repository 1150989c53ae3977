//! An assumed base: a node joining a pool older than anything its peers
//! keep takes the oldest links it can fetch on their own proof, checks
//! everything above them, and settles what every other node settles.

mod common;

use chiral_pool_core::ids::LinkId;
use chiral_pool_core::sharechain::{AssumeError, ChainParams, ProvenLink};
use common::links::{cheap_params, LinkFixture, T0};

const LINKS: usize = 400;
const SEGMENT: usize = 300;

fn params() -> ChainParams {
    let mut p = cheap_params();
    p.max_window_links = 100;
    p
}

/// A pool's chain of `LINKS` links, four miners, 10 s apart.
fn pool_chain() -> LinkFixture {
    let mut f = LinkFixture::new(params());
    for i in 0..LINKS {
        let who = ["ann", "bob", "cy", "dee"][i % 4];
        f.extend(who, T0 + 10 * i as u32, i as u64);
    }
    f
}

/// The last `n` links of `f`'s best chain, oldest first, proven.
fn segment(f: &LinkFixture, n: usize) -> Vec<ProvenLink> {
    let mut ids = f.chain.best_chain(n);
    ids.reverse();
    ids.iter()
        .map(|id| f.chain.get(id).expect("held").clone())
        .collect()
}

/// A fresh node on the same block chain.
fn fresh() -> LinkFixture {
    LinkFixture::new(params())
}

#[test]
fn a_fresh_node_on_an_assumed_base_computes_the_same_windows_above_it() {
    let pool = pool_chain();
    let mut node = fresh();
    let added = node
        .chain
        .assume(segment(&pool, SEGMENT), node.now)
        .expect("taken");
    assert_eq!(added.valid.len(), SEGMENT, "every link joined");
    assert!(added.invalid.is_empty());
    let tip = pool.chain.tip().expect("tip");
    assert_eq!(node.chain.tip(), Some(tip));
    // The last links' windows lie above the base: byte-identical.
    for id in pool
        .chain
        .best_chain(SEGMENT - 100 - params().rules_depth() as usize)
    {
        let ours = node.chain.window(id).expect("window");
        assert_eq!(
            Some(&ours),
            pool.chain.window(id).as_ref(),
            "window of {id}"
        );
        assert_eq!(Some(ours), node.chain.window_from_scratch(id));
    }
    assert_eq!(
        node.chain.next_split(1_000_000),
        pool.chain.next_split(1_000_000)
    );
    // And the chain goes on: a new link on the tip is checked as any.
    node.extend("eve", T0 + 10 * LINKS as u32, 1 << 40);
}

#[test]
fn a_segment_that_is_short_broken_or_connected_is_refused() {
    let pool = pool_chain();
    let mut node = fresh();
    let depth = params().rules_depth() as usize;
    assert_eq!(
        node.chain.assume(segment(&pool, depth), node.now),
        Err(AssumeError::TooShort { len: depth, depth })
    );
    let mut broken = segment(&pool, 100);
    broken.swap(50, 51);
    assert_eq!(
        node.chain.assume(broken, node.now),
        Err(AssumeError::Broken)
    );
    // A chain holding the segment's parent inserts links instead.
    let mut holder = pool_chain();
    let now = holder.now;
    assert_eq!(
        holder.chain.assume(segment(&pool, 100), now),
        Err(AssumeError::Connected)
    );
    assert!(node.chain.is_empty(), "nothing taken from refused segments");
}

#[test]
fn a_node_far_behind_catches_up_and_cheap_history_replaces_nothing() {
    let pool = pool_chain();
    // Behind: it holds the pool's first 50 links only, pruned long ago
    // everywhere else.
    let mut behind = fresh();
    let mut early = pool.chain.best_chain(LINKS);
    early.reverse();
    for id in &early[..50] {
        let link = pool.chain.get(id).expect("held").link().clone();
        behind.insert(link).expect("valid");
    }
    let now = behind.now;
    behind
        .chain
        .assume(segment(&pool, SEGMENT), now)
        .expect("more work than 300 of its links");
    assert_eq!(behind.chain.tip(), pool.chain.tip());
    assert!(!behind.chain.contains(&early[0]), "the old links went");

    // A node on the pool's chain is offered a history of as many links
    // mined at the floor on an invented ancestor: less work, refused.
    let mut cheap = fresh();
    for i in 0..SEGMENT {
        cheap.extend("mallory", T0 + 1 + 10 * i as u32, 1 << 50 | i as u64);
    }
    let invented = segment(&cheap, SEGMENT - 1);
    let mut honest = pool_chain();
    let now = honest.now;
    let before: Option<LinkId> = honest.chain.tip();
    assert_eq!(
        honest.chain.assume(invented, now),
        Err(AssumeError::LessWork)
    );
    assert_eq!(honest.chain.tip(), before);
}
