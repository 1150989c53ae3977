#!/usr/bin/env bash
# Several hosts on one machine: three network namespaces joined by a bridge
# that lives in a fourth namespace (nothing touches the host's own network).
# Host 1 announces a pool; hosts 2 and 3 join through it; a fresh client on
# host 3 discovers the pool; then host 1's link is cut and the pool must
# still be discoverable through host 2. Skips, saying so, where namespaces
# cannot be created.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1 || ! ip netns add cpn-check 2>/dev/null; then
  echo "SKIP: network namespaces cannot be created here (needs root and iproute2)"
  exit 0
fi
ip netns del cpn-check
cargo build --release --example node --example discover 2>/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for n in cpn-hub cpn-h1 cpn-h2 cpn-h3; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add cpn-hub
ip netns exec cpn-hub ip link add br0 type bridge
ip netns exec cpn-hub ip link set br0 up
for i in 1 2 3; do
  ns=cpn-h$i
  ip netns add "$ns"
  ip link add "veth$i" netns "$ns" type veth peer name "port$i" netns cpn-hub
  ip netns exec cpn-hub ip link set "port$i" master br0 up
  ip netns exec "$ns" ip addr add "10.77.0.$i/24" dev "veth$i"
  ip netns exec "$ns" ip link set "veth$i" up
  ip netns exec "$ns" ip link set lo up
done

node=./target/release/examples/node
discover=./target/release/examples/discover
ip netns exec cpn-h1 "$node" --listen /ip4/10.77.0.1/tcp/4001 --stratum 10.77.0.1:3333 --announce netns-pool --status-every 2 >"$work/h1.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do grep -q "^peer id:" "$work/h1.log" && break; sleep 0.2; done
peer1=$(grep "^peer id:" "$work/h1.log" | awk '{print $3}')
ip netns exec cpn-h2 "$node" --listen /ip4/10.77.0.2/tcp/4001 --bootstrap "/ip4/10.77.0.1/tcp/4001/p2p/$peer1" --status-every 2 >"$work/h2.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do grep -q "^peer id:" "$work/h2.log" && break; sleep 0.2; done
peer2=$(grep "^peer id:" "$work/h2.log" | awk '{print $3}')
ip netns exec cpn-h3 "$node" --listen /ip4/10.77.0.3/tcp/4001 --bootstrap "/ip4/10.77.0.1/tcp/4001/p2p/$peer1" --status-every 2 >"$work/h3.log" 2>&1 &
pids+=($!)
sleep 6

echo "host 3 discovers through host 1:"
ip netns exec cpn-h3 "$discover" --bootstrap "/ip4/10.77.0.1/tcp/4001/p2p/$peer1" | tee "$work/d1.txt"
grep -q "netns-pool" "$work/d1.txt" || { echo "FAIL: pool not found across hosts"; exit 1; }

echo "cutting host 1's link"
ip netns exec cpn-hub ip link set port1 down
echo "host 3 discovers through host 2:"
ip netns exec cpn-h3 "$discover" --bootstrap "/ip4/10.77.0.2/tcp/4001/p2p/$peer2" | tee "$work/d2.txt"
grep -q "netns-pool" "$work/d2.txt" || { echo "FAIL: pool lost when host 1 went away"; exit 1; }
grep "following pool" "$work/h2.log" "$work/h3.log" || true
echo "PASS: hosts in separate namespaces find each other's pool, also with one host cut off"
