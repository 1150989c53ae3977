//! The share chain's rules, one at a time: each forgery is refused with
//! its own error, and each "not yet" is pending, never invalid.

mod common;

use chiral_pool_core::identity::Keypair;
use chiral_pool_core::ids::LinkId;
use chiral_pool_core::pow::CompactTarget;
use chiral_pool_core::share::commitment::CommitmentError;
use chiral_pool_core::sharechain::testing::BlockRef;
use chiral_pool_core::sharechain::{
    InsertError, Insertion, JobPosition, LinkError, Origin, Pending, WindowEnd,
};
use common::links::{cheap_params, miner, LinkFixture, T0};

fn id(link: &chiral_pool_core::sharechain::Link) -> LinkId {
    LinkId::from_bytes(link.header.hash())
}

fn invalid(result: Result<Insertion, InsertError>) -> LinkError {
    match result {
        Err(InsertError::Invalid(e)) => e,
        other => panic!("expected an invalid link, got {other:?}"),
    }
}

/// A fixture with a chain of `n` links, 10 s apart, alternating miners.
fn chain_of(n: u32) -> (LinkFixture, Vec<LinkId>) {
    let mut f = LinkFixture::new(cheap_params());
    let ids = (0..n)
        .map(|i| {
            f.extend(
                if i % 2 == 0 { "alice" } else { "bob" },
                T0 + 10 * i,
                i.into(),
            )
        })
        .collect();
    (f, ids)
}

#[test]
fn a_chain_grows_and_its_tip_is_the_last_link() {
    let (f, ids) = chain_of(20);
    assert_eq!(f.chain.tip(), ids.last().copied());
    assert_eq!(f.chain.height(), Some(19));
    let window = f.chain.window(ids[19]).expect("window");
    assert_eq!(window.end, WindowEnd::Genesis);
    assert_eq!(window.links, 20);
    assert_eq!(window.weights.len(), 2);
}

#[test]
fn a_withheld_parent_makes_its_child_pending_then_both_valid() {
    let (mut f, _) = chain_of(3);
    let parent = f.link_at(&f.chain.job(), "carol", T0 + 30, 100);
    let parent_position = JobPosition {
        parent: Some(id(&parent)),
        uncles: Vec::new(),
        chain_bits: f.chain.job().chain_bits,
        min_time: 0,
        payouts: None,
    };
    let child = f.link_at(&parent_position, "dave", T0 + 40, 101);
    assert_eq!(
        f.insert(child.clone()).expect("held"),
        Insertion::Pending(Pending::MissingParent(id(&parent)))
    );
    assert_eq!(f.chain.wanted(), vec![id(&parent)]);
    match f.insert(parent.clone()).expect("valid") {
        Insertion::Added(added) => {
            assert_eq!(added.valid, vec![id(&parent), id(&child)]);
            assert_eq!(added.new_tip, Some(id(&child)));
        }
        other => panic!("{other:?}"),
    }
    assert!(f.chain.wanted().is_empty());
    assert_eq!(f.chain.pending_len(), 0);
}

#[test]
fn a_wrong_chain_target_is_refused() {
    let (mut f, _) = chain_of(3);
    let mut position = f.chain.job();
    position.chain_bits = CompactTarget::from_consensus(position.chain_bits.to_consensus() - 1);
    let link = f.link_at(&position, "mallory", T0 + 30, 7);
    assert!(matches!(
        invalid(f.insert(link)),
        LinkError::WrongTarget { .. }
    ));
}

#[test]
fn a_child_of_an_invalid_link_is_invalid() {
    let (mut f, _) = chain_of(3);
    let mut position = f.chain.job();
    position.chain_bits = CompactTarget::from_consensus(position.chain_bits.to_consensus() - 1);
    let bad = f.link_at(&position, "mallory", T0 + 30, 7);
    let child_position = JobPosition {
        parent: Some(id(&bad)),
        ..f.chain.job()
    };
    let child = f.link_at(&child_position, "mallory", T0 + 40, 8);
    assert!(f.insert(bad).is_err());
    assert_eq!(invalid(f.insert(child)), LinkError::InvalidAncestor);
}

#[test]
fn a_time_at_or_below_the_median_is_refused_and_one_ahead_is_pending() {
    let (mut f, _) = chain_of(12);
    let old = f.link_at(&f.chain.job(), "mallory", T0 + 50, 1);
    assert_eq!(invalid(f.insert(old)), LinkError::TimeTooOld);

    let ahead_time = (f.now + 61) as u32;
    let ahead = f.link_at(&f.chain.job(), "carol", ahead_time, 2);
    assert_eq!(
        f.insert(ahead.clone()).expect("held"),
        Insertion::Pending(Pending::AheadOfClock { time: ahead_time })
    );
    assert!(f.chain.tick(f.now).valid.is_empty(), "still ahead");
    let later = f.chain.tick(f.now + 1);
    assert_eq!(later.valid, vec![id(&ahead)]);
}

