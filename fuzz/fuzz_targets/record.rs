//! Any bytes as a record: decoding and verification must reject, never panic.
#![no_main]

use chiral_pool_core::record::{select_best, SignedRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = SignedRecord::from_bytes(data) {
        let _ = record.verify(1_000_000);
        let _ = record.pool_announcement();
        let _ = select_best([&record], 1_000_000);
        let _ = SignedRecord::from_bytes(&record.to_bytes());
    }
});
