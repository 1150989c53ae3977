//! A verifying, bounded record table: one node's replica.
//!
//! Shared by the memory and mock backends. Holds the best record per
//! (key, publisher), verifies on insert and again on read, and bounds
//! keys, publishers per key and members per set.

use std::collections::BTreeMap;

use chiral_pool_core::identity::PublicKey;
use chiral_pool_core::record::{select_best, RecordKey, SignedRecord};
use chiral_pool_core::store::StoreError;

/// Bounds of a [`RecordTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableLimits {
    /// Distinct record keys held. Default: 100,000.
    pub max_keys: usize,
    /// Publishers held per key. Default: 64.
    pub max_records_per_key: usize,
    /// Distinct sets held. Default: 10,000.
    pub max_sets: usize,
    /// Members held per set. Default: 4,096.
    pub max_members_per_set: usize,
}

impl TableLimits {
    /// The documented defaults.
    pub const fn new() -> Self {
        TableLimits {
            max_keys: 100_000,
            max_records_per_key: 64,
            max_sets: 10_000,
            max_members_per_set: 4_096,
        }
    }
}

impl Default for TableLimits {
    fn default() -> Self {
        Self::new()
    }
}

/// One replica of records and set memberships.
#[derive(Debug, Clone, Default)]
pub struct RecordTable {
    limits: TableLimits,
    records: BTreeMap<RecordKey, BTreeMap<PublicKey, SignedRecord>>,
    sets: BTreeMap<RecordKey, BTreeMap<PublicKey, u64>>,
}

impl RecordTable {
    /// An empty table with `limits`.
    pub fn new(limits: TableLimits) -> Self {
        RecordTable {
            limits,
            ..Default::default()
        }
    }

    /// Verifies and stores `record`. A record replaces the same
    /// publisher's record under the same key only if it wins
    /// [`select_best`]. Returns whether the table changed.
    pub fn insert(&mut self, record: SignedRecord, now: u64) -> Result<bool, StoreError> {
        record.verify(now)?;
        if !self.records.contains_key(record.key()) {
            self.purge_expired(now);
            if self.records.len() >= self.limits.max_keys {
                return Err(StoreError::CapacityExceeded("keys"));
            }
        }
        let per_key = self.records.entry(record.key().clone()).or_default();
        match per_key.get(record.publisher()) {
            Some(old) => {
                if select_best([old, &record], now) == Some(old) {
                    return Ok(false);
                }
            }
            None => {
                // Stored records were verified on insert; only time can
                // have made them invalid since.
                per_key.retain(|_, r| r.expires_at() > now);
                if per_key.len() >= self.limits.max_records_per_key {
                    return Err(StoreError::CapacityExceeded("records per key"));
                }
            }
        }
        per_key.insert(*record.publisher(), record);
        Ok(true)
    }

    /// Valid candidates for `key` at `now`, sorted by publisher.
    pub fn get(&self, key: &RecordKey, now: u64) -> Vec<SignedRecord> {
        self.records
            .get(key)
            .map(|m| {
                m.values()
                    .filter(|r| r.expires_at() > now)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Adds or refreshes `member` in `set` until `expires_at`.
    pub fn advertise(
        &mut self,
        set: &RecordKey,
        member: PublicKey,
        expires_at: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        if !self.sets.contains_key(set) {
            self.purge_expired(now);
            if self.sets.len() >= self.limits.max_sets {
                return Err(StoreError::CapacityExceeded("sets"));
            }
        }
        let members = self.sets.entry(set.clone()).or_default();
        if !members.contains_key(&member) {
            members.retain(|_, exp| *exp > now);
            if members.len() >= self.limits.max_members_per_set {
                return Err(StoreError::CapacityExceeded("members per set"));
            }
        }
        members.insert(member, expires_at);
        Ok(())
    }

    /// Unexpired members of `set`, sorted.
    pub fn members(&self, set: &RecordKey, now: u64) -> Vec<PublicKey> {
        self.sets
            .get(set)
            .map(|m| {
                m.iter()
                    .filter(|(_, exp)| **exp > now)
                    .map(|(k, _)| *k)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Drops expired records and memberships.
    pub fn purge_expired(&mut self, now: u64) {
        self.records.retain(|_, m| {
            m.retain(|_, r| r.expires_at() > now);
            !m.is_empty()
        });
        self.sets.retain(|_, m| {
            m.retain(|_, exp| *exp > now);
            !m.is_empty()
        });
    }

    /// Number of records held (expired ones included until purged).
    pub fn len(&self) -> usize {
        self.records.values().map(BTreeMap::len).sum()
    }

    /// Whether the table holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}
