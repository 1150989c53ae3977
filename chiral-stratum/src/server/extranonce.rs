//! Extranonce1 allocation and resumable sessions (`mining.subscribe` with
//! a session id).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// Most remembered session ids for resume.
const MAX_RESUMABLE: usize = 65_536;

/// Resumable sessions: id -> extranonce1, with insertion order for
/// eviction.
type Resumable = (HashMap<String, [u8; 4]>, VecDeque<String>);

/// The extranonce1 values in use and the sessions that may be resumed.
pub(crate) struct Extranonces {
    next: Mutex<u32>,
    in_use: Mutex<HashSet<[u8; 4]>>,
    resumable: Mutex<Resumable>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each update is a single insert or remove: a panic elsewhere cannot
    // leave one half done.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Extranonces {
    /// Allocation starts at a random value, so restarts do not hand out
    /// the same extranonces in the same order.
    pub fn new() -> Self {
        Extranonces {
            next: Mutex::new(rand::random()),
            in_use: Mutex::default(),
            resumable: Mutex::default(),
        }
    }

    /// A free extranonce1, now in use.
    pub fn allocate(&self) -> [u8; 4] {
        let mut in_use = lock(&self.in_use);
        let mut next = lock(&self.next);
        loop {
            let candidate = next.to_be_bytes();
            *next = next.wrapping_add(1);
            if in_use.insert(candidate) {
                return candidate;
            }
        }
    }

    /// Frees an extranonce1 when its connection closes.
    pub fn release(&self, en1: [u8; 4]) {
        lock(&self.in_use).remove(&en1);
    }

    /// The extranonce1 of a resumable session if it is free; swaps it in
    /// for `current`.
    pub fn resume(&self, sid: &str, current: [u8; 4]) -> Option<[u8; 4]> {
        let en1 = *lock(&self.resumable).0.get(sid)?;
        let mut in_use = lock(&self.in_use);
        if en1 == current || !in_use.insert(en1) {
            return None;
        }
        in_use.remove(&current);
        Some(en1)
    }

    /// Remembers a session id for a later resume (the oldest are forgotten
    /// past [`MAX_RESUMABLE`]).
    pub fn remember(&self, sid: &str, en1: [u8; 4]) {
        let mut r = lock(&self.resumable);
        if r.0.insert(sid.to_owned(), en1).is_none() {
            r.1.push_back(sid.to_owned());
            while r.1.len() > MAX_RESUMABLE {
                if let Some(old) = r.1.pop_front() {
                    r.0.remove(&old);
                }
            }
        }
    }
}
