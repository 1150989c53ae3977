#!/usr/bin/env bash
# Interoperability check: a Stratum V1 client nobody here wrote (the
# `stratum-client` npm package) mines against our node's Stratum server and
# must get shares accepted. Skips, saying so, where node/npm are missing or
# the package cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIP: node and npm are needed for the third-party Stratum client"
  exit 0
fi
work=$(mktemp -d)
trap 'kill "${node_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
if ! (cd "$work" && npm install --silent --no-audit --no-fund stratum-client@1.1.0 >/dev/null 2>&1); then
  echo "SKIP: could not install stratum-client from the npm registry"
  exit 0
fi
cp scripts/interop/stratum_client_miner.js "$work/"

port=${PORT:-3391}
cargo build --release --example node
./target/release/examples/node --stratum "127.0.0.1:$port" --status-every 5 >"$work/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 50); do
  grep -q "^stratum:" "$work/node.log" && break
  sleep 0.2
done
(cd "$work" && node stratum_client_miner.js 127.0.0.1 "$port" 5)
echo "PASS: the third-party client got shares accepted; node status:"
grep -E "accepted" "$work/node.log" | tail -1 || true
