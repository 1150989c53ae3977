//! A share chain that pays in the coinbase: every link's outputs are the
//! split of its parent's window, and a peer refuses any other (one atom
//! moved, an output missing or added, a payout id that is no address of
//! the pool's network, outputs under the subsidy).

mod common;

use chiral_pool_core::ids::PayoutId;
use chiral_pool_core::payout::{
    paying_outputs, AddressError, AddressNetwork, PayoutMismatch, PayoutOutput,
    WITNESS_COMMITMENT_PREFIX,
};
use chiral_pool_core::pool::FeeBps;
use chiral_pool_core::sharechain::testing::{label_address, mine_paying, TEST_REWARD};
use chiral_pool_core::sharechain::{
    ChainParams, CoinbaseRules, InsertError, Insertion, Link, LinkError, PayoutMode,
};
use common::links::{cheap_params, LinkFixture, T0};

/// A P2WPKH address of `network` whose program is a hash of `label`.
fn address(label: &str, network: AddressNetwork) -> String {
    label_address(label, network)
}

fn mainnet(label: &str) -> String {
    address(label, AddressNetwork::Bitcoin)
}

fn coinbase_params() -> ChainParams {
    let mut params = cheap_params();
    params.fee = FeeBps::new(100).expect("in range");
    params.finder_bonus = FeeBps::new(50).expect("in range");
    let owner = PayoutId::new(mainnet("owner")).expect("an id");
    params.payouts = PayoutMode::Coinbase(CoinbaseRules::bitcoin(AddressNetwork::Bitcoin, owner));
    params.check().expect("valid params");
    params
}

/// A fixture with `n` honest links by four miners.
fn chain_of(n: u32) -> LinkFixture {
    let mut f = LinkFixture::new(coinbase_params());
    for i in 0..n {
        f.extend(&mainnet(&format!("miner{}", i % 4)), T0 + 10 * i, i.into());
    }
    f
}

fn invalid(result: Result<Insertion, InsertError>) -> LinkError {
    match result {
        Err(InsertError::Invalid(e)) => e,
        other => panic!("expected an invalid link, got {other:?}"),
    }
}

/// The outputs an honest next link by `who` pays, and a link paying
/// `outputs` instead at the same position.
fn honest_outputs(f: &LinkFixture, who: &str) -> Vec<PayoutOutput> {
    let plan = f.chain.job().payouts.expect("a coinbase plan");
    let finder = plan
        .finder_script(&PayoutId::new(who).expect("an id"))
        .expect("an address");
    plan.outputs(TEST_REWARD, &finder).outputs
}

fn paying(f: &LinkFixture, who: &str, outputs: &[PayoutOutput], seed: u64) -> Link {
    let commitment = f.commitment(&f.chain.job(), who);
    mine_paying(&commitment, outputs, f.block, T0 + 10_000, seed, Vec::new())
}

#[test]
fn honest_links_pay_their_parents_window_and_conserve_the_reward() {
    let f = chain_of(24);
    let tip = f.chain.tip().expect("a tip");
    let link = f.chain.get(&tip).expect("held").clone();
    let found = paying_outputs(&link.link().coinbase).expect("layout");
    assert_eq!(found.iter().map(|o| o.value).sum::<u64>(), TEST_REWARD);
    // Owner, finder and four miners, merged by script: at most six.
    assert!((2..=6).contains(&found.len()), "{found:?}");
    let scripts: Vec<&Vec<u8>> = found.iter().map(|o| &o.script).collect();
    let mut sorted = scripts.clone();
    sorted.sort();
    assert_eq!(scripts, sorted, "outputs are in script order");
    assert!(found.iter().all(|o| o.value >= 546), "no dust output");
}

#[test]
fn one_atom_moved_is_refused() {
    let mut f = chain_of(12);
    let who = mainnet("miner1");
    let mut outputs = honest_outputs(&f, &who);
    assert!(outputs.len() >= 2);
    outputs[0].value -= 1;
    outputs[1].value += 1;
    let link = paying(&f, &who, &outputs, 900);
    assert_eq!(
        invalid(f.insert(link)),
        LinkError::WrongPayouts(PayoutMismatch::Differs { index: 0 })
    );
}

#[test]
fn a_missing_output_is_refused() {
    let mut f = chain_of(12);
    let who = mainnet("miner2");
    let mut outputs = honest_outputs(&f, &who);
    let dropped = outputs.pop().expect("an output");
    outputs[0].value += dropped.value; // the total stays whole
    let link = paying(&f, &who, &outputs, 901);
    assert!(matches!(
        invalid(f.insert(link)),
        LinkError::WrongPayouts(PayoutMismatch::Missing { .. })
    ));
}

