// The node's dashboard: a JSON snapshot from the API, then the event
// stream on top. Every value from the network is set as text, never as
// markup.
"use strict";

const API = "/api/v1";
const MAX_LINKS = 12;
const MAX_BLOCKS = 20;
const MAX_POINTS = 720;

// A snapshot at most this often on share counts (links, samples and
// blocks apply at once).
const SNAPSHOT_EVERY_MS = 15000;

const state = { pool: null, history: [], links: [], refreshing: false, again: false, last: 0, linkEvents: 0 };

const $ = (id) => document.getElementById(id);

function text(id, value) {
  const el = $(id);
  if (el) el.textContent = value;
}

function rate(h) {
  if (typeof h !== "number" || !isFinite(h)) return "–";
  const units = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];
  let i = 0;
  while (h >= 1000 && i < units.length - 1) { h /= 1000; i++; }
  return h.toFixed(h < 10 ? 2 : 1) + " " + units[i];
}

function coins(atoms) {
  const a = BigInt(atoms);
  const whole = a / 100000000n;
  const frac = (a % 100000000n).toString().padStart(8, "0");
  return whole.toString() + "." + frac;
}

function short(id) {
  return id && id.length > 16 ? id.slice(0, 8) + "…" + id.slice(-6) : (id || "–");
}

function cell(row, value, cls) {
  const td = document.createElement("td");
  td.textContent = value;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fill(tableId, rows, build) {
  const body = $(tableId).querySelector("tbody");
  const fresh = document.createElement("tbody");
  for (const r of rows) {
    const tr = document.createElement("tr");
    build(tr, r);
    fresh.appendChild(tr);
  }
  body.replaceWith(fresh);
}

async function json(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || res.status + "");
  return body;
}

function drawChart() {
  const svg = $("chart");
  const points = state.history.slice(-MAX_POINTS);
  svg.setAttribute("data-points", String(points.length));
  if (points.length === 0) return;
  const max = Math.max(1, ...points.map((p) => p.hashrate["1m"]));
  const t0 = points[0].time;
  const span = Math.max(1, points[points.length - 1].time - t0);
  const xy = points.map((p) => {
    const x = points.length === 1 ? 600 : ((p.time - t0) / span) * 600;
    const y = 155 - (p.hashrate["1m"] / max) * 145;
    return x.toFixed(1) + "," + y.toFixed(1);
  });
  if (xy.length === 1) xy.unshift("0," + xy[0].split(",")[1]);
  $("chart-line").setAttribute("points", xy.join(" "));
  text("chart-caption", "Node hashrate, 1 minute average; peak " + rate(max) + ".");
}

function showLinks() {
  fill("links", state.links, (tr, l) => {
    cell(tr, String(l.height), "num");
    cell(tr, short(l.id), "id").title = l.id;
    cell(tr, short(l.payout), "id").title = l.payout;
    cell(tr, String(l.uncles), "num");
    cell(tr, l.block ? "yes" : "");
  });
}

function showPools(pools) {
  fill("pools", pools, (tr, p) => {
    const name = cell(tr, p.name);
    if (p.p2p) {
      const b = document.createElement("span");
      b.className = "badge";
      b.textContent = "P2P";
      b.title = "decentralized: no central server";
      name.appendChild(b);
    }
    cell(tr, short(p.id), "id").title = p.id;
    cell(tr, (p.fee_bps / 100).toFixed(2) + " %", "num");
    cell(tr, p.source + (p.followed ? ", followed" : ""));
    cell(tr, p.stratum_url || "–");
  });
}

function showPool(pool) {
  const s = pool.stratum;
  if (s) {
    text("rate-1m", rate(s.hashrate["1m"]));
    text("rate-15m", rate(s.hashrate["15m"]));
    text("rate-1h", rate(s.hashrate["1h"]));
    text("rate-24h", rate(s.hashrate["24h"]));
    const rejected = Object.values(s.shares_rejected).reduce((a, b) => a + b, 0);
    text("shares", s.shares_accepted + " / " + rejected);
    state.history = s.history || [];
    drawChart();
    fill("miners", s.top_miners || [], (tr, m) => {
      cell(tr, short(m.miner), "id").title = m.miner;
      cell(tr, String(m.workers), "num");
      cell(tr, String(m.shares), "num");
      cell(tr, rate(m.hashrate["15m"]), "num");
    });
  }
  if (pool.hashrate) text("pool-15m", rate(pool.hashrate["15m"]));
  if (pool.chain) {
    text("chain-height", pool.chain.height === null ? "–" : String(pool.chain.height));
    text("chain-links", String(pool.chain.links));
    text("chain-uncles", String(pool.chain.uncles));
    text("chain-tip", pool.chain.tip || "–");
  }
  state.links = (pool.recent_links || []).slice(0, MAX_LINKS);
  showLinks();
}

