#!/usr/bin/env bash
# Mines a real `bitcoind -regtest` with a chiral-pool node and the CPU
# miner, then checks with `getblock` that a block the pool found pays its
# window in the coinbase (the miner's address, the owner's fee, the pool's
# commitment last). Needs bitcoind and bitcoin-cli on PATH; without them it
# says so and exits 0 (nothing was checked).
set -euo pipefail

if ! command -v bitcoind >/dev/null || ! command -v bitcoin-cli >/dev/null; then
    echo "SKIP: bitcoind and bitcoin-cli are not on PATH; nothing was checked"
    exit 0
fi

cd "$(dirname "$0")/.."
dir=$(mktemp -d)
rpcport=18643
stratum=127.0.0.1:13343
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    bitcoin-cli -regtest -datadir="$dir" -rpcport=$rpcport stop >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
cli() { bitcoin-cli -regtest -datadir="$dir" -rpcport=$rpcport "$@"; }

bitcoind -regtest -datadir="$dir" -rpcport=$rpcport -port=18644 -listen=0 \
    -fallbackfee=0.0001 -printtoconsole=0 &
pids+=($!)
for _ in $(seq 100); do cli getblockcount >/dev/null 2>&1 && break; sleep 0.2; done
cli -named createwallet wallet_name=pool >/dev/null
owner=$(cli getnewaddress owner bech32)
miner=$(cli getnewaddress miner bech32)
# One block so the node leaves initial block download.
cli generatetoaddress 1 "$owner" >/dev/null
start=$(cli getblockcount)

cargo build --release --example node --example miner
./target/release/examples/node --bitcoind "http://127.0.0.1:$rpcport" \
    --rpc-cookie "$dir/regtest/.cookie" --network regtest --address "$owner" \
    --stratum "$stratum" --status-every 5 > "$dir/node.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^pool: ' "$dir/node.log" && break; sleep 0.2; done
./target/release/examples/miner --pool "$stratum" --user "$miner.rig1" --duration 120 \
    > "$dir/miner.log" 2>&1 &
pids+=($!)

for _ in $(seq 240); do
    [ "$(cli getblockcount)" -gt "$start" ] && break
    sleep 0.5
done
height=$(cli getblockcount)
if [ "$height" -le "$start" ]; then
    echo "FAIL: bitcoind accepted no block from the pool"
    tail -20 "$dir/node.log"
    exit 1
fi
hash=$(cli getblockhash $((start + 1)))
block=$(cli getblock "$hash" 2)
python3 - "$miner" "$owner" <<PY
import json, sys
block = json.loads('''$block''')
miner, owner = sys.argv[1], sys.argv[2]
coinbase = block["tx"][0]
outs = coinbase["vout"]
paid = {o["scriptPubKey"].get("address"): o["value"] for o in outs if o["value"] > 0}
last = outs[-1]["scriptPubKey"]["hex"]
assert last.startswith("6a") and "4348524c7632" in last, "the pool's commitment is the last output"
assert miner in paid, f"the miner is paid: {paid}"
assert owner in paid, f"the owner's fee is paid: {paid}"
print(f"OK: block {block['height']} ({block['hash'][:16]}...) pays {paid}")
PY
