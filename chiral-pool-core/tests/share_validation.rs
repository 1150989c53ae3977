//! Every rejection path of the share validator, and the happy paths.

mod common;

use chiral_pool_core::pow::{CompactTarget, Difficulty, Target};
use chiral_pool_core::share::commitment::{Commitment, CommitmentError, COMMITMENT_TAG};
use chiral_pool_core::share::{Share, ShareError, ShareValidator, ShareValidatorConfig};
use common::{Fixture, CHAIN_BITS, DIFF1_BITS, HALF_SHARE_BITS};

#[test]
fn a_valid_share_is_accepted_once_with_its_weight() {
    let f = Fixture::new(DIFF1_BITS);
    let mut v = f.validator();
    let share = f.share("alice", 1);
    let ok = v.accept(&share).expect("valid share");
    assert_eq!(ok.payout_id.as_str(), "alice");
    assert_eq!(ok.pool_id, f.pool);
    assert_eq!(ok.difficulty, Difficulty::from_raw(1 << 8));
    assert!(!ok.is_block);
    assert_eq!(v.accept(&share), Err(ShareError::Duplicate));
    // Another share on the same tip is fine.
    assert!(v.accept(&f.share("alice", 2)).is_ok());
}

#[test]
fn a_copy_without_memory_keeps_the_tips_and_forgets_the_shares() {
    let f = Fixture::new(DIFF1_BITS);
    let mut v = f.validator();
    let share = f.share("alice", 1);
    v.accept(&share).expect("valid share");
    let mut copy = v.without_memory();
    // Same tips and settings: the share verifies, and is new to the copy.
    assert_eq!(copy.verify(&share), v.verify(&share));
    assert!(copy.accept(&share).is_ok());
    assert_eq!(v.accept(&share), Err(ShareError::Duplicate));
}

#[test]
fn a_share_meeting_the_network_target_is_a_block() {
    let f = Fixture::new(HALF_SHARE_BITS);
    let v = f.validator();
    let blocks = (0..16)
        .map(|seed| v.verify(&f.share("bob", seed)).expect("valid"))
        .filter(|s| s.is_block)
        .count();
    // The network target is about half the share target: p ~ 1/2 each.
    assert!((1..16).contains(&blocks), "{blocks} blocks in 16 shares");
}

#[test]
fn wrong_pool_is_rejected() {
    let f = Fixture::new(DIFF1_BITS);
    let mut share = f.share("alice", 1);
    share.pool_id = chiral_pool_core::ids::PoolId::from_bytes([9; 32]);
    assert_eq!(f.validator().verify(&share), Err(ShareError::WrongPool));
}

#[test]
fn claiming_another_payout_id_is_rejected() {
    let f = Fixture::new(DIFF1_BITS);
    let mut share = f.share("alice", 1);
    share.payout_id = Fixture::payout("mallory");
    assert_eq!(
        f.validator().verify(&share),
        Err(ShareError::CommitmentMismatch)
    );
}

#[test]
fn a_commitment_to_another_pool_is_rejected() {
    let f = Fixture::new(DIFF1_BITS);
    let other = Fixture::new(DIFF1_BITS);
    let other_pool = chiral_pool_core::ids::PoolId::from_bytes([5; 32]);
    let payout = Fixture::payout("alice");
    let template = chiral_pool_core::share::WorkTemplate::synthetic(
        &Commitment::genesis(other_pool, payout.clone(), CHAIN_BITS),
        other.tip,
        other.bits,
        1,
        1,
        4,
    );
    let share = template
        .mine(f.pool, payout, f.share_target, &[1, 2, 3, 4], 0..u32::MAX)
        .expect("share");
    assert_eq!(
        f.validator().verify(&share),
        Err(ShareError::CommitmentMismatch)
    );
}

#[test]
fn the_commitment_is_read_from_the_last_output_only() {
    let f = Fixture::new(DIFF1_BITS);
    let share = f.share("alice", 1);
    let at = share
        .coinbase
        .windows(COMMITMENT_TAG.len())
        .position(|w| w == COMMITMENT_TAG)
        .expect("tag present");

    let mut missing = share.clone();
    missing.coinbase[at] ^= 0xff;
    assert_eq!(
        f.validator().verify(&missing),
        Err(ShareError::Commitment(CommitmentError::Missing))
    );

    let mut version1 = share.clone();
    version1.coinbase[at + 5] = b'1';
    assert_eq!(
        f.validator().verify(&version1),
        Err(ShareError::Commitment(CommitmentError::UnsupportedVersion(
            1
        )))
    );

    // One more output after the commitment: it is no longer the last.
    let mut not_last = share.clone();
    let count_at = 4 + 1 + 36 + 1 + (not_last.coinbase[41] as usize) + 4;
    not_last.coinbase[count_at] += 1;
    let lock_time_at = not_last.coinbase.len() - 4;
    not_last.coinbase.splice(
        lock_time_at..lock_time_at,
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 0x51],
    );
    assert_eq!(
        f.validator().verify(&not_last),
        Err(ShareError::Commitment(CommitmentError::NotLastOutput))
    );

    let mut truncated = share;
    truncated.coinbase.truncate(at + COMMITMENT_TAG.len() + 10);
    assert!(matches!(
        f.validator().verify(&truncated),
        Err(ShareError::Commitment(CommitmentError::Coinbase(_)))
    ));
}

