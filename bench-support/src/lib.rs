//! Baselines and probes shared by chiral-pool's criterion benches, its
//! performance report and its tests. Not published: nothing here is part
//! of the library.
//!
//! - [`echo`]: a canned-reply line server, the Stratum latency baseline;
//! - [`raw_kad`]: a plain libp2p Kademlia node, the DHT baseline;
//! - [`rss`]: the resident memory of the running process.

#![forbid(unsafe_code)]

pub mod echo;
pub mod raw_kad;
pub mod rss;
