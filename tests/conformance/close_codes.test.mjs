// close_codes.test.mjs: the close codes the server sends and what the real
// client does about them: 4005 (no #handshake in time), 4008 (#handshake
// without a numeric cid), 4009 (another message before the handshake), 1009
// (a message over --max-payload), and the application codes of
// disconnectMe: 4100 (the client reconnects and resubscribes) and 4600 (it
// does not). 4001 is in keepalive.test.mjs.
//
//   SLUICE_APP=... node --test tests/conformance/close_codes.test.mjs
//   SLUICE_TARGET=ref node --test tests/conformance/close_codes.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  cleanup, connectClient, dropClient, handshakenRaw, openRaw, record, rejectsWith, sleep, startApp,
  subscribed, within,
} from './lib.mjs';

const HANDSHAKE_TIMEOUT = 500;
const MAX_PAYLOAD = 1_024;

describe('close codes before the handshake', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'close-handshake', handshakeTimeout: HANDSHAKE_TIMEOUT });
  });

  test(`no #handshake within --handshake-timeout ${HANDSHAKE_TIMEOUT}: 4005`, async () => {
    const t0 = Date.now();
    const raw = await openRaw(app.port, { autoPong: false });
    const { code } = await raw.closed(HANDSHAKE_TIMEOUT + 3_000, 'the close for a missing handshake');
    const elapsed = Date.now() - t0;
    assert.equal(code, 4005);
    assert.ok(elapsed >= HANDSHAKE_TIMEOUT - 100, `closed after ${elapsed} ms`);
    assert.deepEqual(raw.inbox.map((m) => m.text), []);
  });

  test('a handshake sent in time is not closed by the handshake timeout', async () => {
    const { raw } = await handshakenRaw(app.port);
    await sleep(HANDSHAKE_TIMEOUT + 300);
    assert.equal(raw.closeInfo, null, `closed: ${JSON.stringify(raw.closeInfo)}`);
    assert.equal((await raw.invoke('echo', 1)).packet.data, 1);
    raw.close();
  });

  for (const [what, packet] of [
    ['no cid', { event: '#handshake', data: {} }],
    ['a string cid', { event: '#handshake', data: { authToken: null }, cid: '1' }],
  ]) {
    test(`#handshake with ${what}: 4008`, async () => {
      const raw = await openRaw(app.port);
      raw.send(packet);
      const { code } = await raw.closed(3_000, 'the close for a malformed handshake');
      assert.equal(code, 4008);
      assert.deepEqual(raw.inbox.map((m) => m.text), [], 'a reply to a malformed handshake');
    });
  }

  for (const [what, packet] of [
    ['an invoke', { event: 'echo', data: 1, cid: 1 }],
    ['a transmit', { event: 'seq', data: { i: 0 } }],
    ['a #subscribe', { event: '#subscribe', data: { channel: 'x' }, cid: 1 }],
    ['a #publish', { event: '#publish', data: { channel: 'x', data: 1 } }],
    ['a reply', { rid: 1, data: 1 }],
    ['garbage text', 'hello world'],
    ['malformed JSON', '{"event":'],
    ['a pong', ''],
  ]) {
    test(`${what} before the handshake: 4009`, async () => {
      const raw = await openRaw(app.port);
      raw.send(packet);
      const { code } = await raw.closed(3_000, `the close for ${what} before the handshake`);
      assert.equal(code, 4009);
      assert.deepEqual(raw.inbox.map((m) => m.text), [], 'a reply before the handshake');
    });
  }
});

describe(`message size (--max-payload ${MAX_PAYLOAD})`, () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'close-maxpayload', maxPayload: MAX_PAYLOAD });
  });

  test('a message of exactly max-payload bytes is processed', async () => {
    const { raw } = await handshakenRaw(app.port);
    const head = JSON.stringify({ event: 'echo', data: '', cid: 2 });
    const text = JSON.stringify({ event: 'echo', data: 'x'.repeat(MAX_PAYLOAD - head.length), cid: 2 });
    assert.equal(Buffer.byteLength(text), MAX_PAYLOAD);
    raw.send(text);
    assert.equal((await raw.reply(2)).packet.data.length, MAX_PAYLOAD - head.length);
    raw.close();
  });

  test('a message over max-payload closes with 1009', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send({ event: 'echo', data: 'x'.repeat(MAX_PAYLOAD + 1), cid: 2 });
    const { code } = await raw.closed(3_000, 'the close for an oversized message');
    assert.equal(code, 1009);
  });

  test('the real client sees the 1009 disconnect and its pending invoke fails', async () => {
    const { client } = await connectClient(app.port);
    const disconnects = record(client.listener('disconnect'));
    const err = await rejectsWith(client.invoke('echo', 'y'.repeat(2 * MAX_PAYLOAD)), 5_000,
      'an oversized invoke');
    assert.equal(err.name, 'BadConnectionError');
    await disconnects.until(1, 5_000, 'the disconnect event');
    assert.equal(disconnects.items[0].code, 1009);
    dropClient(client);
  });
});

describe('application close codes (disconnectMe)', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'close-app' });
  });

  test('on the wire: the reply {"rid":N,"data":null}, then a close frame with the code and reason', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send({ event: 'disconnectMe', data: { code: 4100, reason: 'later' }, cid: 2 });
    assert.deepEqual((await raw.reply(2)).packet, { rid: 2, data: null });
    assert.deepEqual(await raw.closed(3_000), { code: 4100, reason: 'later' });
  });

  test('4100: the real client reconnects by itself and resubscribes', async () => {
    const { client, status } = await connectClient(app.port);
    const disconnects = record(client.listener('disconnect'));
    const connects = record(client.listener('connect'));
    const ch = record(await subscribed(client, 'after-reconnect'));
    assert.equal(await client.invoke('disconnectMe', { code: 4100, reason: 'later' }), null);
    await disconnects.until(1, 5_000, 'the 4100 disconnect');
    assert.deepEqual(disconnects.items[0], { code: 4100, reason: 'later' });
    await connects.until(1, 10_000, 'the reconnect');
    assert.notEqual(client.id, status.id, 'the same socket id after a reconnect');
    // the client sends #subscribe again for its channels; wait for it
    const channel = client.channel('after-reconnect');
    if (!channel.isSubscribed()) {
      await within(5_000, 'the resubscription', channel.listener('subscribe').once());
    }
    assert.equal(await client.invoke('echo', 'back'), 'back');
    assert.equal(await client.invoke('publish', { channel: 'after-reconnect', data: 'hi again' }), null);
    await ch.until(1, 5_000, 'a message on the resubscribed channel');
    assert.deepEqual(ch.items, ['hi again']);
    dropClient(client);
  });

  test('4600: the real client does not reconnect', async () => {
    const { client } = await connectClient(app.port);
    const disconnects = record(client.listener('disconnect'));
    const connects = record(client.listener('connect'));
    const connecting = record(client.listener('connecting'));
    assert.equal(await client.invoke('disconnectMe', { code: 4600, reason: 'forever' }), null);
    await disconnects.until(1, 5_000, 'the 4600 disconnect');
    assert.deepEqual(disconnects.items[0], { code: 4600, reason: 'forever' });
    await sleep(1_500);
    assert.equal(client.state, 'closed');
    assert.equal(client.pendingReconnect, false);
    assert.deepEqual(connects.items, [], 'the client reconnected after 4600');
    assert.deepEqual(connecting.items, [], 'the client tried to reconnect after 4600');
    dropClient(client);
  });
});
