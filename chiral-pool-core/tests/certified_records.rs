//! Records whose content is their authority: links (their work),
//! checkpoints (bounded, checked by the links they name) and pool
//! parameters (they hash to the pool id). Any carrier may sign them; none
//! can change what they say.

mod common;

use chiral_pool_core::identity::Keypair;
use chiral_pool_core::ids::{LinkId, PoolId};
use chiral_pool_core::pow::{CompactTarget, Difficulty, Target};
use chiral_pool_core::record::{
    Checkpoint, PoolParams, RecordError, RecordKey, RecordKind, SignedRecord, LINK_RECORD_TTL_SECS,
    MAX_CHECKPOINT_SPAN,
};
use chiral_pool_core::share::commitment::Commitment;
use chiral_pool_core::sharechain::testing::mine_commitment;
use chiral_pool_core::sharechain::{ChainParams, Link, LinkError};
use common::links::{cheap_params, genesis_block, miner, HARD_BLOCKS, T0};

fn carrier() -> Keypair {
    Keypair::from_secret_bytes([7; 32])
}

fn pool() -> PoolId {
    PoolId::from_bytes([9; 32])
}

fn a_link(parent: Option<LinkId>, seed: u64) -> Link {
    let commitment = Commitment {
        pool: pool(),
        payout: miner("alice"),
        chain_bits: chain_bits(),
        parent,
        uncles: Vec::new(),
    };
    mine_commitment(&commitment, genesis_block(HARD_BLOCKS), T0, seed)
}

fn chain_bits() -> CompactTarget {
    Target::from_fixed_difficulty(cheap_params().min_difficulty).to_compact_lossy()
}

fn now() -> u64 {
    u64::from(T0) + 60
}

#[test]
fn a_link_record_verifies_under_its_id_and_expires_after_its_header_time() {
    let link = a_link(None, 1);
    let record = SignedRecord::link(&carrier(), &pool(), &link).expect("certifies");
    let id = LinkId::from_bytes(link.header.hash());
    assert_eq!(record.key(), &RecordKey::link(&pool(), &id));
    assert_eq!(record.kind(), RecordKind::Link);
    assert_eq!(record.expires_at(), u64::from(T0) + LINK_RECORD_TTL_SECS);
    assert_eq!(record.verify(now()), Ok(()));
    assert_eq!(record.link_payload().expect("a link"), link);
    // Any carrier: another node's copy verifies the same.
    let other = SignedRecord::link(&Keypair::from_secret_bytes([8; 32]), &pool(), &link)
        .expect("certifies");
    assert_eq!(other.verify(now()), Ok(()));
}

#[test]
fn a_link_record_under_another_id_pool_or_expiry_is_refused() {
    let link = a_link(None, 2);
    let other = a_link(None, 3);
    let other_id = LinkId::from_bytes(other.header.hash());
    let bytes = link.to_bytes().expect("encodes");
    let expiry = u64::from(T0) + LINK_RECORD_TTL_SECS;
    let sign = |key: RecordKey, expires_at: u64| {
        SignedRecord::sign(
            &carrier(),
            RecordKind::Link,
            key,
            bytes.clone(),
            0,
            expires_at,
        )
        .expect("signs")
    };
    // The key names another link.
    let wrong_id = sign(RecordKey::link(&pool(), &other_id), expiry);
    assert!(matches!(
        wrong_id.verify(now()),
        Err(RecordError::KeyBinding(_))
    ));
    // The key names another pool: the commitment says otherwise.
    let id = LinkId::from_bytes(link.header.hash());
    let wrong_pool = sign(RecordKey::link(&PoolId::from_bytes([1; 32]), &id), expiry);
    assert_eq!(
        wrong_pool.verify(now()),
        Err(RecordError::Link(LinkError::WrongPool))
    );
    // An expiry the carrier chose: a link record lives as its header says.
    let longer = sign(RecordKey::link(&pool(), &id), expiry + 60);
    assert!(matches!(
        longer.verify(now()),
        Err(RecordError::KeyBinding(_))
    ));
}

#[test]
fn a_link_without_its_work_is_no_record() {
    let mut link = a_link(None, 4);
    // Another nonce: the hash (almost surely) misses the committed target,
    // and the id changes with it.
    let mut nonce = link.header.nonce();
    loop {
        nonce = nonce.wrapping_add(1);
        let header = link.header.with_nonce(nonce);
        let target = Target::from_compact(chain_bits()).expect("a target");
        if !target.is_met_by(&header.hash()) {
            link.header = header;
            break;
        }
    }
    assert_eq!(
        SignedRecord::link(&carrier(), &pool(), &link).map(|_| ()),
        Err(RecordError::Link(LinkError::LowWork))
    );
    let id = LinkId::from_bytes(link.header.hash());
    let forged = SignedRecord::sign(
        &carrier(),
        RecordKind::Link,
        RecordKey::link(&pool(), &id),
        link.to_bytes().expect("encodes"),
        0,
        u64::from(T0) + LINK_RECORD_TTL_SECS,
    )
    .expect("signs");
    assert_eq!(
        forged.verify(now()),
        Err(RecordError::Link(LinkError::LowWork))
    );
}

