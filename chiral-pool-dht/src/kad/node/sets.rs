//! Sets on Kademlia provider records, sharded: a node answers a provider
//! lookup with at most `k` providers, so a set that can grow past `k`
//! members is spread over several keys (`<set>#<shard>`), each member
//! advertising under the shard its key picks, and readers query them all.

use std::collections::BTreeSet;
use std::time::Instant;

use chiral_pool_core::identity::PublicKey;
use chiral_pool_core::record::RecordKey;
use chiral_pool_core::store::StoreError;
use libp2p::kad::{self, store::RecordStore as _, GetProvidersOk, QueryId};
use libp2p::PeerId;
use tracing::debug;

use super::queries::Pending;
use super::{Node, Reply};

/// A members lookup over every shard of a set.
pub(super) struct ProvidersGroup {
    found: BTreeSet<PublicKey>,
    remaining: usize,
    reply: Reply<Vec<PublicKey>>,
}

impl Node {
    /// Shards of a set: the pool directory and a share slot's publishers
    /// can grow past k members and are sharded; other sets use one key, so
    /// reading them costs one lookup.
    fn shards_of(&self, set: &RecordKey) -> u16 {
        let key = set.as_str();
        if key.starts_with(chiral_pool_core::record::DIRECTORY_PREFIX) {
            self.config.set_shards.max(1)
        } else if key.starts_with(chiral_pool_core::record::SHARE_PREFIX)
            && key.contains(":publishers:")
        {
            self.config.slot_set_shards.max(1)
        } else {
            1
        }
    }

    /// Advertises this node in its shard of `set`.
    pub(super) fn provide(&mut self, set: RecordKey, reply: Reply<()>) {
        let local = self.config.keypair.public();
        let shard = shard_key(&set, shard_of(&local, self.shards_of(&set)));
        if self.provided.len() < self.config.max_provided_keys {
            self.provided.insert(shard.clone());
        }
        match self.kad().start_providing(shard) {
            Ok(id) => {
                self.pending.insert(id, Pending::Provide { reply });
            }
            Err(e) => {
                let _ = reply.send(Err(StoreError::Backend(e.to_string())));
            }
        }
    }

    /// Looks up the members of `set`: one provider lookup per shard.
    pub(super) fn start_members(&mut self, set: RecordKey, reply: Reply<Vec<PublicKey>>) {
        let group = self.next_group;
        self.next_group += 1;
        let shards = self.shards_of(&set);
        self.groups.insert(
            group,
            ProvidersGroup {
                found: BTreeSet::new(),
                remaining: shards as usize,
                reply,
            },
        );
        for shard in 0..shards {
            let id = self.kad().get_providers(shard_key(&set, shard));
            self.pending.insert(id, Pending::Providers { group });
        }
    }

    /// A step of one shard's lookup; the reply goes out when every shard
    /// of the set has finished.
    pub(super) fn on_providers(
        &mut self,
        id: QueryId,
        result: Result<GetProvidersOk, kad::GetProvidersError>,
        last: bool,
    ) {
        let Some(Pending::Providers { group }) = self.pending.get(&id) else {
            return;
        };
        let group = *group;
        if let Some(g) = self.groups.get_mut(&group) {
            if let Ok(GetProvidersOk::FoundProviders { providers, .. }) = &result {
                g.found.extend(providers.iter().filter_map(peer_public_key));
            }
        }
        let done = last || !matches!(result, Ok(GetProvidersOk::FoundProviders { .. }));
        if done {
            self.pending.remove(&id);
            let finished = self.groups.get_mut(&group).is_some_and(|g| {
                g.remaining -= 1;
                g.remaining == 0
            });
            if finished {
                if let Some(g) = self.groups.remove(&group) {
                    let _ = g.reply.send(Ok(g.found.into_iter().collect()));
                }
            }
        }
    }

    /// A provider record a peer pushed to us: kept if its key is one of
    /// ours and its provider is not banned.
    pub(super) fn on_inbound_provider(&mut self, provider: kad::ProviderRecord) {
        let key_ok = std::str::from_utf8(provider.key.as_ref())
            .ok()
            .and_then(RecordKey::parse)
            .is_some();
        if !key_ok || self.strikes.is_banned(&provider.provider, Instant::now()) {
            return;
        }
        if let Err(e) = self.kad().store_mut().add_provider(provider) {
            debug!(error = %e, "provider not stored");
        }
    }
}

/// The shard a member advertises under: spread by its (uniformly random) key.
fn shard_of(member: &PublicKey, shards: u16) -> u16 {
    let b = member.as_bytes();
    u16::from_le_bytes([b[0], b[1]]) % shards.max(1)
}

/// The kad key of one shard of a set: `<set>#<shard>`.
fn shard_key(set: &RecordKey, shard: u16) -> kad::RecordKey {
    kad::RecordKey::new(&format!("{set}#{shard}").as_bytes())
}

/// The ed25519 key behind a peer id (ed25519 peer ids inline their key).
fn peer_public_key(peer: &PeerId) -> Option<PublicKey> {
    let multihash: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if multihash.code() != 0 {
        return None;
    }
    let key = libp2p::identity::PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    let ed = key.try_into_ed25519().ok()?;
    Some(PublicKey::from_bytes(ed.to_bytes()))
}
