//! Payout addresses: a miner's `<address>.<worker>` username names the
//! script its coinbase outputs pay. Parsing and the network check are the
//! `bitcoin` crate's; this module only says which network a pool is on.

use std::fmt;
use std::str::FromStr;

use bitcoin::address::NetworkUnchecked;
use bitcoin::{Address, Network, Script};
use serde::{Deserialize, Serialize};

use crate::ids::PayoutId;

/// The address format a pool's payouts use. Testnet and signet share
/// their formats (`tb1…`, `m…`/`n…`/`2…`); regtest has its own bech32
/// prefix (`bcrt1…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AddressNetwork {
    /// Mainnet (`bc1…`, `1…`, `3…`): also the synthetic chain's default, so
    /// a miner configured as for any public pool works unchanged.
    Bitcoin,
    /// Testnet 3 and 4.
    Testnet,
    /// Signet.
    Signet,
    /// Regtest.
    Regtest,
}

impl AddressNetwork {
    /// The byte the pool id hashes.
    pub fn to_byte(self) -> u8 {
        match self {
            AddressNetwork::Bitcoin => 0,
            AddressNetwork::Testnet => 1,
            AddressNetwork::Signet => 2,
            AddressNetwork::Regtest => 3,
        }
    }

    /// The name Bitcoin Core's `getblockchaininfo` reports as `chain`
    /// (`main`, `test`, `signet`, `regtest`).
    pub fn core_chain(self) -> &'static str {
        match self {
            AddressNetwork::Bitcoin => "main",
            AddressNetwork::Testnet => "test",
            AddressNetwork::Signet => "signet",
            AddressNetwork::Regtest => "regtest",
        }
    }

    /// The network of Bitcoin Core's `chain` name (`testnet4` reads as
    /// testnet: its addresses are testnet's).
    pub fn from_core_chain(chain: &str) -> Option<Self> {
        match chain {
            "main" => Some(AddressNetwork::Bitcoin),
            "test" | "testnet4" => Some(AddressNetwork::Testnet),
            "signet" => Some(AddressNetwork::Signet),
            "regtest" => Some(AddressNetwork::Regtest),
            _ => None,
        }
    }

    fn network(self) -> Network {
        match self {
            AddressNetwork::Bitcoin => Network::Bitcoin,
            AddressNetwork::Testnet => Network::Testnet,
            AddressNetwork::Signet => Network::Signet,
            AddressNetwork::Regtest => Network::Regtest,
        }
    }
}

impl fmt::Display for AddressNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressNetwork::Bitcoin => "mainnet",
            AddressNetwork::Testnet => "testnet",
            AddressNetwork::Signet => "signet",
            AddressNetwork::Regtest => "regtest",
        })
    }
}

impl FromStr for AddressNetwork {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mainnet" | "main" | "bitcoin" => Ok(AddressNetwork::Bitcoin),
            "testnet" | "test" | "testnet4" => Ok(AddressNetwork::Testnet),
            "signet" => Ok(AddressNetwork::Signet),
            "regtest" => Ok(AddressNetwork::Regtest),
            other => Err(format!(
                "unknown network `{other}` (mainnet, testnet, signet or regtest)"
            )),
        }
    }
}

/// Why a payout id is not an address a pool can pay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Not a Bitcoin address at all.
    #[error("`{id}` is not a Bitcoin address")]
    NotAnAddress {
        /// The payout id.
        id: String,
    },
    /// An address of another network.
    #[error("address `{id}` is not a {network} address")]
    WrongNetwork {
        /// The payout id.
        id: String,
        /// The pool's network.
        network: AddressNetwork,
    },
    /// An address of a kind a pool does not pay: only P2PKH, P2SH,
    /// P2WPKH, P2WSH and P2TR are (a future witness version would change
    /// what is valid with a crate upgrade, and could break the output
    /// cap's weight budget).
    #[error("address `{id}` is not P2PKH, P2SH, P2WPKH, P2WSH or P2TR")]
    Unsupported {
        /// The payout id.
        id: String,
    },
}

/// The longest payout script, bytes: P2WSH and P2TR.
pub const MAX_PAYOUT_SCRIPT: usize = 34;

/// Whether `script` is one a pool pays: P2PKH, P2SH, P2WPKH, P2WSH or
/// P2TR, matched byte for byte (the consensus rule is this list, not a
/// library's notion of a valid address).
pub fn is_standard_payout(script: &[u8]) -> bool {
    match script {
        [0x76, 0xa9, 0x14, hash @ .., 0x88, 0xac] => hash.len() == 20,
        [0xa9, 0x14, hash @ .., 0x87] => hash.len() == 20,
        [0x00, 0x14, program @ ..] => program.len() == 20,
        [0x00, 0x20, program @ ..] => program.len() == 32,
        [0x51, 0x20, program @ ..] => program.len() == 32,
        _ => false,
    }
}

/// The output script (scriptPubKey) paying `id` on `network`.
///
/// ```
/// use chiral_pool_core::ids::PayoutId;
/// use chiral_pool_core::payout::{payout_script, AddressNetwork};
/// let id = PayoutId::new("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4").unwrap();
/// let script = payout_script(&id, AddressNetwork::Bitcoin).unwrap();
/// assert_eq!(script[..2], [0x00, 0x14]); // P2WPKH: OP_0 <20 bytes>
/// // A mainnet address on a regtest pool is refused, not paid.
/// assert!(payout_script(&id, AddressNetwork::Regtest).is_err());
/// assert!(payout_script(&PayoutId::new("alice").unwrap(), AddressNetwork::Bitcoin).is_err());
/// ```
pub fn payout_script(id: &PayoutId, network: AddressNetwork) -> Result<Vec<u8>, AddressError> {
    let unchecked = Address::<NetworkUnchecked>::from_str(id.as_str()).map_err(|_| {
        AddressError::NotAnAddress {
            id: id.as_str().to_owned(),
        }
    })?;
    let address =
        unchecked
            .require_network(network.network())
            .map_err(|_| AddressError::WrongNetwork {
                id: id.as_str().to_owned(),
                network,
            })?;
    let script = address.script_pubkey().into_bytes();
    if !is_standard_payout(&script) {
        return Err(AddressError::Unsupported {
            id: id.as_str().to_owned(),
        });
    }
    Ok(script)
}

/// The P2WPKH address of the 20-byte witness program `program` on
/// `network` (`bc1q…`, `tb1q…`, `bcrt1q…`).
///
/// ```
/// use chiral_pool_core::payout::{p2wpkh_address, AddressNetwork};
/// let a = p2wpkh_address([0x75, 0x1e, 0x76, 0xe8, 0x19, 0x91, 0x96, 0xd4, 0x54, 0x94,
///     0x1c, 0x45, 0xd1, 0xb3, 0xa3, 0x23, 0xf1, 0x43, 0x3b, 0xd6], AddressNetwork::Bitcoin);
/// assert_eq!(a, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4");
/// ```
pub fn p2wpkh_address(program: [u8; 20], network: AddressNetwork) -> String {
    let mut script = vec![0x00, 0x14];
    script.extend_from_slice(&program);
    address_of(&script, network).unwrap_or_default()
}

/// The address `script` pays on `network`, if it is a standard one; for
/// display only (payouts are compared by script).
pub fn address_of(script: &[u8], network: AddressNetwork) -> Option<String> {
    Address::from_script(Script::from_bytes(script), network.network())
        .ok()
        .map(|a| a.to_string())
}
