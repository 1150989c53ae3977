//! A Bitcoin Core work source for chiral-pool.
//!
//! [`CoreWork`] implements
//! [`WorkSource`](chiral_pool_core::chain::WorkSource) on a Bitcoin Core
//! node: it reads `getblocktemplate` (segwit rule), follows the node's best
//! block, builds each job's real coinbase ([`assemble()`]: BIP 34 height, the
//! pool's payout outputs, the witness commitment, the pool's commitment
//! last; template transactions left out, cheapest last, when the coinbase
//! needs room) and submits found blocks with `submitblock`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use chiral_bitcoind::{Auth, BitcoinRpc, CoreConfig, CoreWork};
//! use chiral_pool_core::payout::AddressNetwork;
//! let rpc = BitcoinRpc::new(
//!     "http://127.0.0.1:18443",
//!     Auth::Cookie("/home/me/.bitcoin/regtest/.cookie".into()),
//!     Duration::from_secs(30),
//! )?;
//! let work = CoreWork::connect(rpc, CoreConfig::new(AddressNetwork::Regtest)).await?;
//! println!("mining height {}", work.current().height);
//! # Ok(()) }
//! ```

pub mod assemble;
pub mod rpc;
pub mod source;
pub mod template;

pub use assemble::{assemble, block_bytes, AssembleError, Assembly};
pub use rpc::{Auth, BitcoinRpc, RpcError};
pub use source::{CoreConfig, CoreError, CoreWork};
pub use template::{BlockTemplate, TemplateError, TemplateTx, Totals};

/// The crate README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
