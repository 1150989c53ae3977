//! Any bytes as a Stratum line: the message parser and the notify reader
//! must answer with an error, never panic.
#![no_main]

use chiral_stratum::job::JobParams;
use chiral_stratum::wire::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(msg) = Message::parse(line) {
        let _ = msg.to_line();
        if let Message::Request { params, .. } | Message::Notification { params, .. } = &msg {
            if let Ok(job) = JobParams::from_params(params) {
                let coinbase = job.coinbase(&[0; 4], &[0; 4]);
                let _ = job.header(&coinbase, job.template.time, 0, job.template.version as u32);
                let _ = job.to_params();
            }
        }
    }
});