#[test]
fn a_changed_coinbase_breaks_the_merkle_root() {
    let f = Fixture::new(DIFF1_BITS);
    let mut share = f.share("alice", 1);
    share.coinbase[0] ^= 1; // tx version byte, outside the commitment
    assert_eq!(f.validator().verify(&share), Err(ShareError::BadMerkleRoot));

    let mut share = f.share("alice", 1);
    share.merkle_branch.push([7; 32]);
    assert_eq!(f.validator().verify(&share), Err(ShareError::BadMerkleRoot));
}

#[test]
fn a_hash_above_the_share_target_is_low_difficulty() {
    let f = Fixture::new(DIFF1_BITS);
    let share = f.share("alice", 1);
    // Walk nonces until the header no longer meets the target.
    let forged = (1..)
        .map(|d| {
            let mut s = share.clone();
            s.header = s.header.with_nonce(s.header.nonce().wrapping_add(d));
            s
        })
        .find(|s| !f.share_target.is_met_by(&s.header.hash()))
        .expect("some nonce misses the target");
    assert_eq!(
        f.validator().verify(&forged),
        Err(ShareError::LowDifficulty)
    );

    // Claiming a harder target than the work done is also low difficulty.
    let mut claimed = share;
    claimed.target =
        Target::from_compact(CompactTarget::from_consensus(0x1c00ffff)).expect("valid");
    assert_eq!(
        f.validator().verify(&claimed),
        Err(ShareError::LowDifficulty)
    );
}

#[test]
fn a_target_easier_than_the_pool_minimum_is_rejected() {
    let f = Fixture::new(DIFF1_BITS);
    let mut v = ShareValidator::new(
        f.pool,
        ShareValidatorConfig {
            min_difficulty: Difficulty::ONE,
            ..ShareValidatorConfig::new()
        },
    );
    v.add_tip(f.tip, f.bits).expect("valid");
    assert_eq!(
        v.verify(&f.share("alice", 1)),
        Err(ShareError::BelowPoolMinimum)
    );
}

#[test]
fn unknown_and_old_tips_are_stale() {
    let f = Fixture::new(DIFF1_BITS);
    let mut v = ShareValidator::new(f.pool, f.config());
    let share = f.share("alice", 1);
    assert_eq!(v.verify(&share), Err(ShareError::Stale));
    v.add_tip(f.tip, f.bits).expect("valid");
    assert!(v.accept(&share).is_ok());
    // Three newer tips push the fixture tip out of the window of three.
    for t in 1..=3u8 {
        v.add_tip([t; 32], f.bits).expect("valid");
    }
    assert!(!v.knows_tip(&f.tip));
    assert_eq!(v.accept(&f.share("alice", 2)), Err(ShareError::Stale));
}

#[test]
fn header_bits_must_match_the_network() {
    let f = Fixture::new(DIFF1_BITS);
    let mut v = ShareValidator::new(f.pool, f.config());
    v.add_tip(f.tip, HALF_SHARE_BITS).expect("valid");
    assert!(matches!(
        v.verify(&f.share("alice", 1)),
        Err(ShareError::Malformed(_))
    ));
}

#[test]
fn structure_limits_and_decoding() {
    let f = Fixture::new(DIFF1_BITS);
    let mut big = f.share("alice", 1);
    big.coinbase
        .resize(chiral_pool_core::share::MAX_COINBASE_LEN + 1, 0);
    assert!(matches!(
        f.validator().verify(&big),
        Err(ShareError::Malformed(_))
    ));
    let mut long = f.share("alice", 1);
    long.merkle_branch = vec![[0; 32]; 33];
    assert!(matches!(
        f.validator().verify(&long),
        Err(ShareError::Malformed(_))
    ));
    let good = f.share("alice", 1);
    let bytes = good.to_bytes().expect("encodes");
    assert_eq!(Share::from_bytes(&bytes).expect("decodes"), good);
    assert!(matches!(
        Share::from_bytes(&bytes[..bytes.len() - 1]),
        Err(ShareError::Codec(_))
    ));
    assert!(matches!(
        Share::from_bytes(&big.to_bytes().expect("encodes")),
        Err(ShareError::Codec(_)) | Err(ShareError::Malformed(_))
    ));
}

#[test]
fn dedupe_memory_is_bounded() {
    let f = Fixture::new(DIFF1_BITS);
    let mut v = ShareValidator::new(
        f.pool,
        ShareValidatorConfig {
            max_shares_per_tip: 2,
            ..f.config()
        },
    );
    v.add_tip(f.tip, f.bits).expect("valid");
    assert!(v.accept(&f.share("alice", 1)).is_ok());
    assert!(v.accept(&f.share("alice", 2)).is_ok());
    assert_eq!(v.accept(&f.share("alice", 3)), Err(ShareError::DedupeFull));
    // A new tip brings fresh capacity.
    v.add_tip([1; 32], f.bits).expect("valid");
    let mut g = Fixture::new(DIFF1_BITS);
    g.tip = [1; 32];
    assert!(v.accept(&g.share("alice", 3)).is_ok());
}
