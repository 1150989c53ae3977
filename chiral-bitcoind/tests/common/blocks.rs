//! Templates made with the `bitcoin` crate, and the checks a block this
//! crate assembled must pass, made by the `bitcoin` crate alone.

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, Block, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use chiral_pool_core::payout::PayoutOutput;
use serde_json::{json, Value};

/// A template on `prev` at `height` whose `n` transactions each carry a
/// witness of `witness_bytes` (their weight grows about one unit per
/// byte), paying fee `1_000 + i`; the witness commitment is computed by
/// the `bitcoin` crate.
pub fn template(n: usize, witness_bytes: usize, height: u32, subsidy: u64) -> Value {
    let mut txs = Vec::with_capacity(n);
    for i in 0..n {
        let prev = bitcoin::Txid::hash(&(i as u64).to_le_bytes());
        let mut witness = Witness::new();
        witness.push(vec![i as u8; witness_bytes]);
        txs.push(Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: prev,
                    vout: 0,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness,
            }],
            output: vec![TxOut {
                value: Amount::from_sat(10_000),
                script_pubkey: ScriptBuf::new_op_return([i as u8; 4]),
            }],
        });
    }
    // The witness root over a placeholder coinbase (its wtxid counts as 0).
    let placeholder = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn::default()],
        output: vec![],
    };
    let block = Block {
        header: bitcoin::block::Header {
            version: bitcoin::block::Version::TWO,
            prev_blockhash: bitcoin::BlockHash::all_zeros(),
            merkle_root: bitcoin::TxMerkleNode::all_zeros(),
            time: 0,
            bits: bitcoin::CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata: std::iter::once(placeholder)
            .chain(txs.iter().cloned())
            .collect(),
    };
    let root = block.witness_root().expect("a witness root");
    let commitment = Block::compute_witness_commitment(&root, &[0u8; 32]);
    let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
    script.extend_from_slice(commitment.as_byte_array());
    let fees: u64 = (0..n as u64).map(|i| 1_000 + i).sum();
    let listed: Vec<Value> = txs
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            json!({
                "data": bitcoin::consensus::encode::serialize_hex(tx),
                "txid": tx.compute_txid().to_string(),
                "hash": tx.compute_wtxid().to_string(),
                "depends": [],
                "fee": 1_000 + i as u64,
                "sigops": 0,
                "weight": tx.weight().to_wu(),
            })
        })
        .collect();
    json!({
        "capabilities": ["proposal"],
        "version": 0x2000_0000,
        "rules": ["csv", "!segwit", "taproot"],
        "previousblockhash": "5a".repeat(32),
        "transactions": listed,
        "coinbaseaux": {},
        "coinbasevalue": subsidy + fees,
        "longpollid": "x",
        "target": "7fffff0000000000000000000000000000000000000000000000000000000000",
        "mintime": 1_700_000_000u32,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "sigoplimit": 80000,
        "sizelimit": 4000000,
        "weightlimit": 4000000,
        "curtime": 1_700_000_100u32,
        "bits": "207fffff",
        "height": height,
        "default_witness_commitment": hex::encode(script),
    })
}

/// What the `bitcoin` crate says about a block's bytes.
pub struct Checked {
    pub block: Block,
    /// The coinbase's outputs before the witness commitment and the
    /// pool's commitment.
    pub payouts: Vec<PayoutOutput>,
    pub coinbase_total: u64,
}

/// Decodes `bytes` with the `bitcoin` crate and checks the merkle root,
/// the witness commitment, the BIP 34 height and the weight limit; panics
/// on any failure.
pub fn check_block(bytes: &[u8], height: u32) -> Checked {
    let block: Block = bitcoin::consensus::deserialize(bytes).expect("the block decodes");
    assert!(block.check_merkle_root(), "merkle root");
    assert!(block.check_witness_commitment(), "witness commitment");
    assert_eq!(
        block.bip34_block_height().expect("a BIP 34 height"),
        u64::from(height)
    );
    assert!(
        block.weight().to_wu() <= 4_000_000,
        "weight {}",
        block.weight()
    );
    let coinbase = block.coinbase().expect("a coinbase");
    assert!(coinbase.is_coinbase());
    // Height and extranonce are pushes: no extranonce byte is an opcode
    // (a stray OP_CHECKSIG would count against the block's sigops).
    assert!(coinbase.input[0].script_sig.is_push_only());
    let outputs = &coinbase.output;
    let total: u64 = outputs.iter().map(|o| o.value.to_sat()).sum();
    let last = outputs.last().expect("outputs");
    assert_eq!(
        last.value.to_sat(),
        0,
        "the pool's commitment is worth nothing"
    );
    assert!(last.script_pubkey.is_op_return());
    let mut payouts = &outputs[..outputs.len() - 1];
    if let Some((witness, rest)) = payouts.split_last() {
        if witness
            .script_pubkey
            .as_bytes()
            .starts_with(&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed])
        {
            payouts = rest;
        }
    }
    Checked {
        payouts: payouts
            .iter()
            .map(|o| PayoutOutput {
                script: o.script_pubkey.to_bytes(),
                value: o.value.to_sat(),
            })
            .collect(),
        coinbase_total: total,
        block,
    }
}