function showBlocks(blocks) {
  const newest = blocks.slice(-MAX_BLOCKS).reverse();
  fill("blocks", newest, (tr, b) => {
    cell(tr, String(b.height), "num");
    cell(tr, short(b.finder), "id").title = b.finder;
    cell(tr, coins(b.reward), "num");
    const paid = b.coinbase_outputs.length
      ? b.coinbase_outputs.map((o) => o.address + " " + coins(o.atoms))
      : b.split.map((o) => o.payout_id + " " + coins(o.atoms));
    const td = cell(tr, paid.length + " outputs");
    td.title = paid.join("\n");
  });
}

async function refresh() {
  if (state.refreshing) {
    state.again = true;
    return;
  }
  state.refreshing = true;
  state.last = Date.now();
  try {
    const health = await json(API + "/health");
    state.pool = health.pool;
    text("peers", String(health.peers));
    showPools((await json(API + "/pools")).pools);
    if (state.pool) {
      showPool(await json(API + "/pool/" + state.pool));
      showBlocks((await json(API + "/blocks?limit=" + MAX_BLOCKS)).blocks);
    }
    text("status", "live · pool " + short(state.pool) + " · updated " + new Date().toLocaleTimeString());
  } catch (e) {
    text("status", "API unreachable: " + e.message);
  } finally {
    state.refreshing = false;
    if (state.again) {
      state.again = false;
      refresh();
    }
  }
}

function listen(delay) {
  const events = new EventSource(API + "/events");
  events.onopen = () => { delay = 1000; };
  events.addEventListener("link", (e) => {
    const l = JSON.parse(e.data);
    state.linkEvents++;
    document.body.dataset.linkEvents = String(state.linkEvents);
    // Only the best chain's links: a side branch's is not the tip.
    if (!l.best) return;
    state.links = [l, ...state.links.filter((x) => x.id !== l.id && x.height < l.height)]
      .slice(0, MAX_LINKS);
    showLinks();
    text("chain-height", String(l.height));
    text("chain-tip", l.id);
  });
  events.addEventListener("hashrate", (e) => {
    const sample = JSON.parse(e.data);
    state.history.push(sample);
    if (state.history.length > MAX_POINTS) state.history.shift();
    text("rate-1m", rate(sample.hashrate["1m"]));
    text("rate-15m", rate(sample.hashrate["15m"]));
    text("rate-1h", rate(sample.hashrate["1h"]));
    text("rate-24h", rate(sample.hashrate["24h"]));
    drawChart();
  });
  events.addEventListener("block", () => refresh());
  events.addEventListener("shares", () => {
    if (Date.now() - state.last >= SNAPSHOT_EVERY_MS) refresh();
  });
  events.addEventListener("lagged", () => refresh());
  events.onerror = () => {
    text("status", "event stream interrupted; retrying…");
    // A refused stream (503) is closed for good: open a new one later.
    if (events.readyState === EventSource.CLOSED) {
      setTimeout(() => listen(Math.min(delay * 2, 60000)), delay);
    }
  };
}

async function lookup(ev) {
  ev.preventDefault();
  const address = $("me-address").value.trim();
  const out = $("me");
  out.textContent = "";
  if (!address) return;
  try {
    const me = await json(API + "/miner/" + encodeURIComponent(address));
    const share = BigInt(me.window.total) > 0n
      ? (Number((BigInt(me.window.weight) * 10000n) / BigInt(me.window.total)) / 100).toFixed(2) + " %"
      : "–";
    const p = document.createElement("p");
    p.textContent = "Window share " + share + " · next block about " + coins(me.next_block_estimate_atoms) +
      " · paid so far in " + me.paid.length + " blocks: " + coins(me.paid.reduce((a, b) => a + BigInt(b.atoms), 0n));
    out.appendChild(p);
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const h of ["Worker", "Shares", "1 m", "1 h", "Last share"]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = h;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const w of me.workers) {
      const tr = body.insertRow();
      cell(tr, w.worker);
      cell(tr, String(w.shares), "num");
      cell(tr, rate(w.hashrate["1m"]), "num");
      cell(tr, rate(w.hashrate["1h"]), "num");
      cell(tr, w.last_share_secs_ago + " s ago", "num");
    }
    out.appendChild(table);
  } catch (e) {
    out.textContent = "No miner found: " + e.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("me-form").addEventListener("submit", lookup);
  refresh().then(() => listen(1000));
});