#[test]
fn an_unknown_block_is_pending_and_a_lower_or_wrong_height_is_refused() {
    let (mut f, _) = chain_of(3);
    let fork = BlockRef {
        prev_hash: [5; 32],
        bits: f.block.bits,
        height: 2,
    };
    f.block = fork;
    let on_fork = f.link_at(&f.chain.job(), "carol", T0 + 30, 1);
    assert_eq!(
        f.insert(on_fork.clone()).expect("held"),
        Insertion::Pending(Pending::UnknownBlock([5; 32]))
    );
    // The block may be a link this node never saw: it is asked for.
    assert!(f.chain.wanted().contains(&LinkId::from_bytes([5; 32])));
    let added = f.chain.add_block([5; 32], 2, f.now);
    assert_eq!(added.valid, vec![id(&on_fork)]);

    // Back below the parent's block height: refused.
    f.block = BlockRef {
        prev_hash: [0; 32],
        bits: f.block.bits,
        height: 1,
    };
    let lower = f.link_at(&f.chain.job(), "mallory", T0 + 40, 2);
    assert_eq!(
        invalid(f.insert(lower)),
        LinkError::BlockHeightDecreased {
            height: 1,
            parent: 2
        }
    );

    // A coinbase height that is not the one after its prevhash.
    f.block = BlockRef {
        prev_hash: [5; 32],
        bits: f.block.bits,
        height: 9,
    };
    let wrong = f.link_at(&f.chain.job(), "mallory", T0 + 40, 3);
    assert_eq!(
        invalid(f.insert(wrong)),
        LinkError::WrongBlockHeight {
            expected: 2,
            claimed: 9
        }
    );
}

/// Two siblings on the tip's parent: the second becomes a possible uncle.
fn with_a_sibling() -> (LinkFixture, LinkId, LinkId) {
    let (mut f, ids) = chain_of(5);
    // The rule gives the sibling the same bits as the tip (same parent).
    let parent_position = JobPosition {
        parent: Some(ids[3]),
        uncles: Vec::new(),
        chain_bits: f.chain.get(&ids[4]).expect("tip").commitment().chain_bits,
        min_time: 0,
        payouts: None,
    };
    let sibling = f.link_at(&parent_position, "carol", T0 + 45, 55);
    let sibling_id = id(&sibling);
    assert!(matches!(f.insert(sibling), Ok(Insertion::Added(_))));
    (f, ids[4], sibling_id)
}

#[test]
fn equal_work_keeps_the_tip_received_first() {
    let (f, tip, sibling) = with_a_sibling();
    assert_ne!(tip, sibling);
    assert_eq!(f.chain.tip(), Some(tip));
}

#[test]
fn a_sibling_becomes_an_uncle_and_is_paid_its_share() {
    let (mut f, tip, sibling) = with_a_sibling();
    assert_eq!(f.chain.job().uncles, vec![sibling]);
    let nephew = f.extend("dave", T0 + 50, 9);
    let window = f.chain.window(nephew).expect("window");
    let carol = window
        .weights
        .iter()
        .find(|(who, _)| who == &miner("carol"))
        .map(|(_, w)| *w)
        .expect("the uncle's miner is in the window");
    let dave = window
        .weights
        .iter()
        .find(|(who, _)| who == &miner("dave"))
        .map(|(_, w)| *w)
        .expect("nephew");
    // 80 % of the uncle's work to carol, the rest to dave with his own.
    let uncle = carol as f64 / 0.8;
    assert!(carol > 0);
    assert!(dave as f64 >= uncle * 0.2, "{carol} {dave}");
    assert_eq!(
        f.chain.get(&nephew).expect("valid").commitment().uncles,
        vec![sibling]
    );
    assert_ne!(f.chain.tip(), Some(tip));
}

#[test]
fn uncle_rules_each_have_their_own_error() {
    let (mut f, tip, sibling) = with_a_sibling();
    let good = f.chain.job();

    // An uncle that is on the link's own chain.
    let mut on_chain = good.clone();
    on_chain.uncles = vec![f.chain.get(&tip).expect("tip").parent().expect("parent")];
    let link = f.link_at(&on_chain, "mallory", T0 + 50, 1);
    assert_eq!(invalid(f.insert(link)), LinkError::UncleOnChain);

    // Cite it once, then again: already cited.
    let nephew = f.extend("dave", T0 + 50, 2);
    let mut again = f.chain.job();
    again.uncles = vec![sibling];
    let link = f.link_at(&again, "mallory", T0 + 60, 3);
    assert_eq!(invalid(f.insert(link)), LinkError::UncleAlreadyCited);

    // Three more links: the sibling's parent is now too deep.
    for i in 0..3 {
        f.extend("dave", T0 + 70 + 10 * i, 10 + u64::from(i));
    }
    let mut deep = f.chain.job();
    deep.uncles = vec![sibling];
    let link = f.link_at(&deep, "mallory", T0 + 100, 4);
    assert_eq!(invalid(f.insert(link)), LinkError::UncleTooDeep);
    let _ = nephew;

    // The same uncle twice: the commitment itself is malformed.
    let mut twice = f.chain.job();
    twice.uncles = vec![sibling, sibling];
    let link = f.link_at(&twice, "mallory", T0 + 100, 5);
    assert!(matches!(
        link.prove(&f.pool, &f.params),
        Err(LinkError::Commitment(CommitmentError::Malformed(_)))
    ));
}

