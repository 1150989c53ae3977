//! The Stratum latency baseline: a line server that answers every line
//! with a canned reply, without parsing, validating or hashing. Same
//! runtime, same framing, same loopback; what Stratum costs is the
//! difference. Shared by the criterion bench and the perf report.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

const SUBSCRIBED: &str = r#"{"id":1,"result":[[],"00000000",4],"error":null}"#;
const AUTHORIZED: &str = r#"{"id":2,"result":true,"error":null}"#;
const NOTIFY: &str = concat!(
    r#"{"id":null,"method":"mining.notify","params":["1","#,
    r#""0000000000000000000000000000000000000000000000000000000000000000","00","00",[],"#,
    r#""20000000","1d00ffff","65000000",true]}"#
);
const ACCEPTED: &str = r#"{"id":9,"result":true,"error":null}"#;

/// Serves `listener` until the task is dropped: subscribe and authorize
/// get the replies a miner expects (plus one job), every other line gets
/// `result: true`.
pub async fn echo_server(listener: tokio::net::TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let (r, mut w) = stream.into_split();
            let mut lines = tokio::io::BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = if line.contains("mining.subscribe") {
                    format!("{SUBSCRIBED}\n")
                } else if line.contains("mining.authorize") {
                    format!("{AUTHORIZED}\n{NOTIFY}\n")
                } else {
                    format!("{ACCEPTED}\n")
                };
                if w.write_all(reply.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
}
