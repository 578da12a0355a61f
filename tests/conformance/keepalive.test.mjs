// keepalive.test.mjs: pings and pongs with short timers (--ping-interval
// 200 --ping-timeout 600): an idle connection lives on, a busy one too
// (the client's timer is reset by pings only, so pings must keep flowing
// while data does); a socket that never answers is closed with 4001;
// protocol v1 pings are `#1`, answered `#2`.
//
//   SLUICE_APP=... node --test tests/conformance/keepalive.test.mjs
//   SLUICE_TARGET=ref node --test tests/conformance/keepalive.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  cleanup, connectClient, dropClient, handshakenRaw, record, sleep, startApp,
} from './lib.mjs';

const PING_INTERVAL = 200;
const PING_TIMEOUT = 600;
const HOLD = 2_000; // more than 3 x PING_TIMEOUT

// Watch a client for anything that ends or restarts its connection.
function watch(client) {
  const ends = [];
  for (const name of ['disconnect', 'connectAbort', 'close', 'connect']) {
    (async () => {
      for await (const e of client.listener(name)) ends.push({ name, ...e });
    })();
  }
  let pings = 0;
  const ping = client.protocolVersion === 1 ? '#1' : '';
  (async () => {
    for await (const { message } of client.listener('message')) if (message === ping) pings++;
  })();
  return { ends, pings: () => pings };
}

describe('keep-alive, protocol v2', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'keepalive', pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT });
  });

  test(`an idle real client stays connected for ${HOLD} ms (> 3 x pingTimeout)`, async () => {
    const { client, status } = await connectClient(app.port);
    assert.equal(status.pingTimeout, PING_TIMEOUT);
    const w = watch(client);
    await sleep(HOLD);
    assert.deepEqual(w.ends, [], 'the connection ended or restarted');
    assert.equal(client.state, 'open');
    assert.equal(client.id, status.id);
    assert.ok(w.pings() >= HOLD / PING_INTERVAL / 2,
      `only ${w.pings()} pings in ${HOLD} ms with a ${PING_INTERVAL} ms interval`);
    dropClient(client);
  });

  test(`a busy real client (transmitting and receiving without pause for ${HOLD} ms) stays connected`, async () => {
    const { client, status } = await connectClient(app.port);
    const w = watch(client);
    const back = record(client.receiver('busy'));
    let sent = 0;
    let echoed = 0;
    let backRequested = 0;
    const end = Date.now() + HOLD;
    while (Date.now() < end) {
      for (let j = 0; j < 20; j++) client.transmit('seq', { i: sent++ });
      if (echoed < 2_000) {
        const got = await client.invoke('echo', { n: echoed });
        assert.deepEqual(got, { n: echoed });
        echoed++;
      }
      if (backRequested < 200) {
        backRequested += 10;
        await client.invoke('transmitBack', { event: 'busy', data: 'x'.repeat(100), count: 10 });
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(w.ends, [], 'the busy connection ended or restarted');
    assert.equal(client.id, status.id);
    assert.ok(w.pings() >= HOLD / PING_INTERVAL / 2,
      `only ${w.pings()} pings in ${HOLD} ms on a busy connection`);
    assert.deepEqual(await client.invoke('seqStatus'), { count: sent, ordered: true });
    await back.until(backRequested, 5_000, 'the transmitBack events');
    dropClient(client);
  });

  test('a raw socket answering each ping with "" stays open; pings are empty text frames', async () => {
    const { raw } = await handshakenRaw(app.port);
    await sleep(HOLD);
    assert.equal(raw.closeInfo, null, `closed: ${JSON.stringify(raw.closeInfo)}`);
    assert.ok(raw.pings >= HOLD / PING_INTERVAL / 2, `only ${raw.pings} pings`);
    assert.ok(raw.all.every((m) => !m.isBinary), 'the server sent a binary frame');
    assert.deepEqual((await raw.invoke('echo', 1)).packet, { rid: 2, data: 1 });
    raw.close();
  });

  test('a raw socket that never answers a ping but keeps sending other messages stays open', async () => {
    const { raw } = await handshakenRaw(app.port, { autoPong: false });
    const end = Date.now() + HOLD;
    let i = 0;
    while (Date.now() < end) {
      raw.transmit('seq', { i: i++ });
      await sleep(100);
    }
    assert.equal(raw.closeInfo, null, `closed: ${JSON.stringify(raw.closeInfo)}`);
    assert.deepEqual((await raw.invoke('seqStatus')).packet.data, { count: i, ordered: true });
    raw.close();
  });

  test('a raw socket that never answers pings is closed with 4001', async () => {
    const { raw } = await handshakenRaw(app.port, { autoPong: false });
    const t0 = Date.now();
    const { code } = await raw.closed(PING_TIMEOUT + 3_000, 'the close for a missing pong');
    const elapsed = Date.now() - t0;
    assert.equal(code, 4001);
    assert.ok(raw.pings >= 1, 'closed without having sent a ping');
    assert.ok(elapsed >= PING_TIMEOUT - 150, `closed after ${elapsed} ms, before pingTimeout ${PING_TIMEOUT}`);
  });
});

describe('keep-alive, protocol v1 (--protocol-version 1)', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({
      name: 'keepalive-v1', protocolVersion: 1, pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT,
    });
  });

  test(`a real client with protocolVersion 1 stays connected for ${HOLD} ms`, async () => {
    const { client, status } = await connectClient(app.port, { protocolVersion: 1 });
    const w = watch(client);
    await sleep(HOLD);
    assert.deepEqual(w.ends, [], 'the v1 connection ended or restarted');
    assert.equal(client.id, status.id);
    assert.ok(w.pings() >= HOLD / PING_INTERVAL / 2, `only ${w.pings()} #1 pings`);
    assert.deepEqual(await client.invoke('echo', [1, 2]), [1, 2]);
    dropClient(client);
  });

  test('a raw socket sees "#1" pings; answering "#2" keeps it open', async () => {
    const { raw } = await handshakenRaw(app.port, { protocolVersion: 1 });
    await sleep(HOLD);
    assert.equal(raw.closeInfo, null, `closed: ${JSON.stringify(raw.closeInfo)}`);
    assert.ok(raw.pings >= HOLD / PING_INTERVAL / 2, `only ${raw.pings} "#1" pings`);
    assert.ok(!raw.all.some((m) => m.text === ''), 'an empty (v2) ping on a v1 server');
    assert.deepEqual(raw.inbox.map((m) => m.text), [], 'unexpected messages');
    raw.close();
  });

  test('a raw socket that never answers "#1" is closed with 4001', async () => {
    const { raw } = await handshakenRaw(app.port, { protocolVersion: 1, autoPong: false });
    const { code } = await raw.closed(PING_TIMEOUT + 3_000, 'the close for a missing #2');
    assert.equal(code, 4001);
    assert.ok(raw.pings >= 1, 'closed without having sent "#1"');
  });
});
