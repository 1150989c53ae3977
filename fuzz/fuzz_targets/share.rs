//! Any bytes as a share: decoding and the full validator must reject,
//! never panic.
#![no_main]

use chiral_pool_core::ids::PoolId;
use chiral_pool_core::pow::CompactTarget;
use chiral_pool_core::share::{Share, ShareValidator, ShareValidatorConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(share) = Share::from_bytes(data) {
        let mut v = ShareValidator::new(PoolId::from_bytes([3; 32]), ShareValidatorConfig::new());
        let _ = v.add_tip([1; 32], CompactTarget::from_consensus(0x207fffff));
        let _ = v.add_tip(*share.header.prev_hash(), share.header.bits());
        let _ = v.accept(&share);
        let _ = v.accept(&share);
    }
});