#[test]
fn a_commitment_out_of_place_or_inside_a_payout_script_is_refused() {
    let (f, _) = chain_of(2);
    let link = f.link_at(&f.chain.job(), "alice", T0 + 20, 1);
    // Move the commitment off the last place: append an output after it.
    let mut coinbase = link.coinbase.clone();
    let script_len_at = 4 + 1 + 36;
    let outputs_at = script_len_at + 1 + coinbase[script_len_at] as usize + 4;
    coinbase[outputs_at] += 1;
    let end = coinbase.len() - 4;
    coinbase.splice(end..end, [0, 0, 0, 0, 0, 0, 0, 0, 1, 0x51]);
    let moved = chiral_pool_core::sharechain::Link {
        coinbase,
        ..link.clone()
    };
    assert_eq!(
        moved.prove(&f.pool, &f.params),
        Err(LinkError::Commitment(CommitmentError::NotLastOutput))
    );

    // The tag inside a witness-program-like payout script as the last
    // output is no commitment: OP_RETURN is required.
    let mut coinbase = link.coinbase.clone();
    let tag_at = coinbase
        .windows(6)
        .position(|w| w == b"CHRLv2")
        .expect("tag");
    // OP_RETURN sits two bytes before the tag (push opcode, length).
    let op_return_at = coinbase[..tag_at]
        .iter()
        .rposition(|&b| b == 0x6a)
        .expect("op_return");
    coinbase[op_return_at] = 0x00;
    let disguised = chiral_pool_core::sharechain::Link { coinbase, ..link };
    assert_eq!(
        disguised.prove(&f.pool, &f.params),
        Err(LinkError::Commitment(CommitmentError::Missing))
    );
}

#[test]
fn a_wrong_parent_commitment_never_joins_the_chain() {
    let (mut f, ids) = chain_of(4);
    // Claims a parent that is not a link at all: held, fetched, never valid.
    let mut position = f.chain.job();
    position.parent = Some(LinkId::from_bytes([0xee; 32]));
    let link = f.link_at(&position, "mallory", T0 + 40, 1);
    assert_eq!(
        f.insert(link).expect("held"),
        Insertion::Pending(Pending::MissingParent(LinkId::from_bytes([0xee; 32])))
    );
    assert_eq!(f.chain.tip(), ids.last().copied());

    // Claims the grandparent while committing to the parent's target.
    let mut position = f.chain.job();
    position.parent = Some(ids[1]);
    let link = f.link_at(&position, "mallory", T0 + 40, 2);
    let result = f.insert(link);
    assert!(
        matches!(
            &result,
            Err(InsertError::Invalid(LinkError::WrongTarget { .. }))
        ) || matches!(&result, Ok(Insertion::Added(a)) if a.new_tip.is_none()),
        "{result:?}"
    );
    assert_eq!(f.chain.tip(), ids.last().copied());
}

#[test]
fn another_window_size_is_another_pool_whose_links_are_refused() {
    let owner = Keypair::from_secret_bytes([1; 32]).public();
    let params = cheap_params();
    let mut other = params.clone();
    other.max_window_links = 1_000;
    let (ours, theirs) = (params.pool_id(&owner, "p"), other.pool_id(&owner, "p"));
    assert_ne!(ours, theirs);

    let mut f = LinkFixture::new(params);
    f.pool = theirs;
    let link = f.link_at(&f.chain.job(), "alice", T0, 1);
    assert_eq!(link.prove(&ours, &f.params), Err(LinkError::WrongPool));
    let _ = Origin::LOCAL;
}

#[test]
fn settling_a_block_pays_the_window_of_its_parent_to_the_atom() {
    let (f, ids) = chain_of(10);
    let settlement = f.chain.settle(ids[9], 5_000_000_000).expect("settles");
    assert!(settlement.is_conserved());
    assert_eq!(settlement.unfilled, 0);
    // The window of the parent holds 9 links: 5 alice, 4 bob.
    let alice = settlement.amount_for(&miner("alice"));
    let bob = settlement.amount_for(&miner("bob"));
    assert_eq!(alice + bob, 5_000_000_000);
    assert!(alice > bob);
}
