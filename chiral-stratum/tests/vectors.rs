//! The notify -> submit -> header path against vectors computed by an
//! independent implementation (shared with chiral-pool-core's tests).

use chiral_stratum::job::{roll_version, JobParams};
use chiral_stratum::wire::u32_param;
use serde_json::Value;

fn cases() -> Vec<Value> {
    let doc: Value = serde_json::from_str(include_str!(
        "../../chiral-pool-core/tests/vectors/stratum_v1.json"
    ))
    .expect("valid json");
    doc["cases"].as_array().expect("cases").clone()
}

#[test]
fn submits_rebuild_the_expected_headers() {
    let cases = cases();
    assert!(cases
        .iter()
        .any(|c| !c["notify"][4].as_array().expect("branch").is_empty()));
    assert!(cases.iter().any(|c| !c["version_mask"].is_null()));
    for case in cases {
        let job = JobParams::from_params(&case["notify"]).expect("valid notify");
        assert_eq!(job.to_params(), case["notify"], "notify round trip");
        let en1 = hex::decode(case["extranonce1"].as_str().expect("hex")).expect("hex");
        let submit = case["submit"].as_array().expect("submit");
        let en2 = hex::decode(submit[2].as_str().expect("hex")).expect("hex");
        let ntime = u32_param(&submit[3]).expect("ntime");
        let nonce = u32_param(&submit[4]).expect("nonce");
        let job_version = job.template.version as u32;
        let version = match (submit.get(5), case["version_mask"].as_str()) {
            (Some(bits), Some(mask)) => {
                let mask = u32::from_str_radix(mask, 16).expect("mask");
                roll_version(job_version, u32_param(bits).expect("bits"), mask)
                    .expect("inside mask")
            }
            _ => job_version,
        };
        let coinbase = job.coinbase(&en1, &en2);
        let header = job.header(&coinbase, ntime, nonce, version);
        assert_eq!(hex::encode(header.to_bytes()), case["expected_header_hex"]);
    }
}

#[test]
fn version_bits_outside_the_mask_are_refused() {
    assert_eq!(
        roll_version(0x2000_0000, 0x0000_2000, 0x1fff_e000),
        Some(0x2000_2000)
    );
    assert_eq!(roll_version(0x2000_0000, 0x0000_0001, 0x1fff_e000), None);
    assert_eq!(roll_version(0x2000_0000, 0x4000_0000, 0x1fff_e000), None);
}