#[test]
fn params_records_hash_to_their_pool_and_any_member_carries_them() {
    let owner = Keypair::from_secret_bytes([3; 32]);
    let params = PoolParams {
        owner: owner.public(),
        name: "alpha".into(),
        chain: ChainParams::new(),
    };
    let id = params.id();
    assert_eq!(id, PoolId::derive(&owner.public(), "alpha"));
    let record = SignedRecord::params(&carrier(), &params, now() + 3_600).expect("signs");
    assert_eq!(record.key(), &RecordKey::params(&id));
    assert_eq!(record.verify(now()), Ok(()));
    assert_eq!(record.params_payload().expect("params"), params);

    // Other rules under the same key: they hash to another pool.
    let mut other = params.clone();
    other.chain.min_difficulty = Difficulty::from_raw(1 << 20);
    let forged = SignedRecord::sign(
        &carrier(),
        RecordKind::Params,
        RecordKey::params(&id),
        chiral_pool_core::codec::encode(&other).expect("encodes"),
        0,
        now() + 3_600,
    )
    .expect("signs");
    assert!(matches!(
        forged.verify(now()),
        Err(RecordError::KeyBinding(_))
    ));

    // Rules out of range are refused by name.
    let mut broken = params;
    broken.chain.retarget_links = 0;
    assert!(matches!(
        SignedRecord::params(&carrier(), &broken, now() + 3_600),
        Err(RecordError::Params(_))
    ));
}

/// A link on `parent` whose id makes it a checkpoint link.
fn checkpoint_link(parent: LinkId) -> Link {
    (0u64..)
        .map(|seed| a_link(Some(parent), 1_000 + seed))
        .find(|l| LinkId::from_bytes(l.header.hash()).is_checkpoint())
        .expect("one link in 64 is a checkpoint")
}

#[test]
fn a_checkpoint_is_bound_to_its_link_and_bounded() {
    let parent = LinkId::from_bytes(a_link(None, 5).header.hash());
    let link = checkpoint_link(parent);
    let at = LinkId::from_bytes(link.header.hash());
    let good = Checkpoint {
        link: link.clone(),
        ancestors: vec![parent, LinkId::from_bytes([1; 32])],
        earlier: vec![LinkId::from_bytes([2; 32])],
    };
    let record = SignedRecord::checkpoint(&carrier(), &pool(), &good).expect("signs");
    assert_eq!(record.key(), &RecordKey::checkpoint(&pool(), &at));
    assert_eq!(record.expires_at(), link.record_expiry());
    assert_eq!(record.verify(now()), Ok(()));
    assert_eq!(record.checkpoint_payload().expect("a checkpoint"), good);

    let refused = |c: &Checkpoint| SignedRecord::checkpoint(&carrier(), &pool(), c).is_err();
    // The first ancestor must be the link's own parent.
    let mut wrong_parent = good.clone();
    wrong_parent.ancestors[0] = LinkId::from_bytes([3; 32]);
    assert!(refused(&wrong_parent));
    // A link that is no checkpoint link.
    let mut plain = good.clone();
    plain.link = (0u64..)
        .map(|seed| a_link(Some(parent), 5_000 + seed))
        .find(|l| !LinkId::from_bytes(l.header.hash()).is_checkpoint())
        .expect("most links are not checkpoints");
    assert!(refused(&plain));
    // Bounds.
    let mut long = good.clone();
    long.ancestors.resize(MAX_CHECKPOINT_SPAN + 1, parent);
    assert!(refused(&long));

    // Signed under another key, sequence or expiry: refused whoever signs.
    let bytes = chiral_pool_core::codec::encode(&good).expect("encodes");
    let sign = |key: RecordKey, seq: u64, expires: u64| {
        SignedRecord::sign(
            &carrier(),
            RecordKind::Checkpoint,
            key,
            bytes.clone(),
            seq,
            expires,
        )
        .expect("signs")
    };
    let key = RecordKey::checkpoint(&pool(), &at);
    let expiry = link.record_expiry();
    assert!(sign(key.clone(), 0, expiry).verify(now()).is_ok());
    assert!(
        sign(key.clone(), u64::MAX, expiry).verify(now()).is_err(),
        "no outbidding"
    );
    assert!(sign(key.clone(), 0, expiry - 1).verify(now()).is_err());
    let other = RecordKey::checkpoint(&pool(), &parent);
    assert!(sign(other, 0, expiry).verify(now()).is_err());
    let upper = RecordKey::parse(
        &key.as_str()
            .to_uppercase()
            .replace("CHIRAL:CHECKPOINT:", "chiral:checkpoint:"),
    )
    .expect("a key");
    assert!(
        sign(upper, 0, expiry).verify(now()).is_err(),
        "one key per content"
    );
}

#[test]
fn link_records_take_sequence_zero_and_their_canonical_key() {
    let link = a_link(None, 9);
    let id = LinkId::from_bytes(link.header.hash());
    let bytes = link.to_bytes().expect("encodes");
    let sign = |key: RecordKey, seq: u64| {
        SignedRecord::sign(
            &carrier(),
            RecordKind::Link,
            key,
            bytes.clone(),
            seq,
            link.record_expiry(),
        )
        .expect("signs")
    };
    let key = RecordKey::link(&pool(), &id);
    assert!(sign(key.clone(), 0).verify(now()).is_ok());
    assert!(sign(key.clone(), 1).verify(now()).is_err());
    let upper = RecordKey::parse(
        &key.as_str()
            .to_uppercase()
            .replace("CHIRAL:LINK:", "chiral:link:"),
    )
    .expect("a key");
    assert!(sign(upper, 0).verify(now()).is_err());
}

#[test]
fn link_ids_round_trip_through_hex_and_about_one_in_64_is_a_checkpoint() {
    let ids: Vec<LinkId> = (0u32..6_400)
        .map(|i| LinkId::from_bytes(chiral_pool_core::pow::sha256d(&i.to_le_bytes())))
        .collect();
    for id in &ids[..10] {
        assert_eq!(LinkId::from_hex(&id.to_hex()), Some(*id));
    }
    let checkpoints = ids.iter().filter(|id| id.is_checkpoint()).count();
    assert!((60..=140).contains(&checkpoints), "{checkpoints} of 6,400");
}
