// Mines against a chiral-pool Stratum server through the third-party
// `stratum-client` npm package (protocol handling is theirs; the hashing
// loop is ours). Exits 0 once ACCEPT shares are accepted.
'use strict';
const crypto = require('crypto');
const stratum = require('stratum-client');

const [host, port, want] = [process.argv[2] || '127.0.0.1', Number(process.argv[3] || 3333), Number(process.argv[4] || 3)];
const DIFF1 = 0xffffn << 208n;
const sha256d = (b) => crypto.createHash('sha256').update(crypto.createHash('sha256').update(b).digest()).digest();
const le = (hex) => Buffer.from(hex, 'hex').reverse();
const swapWords = (hex) => {
  const b = Buffer.from(hex, 'hex');
  for (let i = 0; i < 32; i += 4) b.subarray(i, i + 4).reverse();
  return b;
};

let accepted = 0, rejected = 0, work = null, difficulty = 1;
const client = stratum({
  server: host, port, worker: 'interop.node', password: 'x', autoReconnectOnError: false,
  onNewDifficulty: (d) => { difficulty = d; },
  onNewMiningWork: (w) => { work = w; },
  onSubmitWorkSuccess: () => { accepted += 1; console.log(`accepted ${accepted}`); if (accepted >= want) finish(0); },
  onSubmitWorkFail: (e) => { rejected += 1; console.log(`rejected: ${JSON.stringify(e)}`); },
  onError: (e) => { console.error(`error: ${e.message}`); finish(1); },
});

function finish(code) {
  console.log(`done: ${accepted} accepted, ${rejected} rejected`);
  client.shutdown();
  process.exit(code);
}

let en2 = 0;
function mineSome() {
  if (work && work.extraNonce1) {
    const w = work;
    // diff1 * 2^32 / (difficulty * 2^32), in integers as the server does.
    const target = (DIFF1 << 32n) / BigInt(Math.max(1, Math.round(difficulty * 4294967296)));
    const en2hex = (en2++).toString(16).padStart(w.extraNonce2Size * 2, '0');
    const coinbase = Buffer.from(w.coinb1 + w.extraNonce1 + en2hex + w.coinb2, 'hex');
    let root = sha256d(coinbase);
    for (const step of w.merkle_branch) root = sha256d(Buffer.concat([root, Buffer.from(step, 'hex')]));
    const header = Buffer.concat([le(w.version), swapWords(w.prevhash), root, le(w.ntime), le(w.nbits), Buffer.alloc(4)]);
    for (let nonce = 0; nonce < 1 << 18; nonce++) {
      header.writeUInt32LE(nonce, 76);
      const hash = BigInt('0x' + Buffer.from(sha256d(header)).reverse().toString('hex'));
      if (hash <= target) {
        client.submit({ worker_name: 'interop.node', job_id: w.jobId, extranonce2: en2hex, ntime: w.ntime, nonce: nonce.toString(16).padStart(8, '0') });
        break;
      }
    }
  }
  setImmediate(mineSome);
}
setTimeout(() => finish(accepted >= want ? 0 : 1), 120000);
mineSome();
