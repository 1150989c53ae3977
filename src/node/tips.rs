//! The chain tips a node has seen, kept across restarts so shares on older
//! blocks still verify. One line per tip: `<prev hash hex> <bits hex> <height>`.

use std::io::Write;
use std::path::Path;

use chiral_pool_core::chain::Tip;
use chiral_pool_core::pow::CompactTarget;

/// File name inside the data directory.
pub const FILE: &str = "chain.tips";

/// Most tips kept (validators accept shares on at most this many).
pub const MAX_TIPS: usize = 256;

/// Reads the tips, oldest first; unreadable lines are skipped.
pub fn load(path: &Path) -> Vec<Tip> {
    let mut tips = read_all(path);
    let skip = tips.len().saturating_sub(MAX_TIPS);
    tips.split_off(skip)
}

/// Every readable tip in the file, oldest first.
fn read_all(path: &Path) -> Vec<Tip> {
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
                bits: CompactTarget::from_consensus(bits),
                height,
            })
        })
        .collect();
    tips.dedup_by_key(|t| t.prev_hash);
    tips
}

fn line(tip: &Tip) -> String {
    format!(
        "{} {:08x} {}\n",
        hex::encode(tip.prev_hash),
        tip.bits.to_consensus(),
        tip.height
    )
}

/// Appends a tip (skipped if it is already the last one). Once the file
/// holds twice [`MAX_TIPS`] tips it is rewritten with the newest ones, so
/// it stays bounded however long the node runs.
pub fn append(path: &Path, tip: &Tip) -> std::io::Result<()> {
    let all = read_all(path);
    if all.last().is_some_and(|t| t.prev_hash == tip.prev_hash) {
        return Ok(());
    }
    if all.len() + 1 > 2 * MAX_TIPS {
        // Write the kept tips beside the file and rename over it: a crash
        // leaves either the old file or the new one, never half of one.
        let keep = &all[all.len() + 1 - MAX_TIPS..];
        let text: String = keep.iter().chain([tip]).map(line).collect();
        let tmp = path.with_extension("tips.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        return std::fs::rename(&tmp, path);
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(line(tip).as_bytes())?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tip(i: u32) -> Tip {
        let mut prev_hash = [0u8; 32];
        prev_hash[..4].copy_from_slice(&i.to_le_bytes());
        Tip {
            prev_hash,
            bits: CompactTarget::from_consensus(0x1d00ffff),
            height: i,
        }
    }

    #[test]
    fn the_file_stays_bounded_and_keeps_the_newest_tips() {
        let dir = std::env::temp_dir().join(format!("chiral-tips-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(FILE);
        for i in 0..700 {
            append(&path, &tip(i)).expect("append");
            // The same tip again is not a second line.
            append(&path, &tip(i)).expect("append");
        }
        let lines = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count();
        assert!(lines <= 2 * MAX_TIPS, "{lines} lines");
        let kept = load(&path);
        assert_eq!(kept.len(), MAX_TIPS);
        assert_eq!(kept.first().map(|t| t.height), Some(700 - MAX_TIPS as u32));
        assert_eq!(kept.last().map(|t| t.height), Some(699));
        let _ = std::fs::remove_dir_all(dir);
    }
}
