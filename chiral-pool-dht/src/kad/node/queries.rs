//! Lookups in flight: each kad query a handle waits for, keyed by its
//! `QueryId`, and how its streamed results become one reply.

use chiral_pool_core::record::{RecordKey, SignedRecord};
use chiral_pool_core::store::{PutReport, StoreError};
use libp2p::kad::{
    self, store::RecordStore as _, GetRecordOk, PeerRecord, PutRecordError, QueryId, QueryResult,
    Quorum,
};
use tracing::debug;

use super::{Node, Reply};
use crate::kad::record::{verify_kad_record, Fault, InvalidRecord};

/// A query a handle waits for.
pub(super) enum Pending {
    Get {
        key: RecordKey,
        found: Vec<SignedRecord>,
        /// Each distinct value seen in this lookup and, if it did not
        /// verify, what it says about its sender (at most one entry per
        /// answering peer).
        checked: Vec<(Vec<u8>, Option<Fault>)>,
        reply: Reply<Vec<SignedRecord>>,
    },
    Put {
        quorum: usize,
        reply: Reply<PutReport>,
    },
    Provide {
        reply: Reply<()>,
    },
    /// One shard of a members lookup; the group holds the union.
    Providers {
        group: u64,
    },
}

impl Node {
    /// Looks `key` up on the network (the local store answers first).
    pub(super) fn start_get(&mut self, key: RecordKey, reply: Reply<Vec<SignedRecord>>) {
        let id = self.kad().get_record(kad::RecordKey::new(&key.as_bytes()));
        self.pending.insert(
            id,
            Pending::Get {
                key,
                found: Vec::new(),
                checked: Vec::new(),
                reply,
            },
        );
    }

    /// Stores `record` locally and, with peers known, puts it to the
    /// closest of them; the reply waits for their acknowledgements.
    pub(super) fn start_put(&mut self, record: kad::Record, reply: Reply<PutReport>) {
        let peers = self.routing_table_size();
        if peers == 0 {
            let result = self
                .kad()
                .store_mut()
                .put(record)
                .map(|()| PutReport {
                    stored_locally: true,
                    peers: 0,
                })
                .map_err(|e| StoreError::Backend(e.to_string()));
            let _ = reply.send(result);
            return;
        }
        let quorum = peers.min(self.config.replication_factor.get()).max(1);
        let n = std::num::NonZeroUsize::new(quorum).unwrap_or(std::num::NonZeroUsize::MIN);
        match self.kad().put_record(record, Quorum::N(n)) {
            Ok(id) => {
                self.pending.insert(id, Pending::Put { quorum, reply });
            }
            Err(e) => {
                let _ = reply.send(Err(StoreError::Backend(e.to_string())));
            }
        }
    }

    pub(super) fn on_query(&mut self, id: QueryId, result: QueryResult, last: bool) {
        let now = self.clock.now();
        match result {
            QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(PeerRecord { peer, record }))) => {
                let Some(Pending::Get {
                    key,
                    found,
                    checked,
                    ..
                }) = self.pending.get_mut(&id)
                else {
                    return;
                };
                // Honest replicas return byte-identical copies: verify each
                // distinct value once per lookup, not once per peer.
                let fault = match checked.iter().find(|(bytes, _)| *bytes == record.value) {
                    Some((_, fault)) => *fault,
                    None => {
                        let verified = verify_kad_record(&record, now).and_then(|r| {
                            if r.key() == key {
                                Ok(r)
                            } else {
                                Err(InvalidRecord::KeyMismatch)
                            }
                        });
                        let fault = match verified {
                            Ok(r) => {
                                if !found.contains(&r) {
                                    found.push(r);
                                }
                                None
                            }
                            Err(error) => {
                                let fault = error.fault(self.config.clock_skew_tolerance);
                                debug!(?peer, %error, ?fault, "dropped invalid fetched record");
                                Some(fault)
                            }
                        };
                        checked.push((record.value, fault));
                        fault
                    }
                };
                // The local store's answer (no peer) was verified on its way in.
                if let (Some(fault), Some(peer)) = (fault, peer) {
                    self.reject(peer, fault);
                }
                if last {
                    self.finish_get(id, None);
                }
            }
            QueryResult::GetRecord(Ok(GetRecordOk::FinishedWithNoAdditionalRecord { .. })) => {
                self.finish_get(id, None)
            }
            QueryResult::GetRecord(Err(kad::GetRecordError::NotFound { .. })) => {
                self.finish_get(id, None)
            }
            QueryResult::GetRecord(Err(kad::GetRecordError::Timeout { .. })) => {
                self.finish_get(id, Some(StoreError::Timeout))
            }
            QueryResult::PutRecord(result) => {
                let Some(Pending::Put { quorum, reply }) = self.pending.remove(&id) else {
                    return;
                };
                let peers = match result {
                    Ok(_) => quorum,
                    Err(PutRecordError::QuorumFailed { success, .. })
                    | Err(PutRecordError::Timeout { success, .. }) => success.len(),
                };
                let _ = reply.send(Ok(PutReport {
                    stored_locally: true,
                    peers,
                }));
            }
            QueryResult::StartProviding(_) => {
                // The local provider record exists either way; a failed
                // announcement is retried by kad's republishing.
                if let Some(Pending::Provide { reply }) = self.pending.remove(&id) {
                    let _ = reply.send(Ok(()));
                }
            }
            QueryResult::GetProviders(result) => self.on_providers(id, result, last),
            _ => {}
        }
    }

    fn finish_get(&mut self, id: QueryId, error: Option<StoreError>) {
        if let Some(Pending::Get {
            mut found, reply, ..
        }) = self.pending.remove(&id)
        {
            found.sort_by(|a, b| {
                (a.publisher(), a.seq(), a.signature()).cmp(&(
                    b.publisher(),
                    b.seq(),
                    b.signature(),
                ))
            });
            let result = match error {
                Some(e) if found.is_empty() => Err(e),
                _ => Ok(found),
            };
            let _ = reply.send(result);
        }
    }
}
