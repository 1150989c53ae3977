//! The performance report: every headline figure next to a baseline
//! measured in the same run, printed as a table and, on the last line, as
//! one JSON object keyed by figure.
//!
//! `cargo run --release --example perf_report` (a few minutes; `--quick`
//! for a shorter run, `--only stratum,dht` for some sections). The Stratum
//! load runs its clients in a child process so both sides get their own
//! file-descriptor budget; `CHIRAL_PERF_STRATUM="conns:rate,..."` replaces
//! its scenarios (rate 0 is closed loop).

use std::collections::BTreeMap;
use std::time::Instant;

use clap::Parser;

mod api;
mod dht;
mod journal;
mod payout;
mod records;
mod sharechain;
mod shares;
mod stratum;

use api::api_figures;
use dht::dht_figures;
use journal::journal_figures;
use payout::{coinbase_figures, payout_figures};
use records::record_figures;
use sharechain::{gossip_figures, sharechain_figures};
use shares::share_figures;
use stratum::{load_client, stratum_figures};

#[derive(Parser, Debug)]
struct Args {
    /// Shorter measurements.
    #[arg(long)]
    quick: bool,
    /// Run only these sections (comma separated: share, payout, record,
    /// stratum, api, dht, journal, sharechain, gossip).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Internal: run as the Stratum load client against this address.
    #[arg(long, hide = true)]
    load_client: Option<String>,
    /// Internal: connections of the load client.
    #[arg(long, hide = true, default_value_t = 1000)]
    connections: usize,
    /// Internal: seconds of load.
    #[arg(long, hide = true, default_value_t = 5)]
    seconds: u64,
    /// Internal: offered submits per second in total (0: closed loop).
    #[arg(long, hide = true, default_value_t = 0.0)]
    rate: f64,
}

struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    baseline: Option<f64>,
    ratio: Option<f64>,
    goal: String,
    note: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs `a` and `b` alternately `rounds` times; returns their median rates
/// in items per second.
fn paired(rounds: usize, items: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        a();
        ra.push(items as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        b();
        rb.push(items as f64 / t.elapsed().as_secs_f64());
    }
    (median(ra), median(rb))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(addr) = args.load_client {
        runtime.block_on(load_client(addr, args.connections, args.seconds, args.rate));
        return;
    }
    let wants = |section: &str| args.only.is_empty() || args.only.iter().any(|s| s == section);
    let mut figs = Vec::new();
    let mut one_core = None;
    if wants("share") {
        eprintln!("measuring share validation...");
        share_figures(&mut figs, args.quick);
        one_core = figs.first().map(|f| f.value);
    }
    if wants("payout") {
        eprintln!("measuring payouts...");
        payout_figures(&mut figs, args.quick);
        coinbase_figures(&mut figs, args.quick);
    }
    if wants("record") {
        eprintln!("measuring records...");
        record_figures(&mut figs, args.quick);
    }
    if wants("stratum") {
        eprintln!("measuring stratum load...");
        runtime.block_on(stratum_figures(&mut figs, one_core, args.quick));
    }
    if wants("api") {
        eprintln!("measuring the Stratum path with the API watched...");
        runtime.block_on(api_figures(&mut figs, args.quick));
    }
    if wants("journal") {
        eprintln!("measuring the share journal at start-up...");
        journal_figures(&mut figs, args.quick);
    }
    if wants("sharechain") {
        eprintln!("measuring the share chain...");
        sharechain_figures(&mut figs, args.quick);
    }
    if wants("gossip") {
        eprintln!("measuring link gossip on 20 nodes...");
        runtime.block_on(gossip_figures(&mut figs, args.quick));
    }
    if wants("dht") {
        eprintln!("measuring the 50-node DHT...");
        runtime.block_on(dht_figures(&mut figs, args.quick));
    }
    println!(
        "{:<32} {:>14} {:<38} {:>12} {:>8}  goal / note",
        "figure", "value", "unit", "baseline", "ratio"
    );
    let mut json = BTreeMap::new();
    for f in &figs {
        println!(
            "{:<32} {:>14.3} {:<38} {:>12} {:>8}  {} | {}",
            f.name,
            f.value,
            f.unit,
            f.baseline.map_or("-".into(), |b| format!("{b:.3}")),
            f.ratio.map_or("-".into(), |r| format!("{r:.3}")),
            f.goal,
            f.note
        );
        json.insert(
            f.name.as_str(),
            serde_json::json!({"value": f.value, "unit": f.unit, "baseline": f.baseline, "ratio": f.ratio, "goal": f.goal}),
        );
    }
    println!("{}", serde_json::to_string(&json).unwrap_or_default());
}
