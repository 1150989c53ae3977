//! No input panics the wire decoders; messages round-trip.

use chiral_stratum::job::JobParams;
use chiral_stratum::wire::Message;
use proptest::prelude::*;
use serde_json::{json, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[0-9a-f]{0,80}".prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 10, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..10).prop_map(Value::Array),
            prop::collection::btree_map("[a-z._-]{1,12}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_lines_never_panic(line in ".{0,300}") {
        let _ = Message::parse(&line);
    }

    #[test]
    fn arbitrary_json_never_panics_the_notify_reader(v in json_value()) {
        let _ = JobParams::from_params(&v);
        let line = json!({"id": 1, "method": "mining.notify", "params": v}).to_string();
        let _ = Message::parse(&line);
    }

    #[test]
    fn requests_round_trip(id in prop_oneof![any::<u32>().prop_map(Value::from), "[a-z0-9]{1,8}".prop_map(Value::from)],
                           method in "[a-z.]{1,24}", params in json_value()) {
        let m = Message::Request { id, method, params };
        prop_assert_eq!(Message::parse(&m.to_line()).expect("parses"), m);
    }
}
