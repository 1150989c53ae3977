//! The chain tips a node has seen, kept across restarts so shares on older
//! blocks still verify. One line per tip: `<prev hash hex> <bits hex> <height>`.

use std::io::Write;
use std::path::Path;

use chiral_stratum::work::Tip;

/// File name inside the data directory.
pub const FILE: &str = "chain.tips";

/// Most tips kept (validators accept shares on at most this many).
const MAX_TIPS: usize = 256;

/// Reads the tips, oldest first; unreadable lines are skipped.
pub fn load(path: &Path) -> Vec<Tip> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut tips: Vec<Tip> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let mut prev_hash = [0u8; 32];
            hex::decode_to_slice(parts.next()?, &mut prev_hash).ok()?;
            let bits = u32::from_str_radix(parts.next()?, 16).ok()?;
            let height = parts.next()?.parse().ok()?;
            Some(Tip {
                prev_hash,
                bits,
                height,
            })
        })
        .collect();
    tips.dedup_by_key(|t| t.prev_hash);
    let skip = tips.len().saturating_sub(MAX_TIPS);
    tips.split_off(skip)
}

/// Appends a tip (skipped if it is already the last one).
pub fn append(path: &Path, tip: &Tip) -> std::io::Result<()> {
    if load(path)
        .last()
        .is_some_and(|t| t.prev_hash == tip.prev_hash)
    {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(
        f,
        "{} {:08x} {}",
        hex::encode(tip.prev_hash),
        tip.bits,
        tip.height
    )?;
    f.sync_data()
}