#[test]
fn an_extra_output_is_refused() {
    let mut f = chain_of(12);
    let who = mainnet("miner3");
    let mut outputs = honest_outputs(&f, &who);
    outputs[0].value -= 1_000;
    outputs.push(PayoutOutput {
        script: vec![0x51],
        value: 1_000,
    });
    let link = paying(&f, &who, &outputs, 902);
    assert!(matches!(
        invalid(f.insert(link)),
        LinkError::WrongPayouts(PayoutMismatch::Extra { .. })
    ));
}

#[test]
fn outputs_under_the_subsidy_are_refused() {
    let mut f = chain_of(4);
    let who = mainnet("miner0");
    let plan = f.chain.job().payouts.expect("a plan");
    let finder = plan
        .finder_script(&PayoutId::new(who.as_str()).expect("an id"))
        .expect("an address");
    // A coherent split of less than the subsidy: still refused.
    let outputs = plan.outputs(TEST_REWARD / 2, &finder).outputs;
    let link = paying(&f, &who, &outputs, 903);
    assert_eq!(
        invalid(f.insert(link)),
        LinkError::WrongPayouts(PayoutMismatch::BelowSubsidy {
            total: TEST_REWARD / 2,
            subsidy: TEST_REWARD,
        })
    );
}

#[test]
fn a_payout_id_of_another_network_or_no_address_is_refused() {
    let mut f = chain_of(4);
    for who in [address("x", AddressNetwork::Regtest), "alice".to_owned()] {
        let outputs = honest_outputs(&f, &mainnet("miner0"));
        let link = paying(&f, &who, &outputs, 904);
        assert!(
            matches!(invalid(f.insert(link)), LinkError::NotAnAddress(_)),
            "{who}"
        );
    }
    let regtest = PayoutId::new(address("x", AddressNetwork::Regtest)).expect("an id");
    assert!(matches!(
        chiral_pool_core::payout::payout_script(&regtest, AddressNetwork::Bitcoin),
        Err(AddressError::WrongNetwork { .. })
    ));
}

#[test]
fn a_witness_commitment_before_the_pools_is_not_a_payout() {
    let mut f = chain_of(8);
    let who = mainnet("miner2");
    let mut outputs = honest_outputs(&f, &who);
    let mut witness = WITNESS_COMMITMENT_PREFIX.to_vec();
    witness.extend([7u8; 32]);
    outputs.push(PayoutOutput {
        script: witness,
        value: 0,
    });
    let link = paying(&f, &who, &outputs, 905);
    assert!(matches!(f.insert(link), Ok(Insertion::Added(_))));
}

#[test]
fn the_plan_is_the_same_on_a_node_that_got_the_links_in_another_order() {
    let f = chain_of(30);
    let mut g = LinkFixture::new(coinbase_params());
    // Newest first: everything waits, then joins at once.
    let mut ids = Vec::new();
    let mut cursor = f.chain.tip();
    while let Some(id) = cursor {
        let link = f.chain.get(&id).expect("held");
        cursor = link.parent();
        ids.push(link.link().clone());
    }
    for link in ids {
        let _ = g.insert(link);
    }
    assert_eq!(g.chain.tip(), f.chain.tip());
    assert_eq!(g.chain.job().payouts, f.chain.job().payouts);
}

#[test]
fn only_the_five_standard_payout_kinds_are_paid() {
    use chiral_pool_core::payout::{is_standard_payout, payout_script};
    // One address of each kind (BIP 173, BIP 350 and base58 vectors).
    for address in [
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
        "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    ] {
        let id = PayoutId::new(address).expect("an id");
        let script = payout_script(&id, AddressNetwork::Bitcoin).expect(address);
        assert!(is_standard_payout(&script), "{address}");
    }
    // A witness version 2 address is valid to the bitcoin crate, but not
    // a kind a pool pays.
    let v2 = PayoutId::new("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs").expect("an id");
    assert!(matches!(
        payout_script(&v2, AddressNetwork::Bitcoin),
        Err(AddressError::Unsupported { .. }) | Err(AddressError::NotAnAddress { .. })
    ));
    assert!(!is_standard_payout(&[0x51]));
    assert!(!is_standard_payout(&[0x00, 0x14, 1, 2, 3]));
}
