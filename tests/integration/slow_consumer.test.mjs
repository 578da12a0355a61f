// slow_consumer.test.mjs: a client that asks for echoes but never reads them
// must not grow the server's memory past --outbound-limit, must be
// disconnected (close 4100, or a dropped connection when not even the close
// frame fits), and must not slow down anyone else.
//
//   SLUICED=build/release/broker/sluiced node --test tests/integration/slow_consumer.test.mjs
//   SLUICE_TARGET=ref node --test tests/integration/slow_consumer.test.mjs
//
// The flood is 200 binary messages of 1 MiB on a raw socket that is paused
// from the handshake on. It respects TCP backpressure (write, then wait for
// 'drain'), so it stops by itself when the server stops reading; it also
// stops after 3 s without progress. The server's RSS is sampled from
// /proc/<pid>/status during the flood, and its growth over the baseline must
// stay below 4 x the limit + 64 MiB: far below the 200 MiB the server would
// hold if it buffered every echo. Meanwhile a second, well-behaved client
// echoes small messages back to back and each round trip must finish.
// Finally the flooder starts reading and must find the connection closed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  FrameReader, KiB, MiB, OP, closed, encodeFrame, nextMessage, openWs, rawWebSocket, rssBytes,
  startServer, within,
} from './lib.mjs';

const OUTBOUND_LIMIT = 8 * MiB;
const RSS_GROWTH_BOUND = 4 * OUTBOUND_LIMIT + 64 * MiB;
const FLOOD_MESSAGES = 200;
const MESSAGE = MiB;
const STALL_MS = 3_000;
const ROUND_TRIP_MS = 2_000;

let srv;
before(async () => {
  // sluiced slows a client that sends faster than it reads (it stops taking
  // its requests) and cuts off one that takes nothing for --send-timeout
  srv = await startServer({
    name: 'slow_consumer', outboundLimit: OUTBOUND_LIMIT, maxPayload: 2 * MiB,
    sluicedArgs: ['--send-timeout', '1000'],
  });
});
after(() => srv.kill());

// Write the flood, honouring backpressure. Resolves with how many messages
// went out and why it stopped: 'done', 'stalled' or 'dropped'.
async function flood(sock) {
  // An all-zero mask key leaves the payload as is: one buffer serves every
  // frame, and the frame is still a legal masked client frame.
  const frame = encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(MESSAGE, 0x5a), key: Buffer.alloc(4) });
  let dropped = false;
  const gone = new Promise((resolve) => sock.once('close', () => { dropped = true; resolve(); }));
  for (let i = 0; i < FLOOD_MESSAGES; i++) {
    if (dropped) return { sent: i, why: 'dropped' };
    if (sock.write(frame)) continue;
    let timer;
    const stalled = await Promise.race([
      new Promise((resolve) => sock.once('drain', () => resolve(false))),
      gone.then(() => false),
      new Promise((resolve) => { timer = setTimeout(() => resolve(true), STALL_MS); }),
    ]);
    clearTimeout(timer);
    if (stalled) return { sent: i + 1, why: 'stalled' };
  }
  return { sent: FLOOD_MESSAGES, why: dropped ? 'dropped' : 'done' };
}

// Echo small messages one after another until `stop` resolves; resolves
// with the round trips done and the slowest one in ms.
async function wellBehaved(ws, stop) {
  let stopped = false;
  stop.then(() => { stopped = true; });
  let n = 0;
  let slowest = 0;
  while (!stopped && n < 100_000) {
    const t0 = Date.now();
    const got = nextMessage(ws);
    ws.send(`ping ${n}`);
    const m = await within(ROUND_TRIP_MS, `round trip ${n} of the well-behaved client`, got);
    assert.equal(m.data.toString(), `ping ${n}`);
    slowest = Math.max(slowest, Date.now() - t0);
    n++;
  }
  return { n, slowest };
}

test('a client that never reads is cut off at the outbound limit; others are served',
  { timeout: 60_000 }, async (t) => {
    const other = await openWs(srv.url);
    other.send(Buffer.alloc(64 * KiB)); // warm the server's buffers before the baseline
    await nextMessage(other);
    const baseline = rssBytes(srv.pid);

    const { sock, rest } = await rawWebSocket(srv.port);
    sock.pause();
    sock.on('error', () => {}); // a reset is one of the allowed outcomes

    let peak = baseline;
    const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(srv.pid)); }, 50);
    let flooded;
    const floodDone = flood(sock).then((r) => { flooded = r; });
    let served;
    try {
      served = await wellBehaved(other, floodDone);
      await floodDone;
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rssBytes(srv.pid));
    t.diagnostic(`flood: ${flooded.sent} MiB written, ${flooded.why}; server RSS ` +
      `${(baseline / MiB).toFixed(1)} -> peak ${(peak / MiB).toFixed(1)} MiB; ` +
      `other client: ${served.n} round trips, slowest ${served.slowest} ms`);

    assert.ok(peak - baseline <= RSS_GROWTH_BOUND,
      `server RSS grew by ${((peak - baseline) / MiB).toFixed(1)} MiB, bound ` +
      `${RSS_GROWTH_BOUND / MiB} MiB with --outbound-limit ${OUTBOUND_LIMIT / MiB} MiB`);
    assert.ok(served.n > 0, 'the well-behaved client got no echo during the flood');

    // Start reading: whatever echoes were queued may come, then the
    // connection must end, with 4100 if the server could send its close.
    const reader = new FrameReader(sock, rest);
    const res = await reader.untilClose(15_000);
    assert.ok(!res.timedOut, `the server kept the slow consumer connected: it read ${res.before.length} ` +
      'echoes, then nothing for 15 s');
    t.diagnostic(`flooder read ${res.before.length} echoes, then close ${res.code ?? '(none: dropped)'}`);
    assert.ok(res.code === null || res.code === 4100, `closed with ${res.code} (${res.reason})`);
    assert.ok(res.tcpClosed, 'the server kept the slow consumer connected');
    assert.ok(res.before.length < FLOOD_MESSAGES, 'the server echoed the whole flood: no limit applied');

    // the server is still fine for the well-behaved client
    other.send('after');
    assert.equal((await nextMessage(other)).data.toString(), 'after');
    other.close(1000);
    assert.equal((await closed(other)).code, 1000);
  });
