// echo_mixed.test.mjs: 100,000 messages over 50 concurrent connections come
// back byte-exact, with their type, in the order they were sent.
//
//   SLUICED=build/release/broker/sluiced node --test tests/integration/echo_mixed.test.mjs
//   SLUICE_TARGET=ref node --test tests/integration/echo_mixed.test.mjs
//   SLUICE_SEED=<n> replays one run's schedule (the seed is in every failure message).
//
// Each connection has its own schedule drawn from a seeded PRNG: text or
// binary, whole or split into 2-4 fragments at random byte offsets (so text
// fragments often split a UTF-8 character, which the server's incremental
// validator must accept), and a size from this mix (about 550 MiB each way
// in all; the reference server echoes it in under 10 s on 2 cores):
//   90%  0 B - 1 KiB     uniform
//    9%  1 KiB - 64 KiB  log-uniform
//    1%  64 KiB - 1 MiB  log-uniform
// plus, on every connection, the sizes where the frame length encoding
// changes (125/126/127, 65535/65536/65537) and exactly 1 MiB (exact for
// binary; a text slice ends on a character boundary, up to 3 bytes short).
//
// Up to 64 messages (and 4 MiB) are in flight per connection, so the server
// sees pipelined frames, and a FIFO of what was sent checks each echo.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  KiB, MiB, closed, openWs, prng, startServer, utf8Pool, utf8Slice, within,
} from './lib.mjs';

const CONNECTIONS = 50;
const MESSAGES = 100_000;
const PER_CONN = MESSAGES / CONNECTIONS;
const WINDOW = 64;
const WINDOW_BYTES = 4 * MiB;
const BOUNDARY_SIZES = [0, 1, 125, 126, 127, 65_535, 65_536, 65_537, MiB];
const SEED = Number(process.env.SLUICE_SEED || 20240611);
const DEADLINE_MS = 240_000;

function drawSize(rand) {
  const r = rand();
  const logUniform = (lo, hi) => Math.floor(lo * Math.exp(rand() * Math.log(hi / lo)));
  if (r < 0.9) return Math.floor(rand() * (KiB + 1));
  if (r < 0.99) return logUniform(KiB, 64 * KiB);
  return logUniform(64 * KiB, MiB);
}

// A connection's messages: payloads are views into shared pools (no copy),
// so the expected bytes cost no memory of their own.
function schedule(conn, binPool, textPool) {
  const rand = prng(SEED + conn);
  const sizes = [...BOUNDARY_SIZES];
  while (sizes.length < PER_CONN) sizes.push(drawSize(rand));
  return sizes.map((size, i) => {
    const binary = rand() < 0.5;
    const pool = binary ? binPool : textPool;
    const start = Math.floor(rand() * (pool.length - size));
    const payload = binary ? pool.subarray(start, start + size) : utf8Slice(pool, start, size);
    const cuts = [];
    if (rand() < 0.2) {
      const pieces = 2 + Math.floor(rand() * 3);
      for (let k = 1; k < pieces; k++) cuts.push(Math.floor(rand() * (payload.length + 1)));
      cuts.sort((x, y) => x - y);
    }
    return { i, binary, payload, cuts };
  });
}

function send(ws, m) {
  if (m.cuts.length === 0) {
    ws.send(m.payload, { binary: m.binary });
    return;
  }
  let from = 0;
  for (const cut of m.cuts) {
    ws.send(m.payload.subarray(from, cut), { binary: m.binary, fin: false });
    from = cut;
  }
  ws.send(m.payload.subarray(from), { binary: m.binary, fin: true });
}

// Run one connection's schedule; resolves with the bytes echoed.
function runConnection(ws, conn, msgs) {
  return new Promise((resolve, reject) => {
    const fifo = [];
    let next = 0;
    let inflightBytes = 0;
    let received = 0;
    let bytes = 0;
    const fail = (why) => {
      ws.terminate();
      reject(new Error(`seed ${SEED}, connection ${conn}: ${why}`));
    };
    const pump = () => {
      while (next < msgs.length && fifo.length < WINDOW &&
             (fifo.length === 0 || inflightBytes + msgs[next].payload.length <= WINDOW_BYTES)) {
        const m = msgs[next++];
        fifo.push(m);
        inflightBytes += m.payload.length;
        send(ws, m);
      }
    };
    ws.on('message', (data, isBinary) => {
      const m = fifo.shift();
      if (!m) return fail(`an echo of ${data.length} bytes that was never sent`);
      const what = `message ${m.i} (${m.binary ? 'binary' : 'text'}, ${m.payload.length} B, ` +
        `cuts ${JSON.stringify(m.cuts)})`;
      if (isBinary !== m.binary) return fail(`${what} came back as ${isBinary ? 'binary' : 'text'}`);
      if (!data.equals(m.payload)) return fail(`${what} came back as ${data.length} other bytes`);
      inflightBytes -= m.payload.length;
      bytes += data.length;
      if (++received === msgs.length) return resolve(bytes);
      pump();
    });
    ws.on('close', (code) => {
      if (received < msgs.length) fail(`closed with ${code} after ${received} of ${msgs.length} echoes`);
    });
    ws.on('error', (err) => fail(err.message));
    pump();
  });
}

let srv;
before(async () => {
  srv = await startServer({ name: 'echo_mixed', maxPayload: MiB + 64 * KiB, reactors: 2, workers: 2 });
});
after(() => srv.kill());

test(`${MESSAGES} mixed messages over ${CONNECTIONS} connections echo byte-exact and in order`,
  { timeout: DEADLINE_MS + 10_000 }, async (t) => {
    const rand = prng(SEED);
    const binPool = randomBytes(2 * MiB + 64 * KiB);
    const textPool = utf8Pool(2 * MiB + 64 * KiB, rand);
    const sockets = await Promise.all(Array.from({ length: CONNECTIONS }, () => openWs(srv.url)));
    const t0 = Date.now();
    const echoed = await within(DEADLINE_MS, 'every echo', Promise.all(sockets.map(
      (ws, c) => runConnection(ws, c, schedule(c, binPool, textPool)))));
    const total = echoed.reduce((a, x) => a + x, 0);
    const secs = (Date.now() - t0) / 1000;
    t.diagnostic(`${MESSAGES} echoes, ${(total / MiB).toFixed(1)} MiB, ${secs.toFixed(1)} s`);
    const codes = await Promise.all(sockets.map((ws) => {
      const done = closed(ws);
      ws.close(1000);
      return done;
    }));
    assert.deepEqual(codes.map((c) => c.code), Array(CONNECTIONS).fill(1000));
  });
