// handshake.test.mjs: the #handshake exchange, seen by the real client and
// on the wire; connection counting (the `stats` procedure); a second
// #handshake on an open socket.
//
//   SLUICE_APP=build/release/examples/sluice-example-app node --test tests/conformance/handshake.test.mjs
//   SLUICE_TARGET=ref node --test tests/conformance/handshake.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  IS_REF, cleanup, connectClient, dropClient, handshakenRaw, openRaw, startApp, waitFor,
} from './lib.mjs';

const PING_TIMEOUT = 12_345;

describe('handshake', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'handshake', pingTimeout: PING_TIMEOUT });
  });

  test('the real client connects: id, the configured pingTimeout, not authenticated', async () => {
    const { client, status } = await connectClient(app.port);
    assert.equal(typeof status.id, 'string');
    assert.ok(status.id.length > 0, 'empty socket id');
    assert.equal(status.pingTimeout, PING_TIMEOUT);
    assert.equal(status.isAuthenticated, false);
    assert.equal(status.authError, undefined, 'authError without a token');
    assert.equal(client.state, 'open');
    assert.equal(client.id, status.id);
    assert.equal(client.pingTimeout, PING_TIMEOUT);
    assert.equal(client.authState, 'unauthenticated');
    assert.deepEqual(await client.invoke('echo', 'after the handshake'), 'after the handshake');
    dropClient(client);
  });

  test('the handshake reply on the wire: {"rid":1,"data":{"id","pingTimeout","isAuthenticated"}} in a text frame', async () => {
    const raw = await openRaw(app.port);
    raw.send({ event: '#handshake', data: { authToken: null }, cid: 1 });
    const m = await raw.reply(1);
    assert.equal(m.isBinary, false, 'the reply came in a binary frame');
    assert.deepEqual(Object.keys(m.packet).sort(), ['data', 'rid']);
    assert.deepEqual(Object.keys(m.packet.data).sort(), ['id', 'isAuthenticated', 'pingTimeout']);
    assert.equal(typeof m.packet.data.id, 'string');
    assert.deepEqual(m.packet, {
      rid: 1, data: { id: m.packet.data.id, pingTimeout: PING_TIMEOUT, isAuthenticated: false },
    });
    raw.close();
  });

  test('a handshake without data, or with an empty object, or a cid other than 1, is answered alike', async () => {
    for (const packet of [{ event: '#handshake', cid: 1 }, { event: '#handshake', data: {}, cid: 7 }]) {
      const raw = await openRaw(app.port);
      raw.send(packet);
      const m = await raw.reply(packet.cid);
      assert.deepEqual(m.packet, {
        rid: packet.cid, data: { id: m.packet.data.id, pingTimeout: PING_TIMEOUT, isAuthenticated: false },
      }, JSON.stringify(packet));
      raw.close();
    }
  });

  test('socket ids are distinct', async () => {
    const ids = new Set();
    for (let i = 0; i < 20; i++) {
      const { raw, status } = await handshakenRaw(app.port);
      ids.add(status.id);
      raw.close();
    }
    assert.equal(ids.size, 20);
  });

  test('an invoke pipelined right behind the handshake (no wait) is answered after it', async () => {
    const raw = await openRaw(app.port);
    raw.send({ event: '#handshake', data: { authToken: null }, cid: 1 });
    raw.send({ event: 'echo', data: { pipelined: true }, cid: 2 });
    const hs = await raw.reply(1);
    assert.equal(typeof hs.packet.data.id, 'string');
    assert.deepEqual((await raw.reply(2)).packet, { rid: 2, data: { pipelined: true } });
    raw.close();
  });
});

describe('connection counting (stats)', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'handshake-stats' });
  });

  test('one connection per handshake, one disconnection per close; a socket closed before its handshake counts neither', async () => {
    const { client } = await connectClient(app.port);
    assert.deepEqual(await client.invoke('stats'),
      { connections: 1, disconnections: 0, subscriptions: 0, unsubscriptions: 0 });

    // a WebSocket that never sends #handshake
    const raw = await openRaw(app.port);
    raw.close();

    const second = await connectClient(app.port);
    assert.deepEqual(await second.client.invoke('stats'),
      { connections: 2, disconnections: 0, subscriptions: 0, unsubscriptions: 0 });
    dropClient(second.client);

    const s = await waitFor(async () => {
      const st = await client.invoke('stats');
      return st.disconnections >= 1 && st;
    }, 5_000, 'the disconnection to be counted');
    assert.deepEqual(s, { connections: 2, disconnections: 1, subscriptions: 0, unsubscriptions: 0 });
    dropClient(client);
  });

  test('a second #handshake on an open socket leaves it usable' +
    (IS_REF ? ' (the reference counts it twice: not asserted)' : ' and does not count it twice'), async () => {
    const { raw } = await handshakenRaw(app.port);
    const before = (await raw.invoke('stats')).packet.data;
    raw.send({ event: '#handshake', data: { authToken: null }, cid: raw.nextCid() });
    // whatever the answer to the second #handshake, the socket stays usable
    assert.deepEqual((await raw.invoke('echo', 'still here')).packet.data, 'still here');
    const afterStats = (await raw.invoke('stats')).packet.data;
    if (!IS_REF) {
      assert.equal(afterStats.connections, before.connections,
        'a second #handshake registered the socket again');
    }
    assert.equal(raw.closeInfo, null);
    raw.close();
  });
});
