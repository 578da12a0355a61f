// flood-publisher.mjs: the flood of flow_flood.test.mjs, in a process of
// its own (the test starts it under `nice -n 10`, so that on a 2-core
// machine this client side takes CPU from the server as little as possible:
// the test measures the server's isolation of RPC clients from a flood,
// not how this process competes with them).
//
//   node flood-publisher.mjs '{"url":"ws://127.0.0.1:PORT/socketcluster/","clients":50,
//        "channel":"flood","size":100,"window":6000,"maxMs":30000}'
//
// It opens a witness subscriber of `channel`, then `clients` publishers,
// prints {"ready":...} and waits for "go" on stdin. Then every publisher
// publishes (no acks) as fast as its socket takes it, until "stop" on stdin
// or maxMs. Bounds, so that this process stays bounded and the witness is
// never a slow consumer itself:
//   - a publisher writes only while ws.bufferedAmount < 64 KiB;
//   - all publishers together are at most `window` messages ahead of what
//     the witness received (the test sizes sluiced's outbound limits so a
//     queue of `window` messages fits).
// After the stop it waits until every publisher's bytes left, closes the
// publishers (1000), waits until the witness received every publish, and
// prints {"done":{"sent","perClient","witness","outOfOrder","repeated",
// "firstBad","floodMs"}}; the
// witness stays subscribed until "exit" on stdin (or 60 s). Every wait is
// bounded; on failure it prints {"error":...} and exits 1.
import readline from 'node:readline';
import WebSocket from 'ws';

const cfg = {
  clients: 50, channel: 'flood', size: 100, window: 6000, maxMs: 30_000, high: 64 * 1024,
  batch: 20, ...JSON.parse(process.argv[2] || '{}'),
};
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, ms, cond) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(5);
  }
}

// A handshaken ws; onMessage gets every text message after the handshake.
async function connect(onMessage = () => {}) {
  const ws = new WebSocket(cfg.url, { perMessageDeflate: false, handshakeTimeout: 10_000 });
  ws.on('error', () => {});
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let handshaken;
  const hs = new Promise((resolve) => { handshaken = resolve; });
  ws.on('message', (data) => {
    if (data.length === 0) return ws.send(''); // a ping
    if (handshaken) {
      const h = handshaken;
      handshaken = null;
      return h(JSON.parse(data.toString()));
    }
    return onMessage(data);
  });
  ws.send(JSON.stringify({ event: '#handshake', data: { authToken: null }, cid: 1 }));
  const reply = await Promise.race([hs, sleep(10_000).then(() => { throw new Error('no handshake reply'); })]);
  return { ws, id: reply.data.id };
}

async function main() {
  // the witness: counts the channel's publishes, per publisher in order
  let witnessed = 0;
  let outOfOrder = 0;
  let repeated = 0;
  const firstBad = [];
  let subscribed;
  const subAck = new Promise((resolve) => { subscribed = resolve; });
  const next = new Array(cfg.clients).fill(0);
  const witness = await connect((data) => {
    const p = JSON.parse(data.toString());
    if (p.rid === 2) return subscribed();
    if (p.event !== '#publish' || p.data.channel !== cfg.channel) return undefined;
    const { c, n } = p.data.data;
    if (n !== next[c]) {
      outOfOrder++;
      if (n < next[c]) repeated++; // seen before (or an earlier one after a later one)
      if (firstBad.length < 5) firstBad.push({ c, got: n, want: next[c] });
    }
    next[c] = Math.max(next[c], n + 1);
    witnessed++;
    return undefined;
  });
  witness.ws.send(JSON.stringify({ event: '#subscribe', data: { channel: cfg.channel }, cid: 2 }));
  await Promise.race([subAck, sleep(10_000).then(() => { throw new Error('no subscribe ack'); })]);

  const pubs = [];
  for (let c = 0; c < cfg.clients; c++) pubs.push(await connect());
  say({ ready: { witness: witness.id, publishers: pubs.map((p) => p.id) } });

  const lines = readline.createInterface({ input: process.stdin });
  let go, leave;
  let stop = false;
  const started = new Promise((resolve) => { go = resolve; });
  const left = new Promise((resolve) => { leave = resolve; });
  lines.on('line', (line) => {
    if (line === 'go') go();
    if (line === 'stop') stop = true;
    if (line === 'exit') leave();
  });
  lines.on('close', () => { stop = true; go(); leave(); }); // the test went away
  await started;

  const pad = 'x'.repeat(Math.max(0, cfg.size - 60));
  const sent = new Array(cfg.clients).fill(0);
  let total = 0;
  const t0 = Date.now();
  let lastReport = t0;
  while (!stop && Date.now() - t0 < cfg.maxMs) {
    let wrote = 0;
    for (let c = 0; c < cfg.clients; c++) {
      const { ws } = pubs[c];
      if (ws.readyState !== WebSocket.OPEN) throw new Error(`publisher ${c} was closed`);
      for (let k = 0; k < cfg.batch && ws.bufferedAmount < cfg.high &&
        total - witnessed < cfg.window; k++) {
        ws.send(`{"event":"#publish","data":{"channel":"${cfg.channel}","data":{"c":${c},"n":${sent[c]},"p":"${pad}"}}}`);
        sent[c]++;
        total++;
        wrote++;
      }
    }
    if (Date.now() - lastReport >= 100) {
      lastReport = Date.now();
      say({ progress: { sent: total, witness: witnessed } });
    }
    // let the sockets write and the witness read: at once when something
    // went out, after a millisecond when every publisher had to wait
    await new Promise((resolve) => (wrote ? setImmediate(resolve) : setTimeout(resolve, 1)));
  }
  const floodMs = Date.now() - t0;

  await until('the publishers\' bytes to leave', 15_000,
    () => pubs.every(({ ws }) => ws.bufferedAmount === 0));
  await Promise.all(pubs.map(({ ws }) => new Promise((resolve) => {
    ws.once('close', resolve);
    ws.close(1000);
  })));
  await until(`the witness to get all ${total} publishes (has ${witnessed})`, 20_000,
    () => witnessed >= total);
  await sleep(200); // nothing more may come
  say({ done: { sent: total, perClient: sent, witness: witnessed, outOfOrder, repeated, firstBad, floodMs } });
  // the witness keeps the channel (and its figures) until the test has looked
  await Promise.race([left, sleep(60_000)]);
  await new Promise((resolve) => {
    witness.ws.once('close', resolve);
    witness.ws.close(1000);
  });
  lines.close();
}

main().then(() => process.exit(0), (err) => {
  say({ error: err.message });
  process.exit(1);
});
