//! Writes the seed corpora of the fuzz targets (fuzz/seeds/*). Run with
//! `cargo test -p chiral-pool-core --test fuzz_seeds -- --ignored`.

mod common;

use std::path::PathBuf;

use chiral_pool_core::identity::Keypair;
use chiral_pool_core::pool::PoolAnnouncement;
use chiral_pool_core::record::SignedRecord;
use common::{Fixture, DIFF1_BITS};

fn dir(target: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    std::fs::create_dir_all(&d).expect("corpus dir");
    d
}

#[test]
#[ignore = "writes files; run by hand to refresh the fuzz seeds"]
fn write_fuzz_seeds() {
    let kp = Keypair::from_secret_bytes([5; 32]);
    let ann = PoolAnnouncement::new(
        kp.public(),
        "seed",
        "stratum+tcp://127.0.0.1:3333",
        999_000,
        1_001_000,
    );
    let rec = SignedRecord::pool(&kp, &ann, 1).expect("signs");
    std::fs::write(dir("record").join("pool"), rec.to_bytes()).expect("write");

    let f = Fixture::new(DIFF1_BITS);
    let share = f.share("alice", 1);
    std::fs::write(
        dir("share").join("valid"),
        share.to_bytes().expect("encodes"),
    )
    .expect("write");

    let lines = [
        r#"{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5",null]}"#,
        r#"{"id":"a","method":"mining.authorize","params":["alice.rig","x"]}"#,
        r#"{"id":3,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000"}]}"#,
        r#"{"id":4,"method":"mining.submit","params":["alice.rig","1","00000000","6b00312d","cbddcfd8","00002000"]}"#,
        r#"{"id":null,"method":"mining.notify","params":["1","f3ac2cd2cbac0b00e023fcb1f17d779b6c70c2293f91d6c600b9cc130ee28f95","0100","ffff",["8ca032427414d1635f20a235b70bbf6922b64335044cc5b1c77fada3f5a1d143"],"20000000","1d00ffff","6b00312d",true]}"#,
        r#"{"id":5,"result":true,"error":null}"#,
    ];
    for (i, l) in lines.iter().enumerate() {
        std::fs::write(dir("stratum_line").join(format!("line{i}")), l).expect("write");
    }
}
