//! Errors starting a Kademlia node, each keeping the error that caused it.

use std::path::PathBuf;
use std::time::Duration;

use libp2p::{Multiaddr, TransportError};

use super::durable::StorageError;

/// Errors starting a Kademlia node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KadError {
    /// The node's key is not a valid libp2p ed25519 key.
    #[error("node key: {0}")]
    Key(#[source] libp2p::identity::DecodingError),
    /// The transport (TCP + noise + yamux) could not be built.
    #[error("transport: {0}")]
    Transport(#[source] libp2p::noise::Error),
    /// The listen address could not be bound.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        #[source]
        source: ListenError,
    },
    /// The data directory could not be created.
    #[error("data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The durable record store could not be opened.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// A bootstrap address lacks `/p2p/<peer id>`.
    #[error("bootstrap address {0} has no /p2p/<peer id>")]
    BootstrapAddress(Multiaddr),
    /// The link gossip behaviour could not be configured.
    #[error("link gossip: {0}")]
    Gossip(String),
}

/// Why a listen address could not be bound.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// The transport (TCP) does not support the address.
    #[error("address not supported by the transport")]
    Unsupported,
    /// Binding or listening failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The listener closed before it reported an address.
    #[error("listener closed before it reported an address")]
    Closed,
    /// The listener reported no address in time.
    #[error("no listen address within {0:?}")]
    Timeout(Duration),
}

impl From<TransportError<std::io::Error>> for ListenError {
    fn from(e: TransportError<std::io::Error>) -> Self {
        // libp2p's `TransportError` prints nothing for `Other`: unwrap it so
        // the message and the source are the OS error itself.
        match e {
            TransportError::MultiaddrNotSupported(_) => ListenError::Unsupported,
            TransportError::Other(io) => ListenError::Io(io),
        }
    }
}
