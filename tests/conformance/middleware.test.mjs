// middleware.test.mjs: the app's test middlewares (--middleware), every
// block and transform, with the real client and on the wire; and the same
// events without --middleware, where nothing is blocked or changed.
//
//   HANDSHAKE_WS  ?wsReject=1            the upgrade is refused (HTTP 401)
//   HANDSHAKE_SC  ?scReject=1            error reply HandshakeRejectedError,
//                                        then close 4321 (its statusCode)
//   INBOUND_RAW   "rawBlock" / "rawSwap" the message is dropped / rewritten
//   INVOKE        mwBlock, mwSilent, mwTransform, mwAsync, mwAsyncBlock
//   TRANSMIT      data {"drop": true}    not delivered to the receiver
//   SUBSCRIBE     forbidden/..., silent/...
//   PUBLISH_IN    readonly, upper
//   PUBLISH_OUT   vip: only to sockets whose token has "vip": true
//   AUTHENTICATE  a token with "banned": true (#handshake and #authenticate)
//
//   SLUICE_APP=... node --test tests/conformance/middleware.test.mjs
//   SLUICE_TARGET=ref node --test tests/conformance/middleware.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  cleanup, connectClient, createClient, dropClient, handshakenRaw, jwt, memoryAuthEngine,
  openRaw, record, rejectsWith, signToken, startApp, subscribed, upgradeResponse, waitFor, within,
} from './lib.mjs';

const KEY = 'sluice-conformance-middleware-key';

const isEvent = (name) => (m) => m.packet && !Array.isArray(m.packet) && m.packet.event === name;
const isPublishOn = (channel) => (m) => isEvent('#publish')(m) && m.packet.data &&
  m.packet.data.channel === channel;

// What socketcluster-server 20.0.1 sends for a silent block: the message
// names the action type and the middleware type; `type` is the middleware
// type ("inbound" for invoke, subscribe, publishIn, transmit, authenticate).
const silentError = (action) => ({
  message: `The ${action} AGAction was blocked by inbound middleware`,
  name: 'SilentMiddlewareBlockedError',
  type: 'inbound',
});
const MW_BLOCKED = { message: 'blocked by middleware', name: 'MwBlockedError' };

// Every name/data pair the INVOKE middleware acts on; the app's procedures
// of these names echo their data.
const MW_PROCEDURES = ['mwBlock', 'mwSilent', 'mwTransform', 'mwAsync', 'mwAsyncBlock'];

describe('middleware', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'middleware', middleware: true, authKey: KEY });
  });

  // ---- INVOKE

  test('invoke mwBlock: {"rid":N,"error":{"message":"blocked by middleware","name":"MwBlockedError"}}', async () => {
    const { raw } = await handshakenRaw(app.port);
    const m = await raw.invoke('mwBlock', { x: 1 });
    assert.deepEqual(m.packet, { rid: raw.cid, error: MW_BLOCKED });
    raw.close();

    const { client } = await connectClient(app.port);
    const err = await rejectsWith(client.invoke('mwBlock', 1), 5_000, 'invoke mwBlock');
    assert.equal(err.name, 'MwBlockedError');
    assert.equal(err.message, 'blocked by middleware');
    assert.equal(await client.invoke('echo', 'still usable'), 'still usable');
    dropClient(client);
  });

  test('invoke mwSilent: SilentMiddlewareBlockedError {"message","name","type":"inbound"}', async () => {
    const { raw } = await handshakenRaw(app.port);
    const m = await raw.invoke('mwSilent', 'hush');
    assert.deepEqual(m.packet, { rid: raw.cid, error: silentError('invoke') });
    raw.close();

    const { client } = await connectClient(app.port);
    const err = await rejectsWith(client.invoke('mwSilent', 1), 5_000, 'invoke mwSilent');
    assert.equal(err.name, 'SilentMiddlewareBlockedError');
    assert.equal(err.type, 'inbound');
    dropClient(client);
  });

  test('invoke mwTransform: the procedure gets {"transformed": data}', async () => {
    const { client } = await connectClient(app.port);
    assert.deepEqual(await client.invoke('mwTransform', { a: [1, 'b'] }), { transformed: { a: [1, 'b'] } });
    assert.deepEqual(await client.invoke('mwTransform', 'text'), { transformed: 'text' });
    assert.deepEqual(await client.invoke('mwTransform', null), { transformed: null });
    // other procedures are untouched
    assert.deepEqual(await client.invoke('echo', { a: 1 }), { a: 1 });
    dropClient(client);
  });

  test('invoke mwAsync / mwAsyncBlock: decided about 50 ms later (allowed / MwBlockedError)', async () => {
    const { raw } = await handshakenRaw(app.port);
    let t0 = Date.now();
    const ok = await raw.invoke('mwAsync', { late: true });
    assert.ok(Date.now() - t0 >= 40, `mwAsync answered after ${Date.now() - t0} ms`);
    assert.deepEqual(ok.packet, { rid: raw.cid, data: { late: true } });
    t0 = Date.now();
    const blocked = await raw.invoke('mwAsyncBlock', 1);
    assert.ok(Date.now() - t0 >= 40, `mwAsyncBlock answered after ${Date.now() - t0} ms`);
    assert.deepEqual(blocked.packet, { rid: raw.cid, error: MW_BLOCKED });
    raw.close();
  });

  test('a hook that answers later keeps the socket\'s packets in order; another socket is not held up', async () => {
    const { raw: a } = await handshakenRaw(app.port);
    const { raw: b } = await handshakenRaw(app.port);
    a.send({ event: 'mwAsync', data: 'first', cid: 2 });
    a.send({ event: 'echo', data: 'second', cid: 3 });
    a.send({ event: 'mwAsyncBlock', data: 'third', cid: 4 });
    a.send({ event: 'echo', data: 'fourth', cid: 5 });
    b.send({ event: 'echo', data: 'other socket', cid: 2 });
    assert.deepEqual((await b.reply(2)).packet, { rid: 2, data: 'other socket' });
    assert.deepEqual(a.inbox.map((m) => m.text), [],
      'the other socket\'s echo waited for this socket\'s pending hook');
    await waitFor(() => a.inbox.length >= 4, 5_000, () => `the 4 replies (got ${a.inbox.length})`);
    assert.deepEqual(a.inbox.map((m) => m.packet), [
      { rid: 2, data: 'first' },
      { rid: 3, data: 'second' },
      { rid: 4, error: MW_BLOCKED },
      { rid: 5, data: 'fourth' },
    ]);
    a.close();
    b.close();

    // the real client: both invokes at once, the echo is answered second
    const { client } = await connectClient(app.port);
    const order = [];
    await Promise.all([
      client.invoke('mwAsync', 'slow').then((v) => order.push(v)),
      client.invoke('echo', 'fast').then((v) => order.push(v)),
    ]);
    assert.deepEqual(order, ['slow', 'fast']);
    dropClient(client);
  });

  // ---- TRANSMIT

  test('transmit with data {"drop":true} is blocked: seqStatus does not count it', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.transmit('seq', { i: 0 });
    raw.transmit('seq', { i: 1, drop: true });
    raw.transmit('seq', { i: 1 });
    raw.transmit('seq', { i: 2, drop: false });
    raw.transmit('seq', { i: 99, drop: true });
    assert.deepEqual((await raw.invoke('seqStatus')).packet.data, { count: 3, ordered: true });
    await raw.quiet(100, () => true, 'an answer to a blocked transmit');
    raw.close();

    const { client } = await connectClient(app.port);
    for (let i = 0; i < 10; i++) {
      client.transmit('seq', { i });
      client.transmit('seq', { i: -1, drop: true });
    }
    assert.deepEqual(await client.invoke('seqStatus'), { count: 10, ordered: true });
    dropClient(client);
  });

  // ---- SUBSCRIBE

  test('subscribe forbidden/...: {"rid":N,"error":{"message":"forbidden","name":"ForbiddenChannelError"}}; not subscribed', async () => {
    const { raw } = await handshakenRaw(app.port);
    const m = await raw.invoke('#subscribe', { channel: 'forbidden/x' });
    assert.deepEqual(m.packet, { rid: raw.cid, error: { message: 'forbidden', name: 'ForbiddenChannelError' } });
    assert.deepEqual((await raw.invoke('#subscribe', { channel: 'allowed/x' })).packet, { rid: raw.cid });
    assert.equal((await raw.invoke('publish', { channel: 'forbidden/x', data: 'no' })).packet.data, null);
    assert.equal((await raw.invoke('publish', { channel: 'allowed/x', data: 'yes' })).packet.data, null);
    await raw.take(isPublishOn('allowed/x'), 5_000, 'the message on the allowed channel');
    await raw.quiet(100, isPublishOn('forbidden/x'), 'a delivery on the forbidden channel');
    raw.close();

    const { client } = await connectClient(app.port);
    const ch = client.subscribe('forbidden/y');
    const fail = await within(5_000, 'subscribeFail', ch.listener('subscribeFail').once());
    assert.equal(fail.error.name, 'ForbiddenChannelError');
    assert.equal(fail.error.message, 'forbidden');
    assert.equal(client.isSubscribed('forbidden/y', true), false);
    dropClient(client);
  });

  test('subscribe silent/...: SilentMiddlewareBlockedError (type "inbound"); not subscribed', async () => {
    const { raw } = await handshakenRaw(app.port);
    const m = await raw.invoke('#subscribe', { channel: 'silent/x' });
    assert.deepEqual(m.packet, { rid: raw.cid, error: silentError('subscribe') });
    raw.close();

    const { client } = await connectClient(app.port);
    const before = (await client.invoke('stats')).subscriptions;
    const ch = client.subscribe('silent/y');
    const fail = await within(5_000, 'subscribeFail', ch.listener('subscribeFail').once());
    assert.equal(fail.error.name, 'SilentMiddlewareBlockedError');
    assert.equal(fail.error.type, 'inbound');
    assert.equal((await client.invoke('stats')).subscriptions, before, 'a blocked subscription was counted');
    dropClient(client);
  });

  // ---- PUBLISH_IN

  test('publish to readonly: ReadOnlyError "read only" to the publisher, nothing to subscribers; the server may still publish there', async () => {
    const { client: sub } = await connectClient(app.port);
    const ro = record(await subscribed(sub, 'readonly'));
    const { raw } = await handshakenRaw(app.port);
    const m = await raw.invoke('#publish', { channel: 'readonly', data: 'client' });
    assert.deepEqual(m.packet, { rid: raw.cid, error: { message: 'read only', name: 'ReadOnlyError' } });
    raw.transmit('#publish', { channel: 'readonly', data: 'client, no cid' });

    const { client: pub } = await connectClient(app.port);
    const err = await rejectsWith(pub.invokePublish('readonly', 'client 2'), 5_000, 'invokePublish readonly');
    assert.equal(err.name, 'ReadOnlyError');
    assert.equal(err.message, 'read only');
    // the server-side publish procedure is not a client publish
    assert.equal(await pub.invoke('publish', { channel: 'readonly', data: 'server' }), null);
    await ro.until(1, 5_000, 'the server\'s message on readonly');
    await raw.quiet(100, () => true, 'an answer to the transmitPublish');
    assert.deepEqual(ro.items, ['server']);
    raw.close();
    dropClient(pub);
    dropClient(sub);
  });

  test('publish to upper: every subscriber gets the string upper-cased', async () => {
    const { client: a } = await connectClient(app.port);
    const { client: b } = await connectClient(app.port);
    const ca = record(await subscribed(a, 'upper'));
    const cb = record(await subscribed(b, 'upper'));
    await a.invokePublish('upper', 'hello');
    b.transmitPublish('upper', 'mixed Case 1');
    await ca.until(2, 5_000, 'a\'s messages');
    await cb.until(2, 5_000, 'b\'s messages');
    assert.deepEqual(ca.items, ['HELLO', 'MIXED CASE 1']);
    assert.deepEqual(cb.items, ['HELLO', 'MIXED CASE 1']);

    const { raw } = await handshakenRaw(app.port);
    assert.deepEqual((await raw.invoke('#subscribe', { channel: 'upper' })).packet, { rid: raw.cid });
    assert.deepEqual((await raw.invoke('#publish', { channel: 'upper', data: 'wire' })).packet, { rid: raw.cid });
    const d = await raw.take(isPublishOn('upper'), 5_000, 'the delivery on upper');
    assert.deepEqual(d.packet, { event: '#publish', data: { channel: 'upper', data: 'WIRE' } });
    raw.close();
    dropClient(a);
    dropClient(b);
  });

  // ---- PUBLISH_OUT

  test('publish on vip: delivered only to subscribers whose token has "vip": true; the others are skipped silently', async () => {
    const { client: vip } = await connectClient(app.port);
    await vip.invoke('login', { user: 'v', vip: true });
    const { client: plain } = await connectClient(app.port);
    await plain.invoke('login', { user: 'p', vip: false });
    const { client: anon } = await connectClient(app.port);
    const { raw } = await handshakenRaw(app.port); // anonymous, on the wire
    await waitFor(() => vip.authState === 'authenticated' && plain.authState === 'authenticated', 5_000,
      'both logins');

    const seen = new Map();
    for (const [name, c] of [['vip', vip], ['plain', plain], ['anon', anon]]) {
      seen.set(name, {
        vip: record(await subscribed(c, 'vip')),
        after: record(await subscribed(c, 'after-vip')),
        errors: record(c.listener('error')),
      });
    }
    for (const ch of ['vip', 'after-vip']) {
      assert.deepEqual((await raw.invoke('#subscribe', { channel: ch })).packet, { rid: raw.cid });
    }

    // a client publish (the publisher gets no error) and a server publish
    assert.equal(await anon.invokePublish('vip', 'for vips 1'), undefined);
    assert.equal(await plain.invoke('publish', { channel: 'vip', data: 'for vips 2' }), null);
    await anon.invokePublish('after-vip', 'sentinel');

    for (const [name, s] of seen) {
      await s.after.until(1, 5_000, `${name}: the sentinel`);
    }
    await raw.take(isPublishOn('after-vip'), 5_000, 'the raw socket\'s sentinel');
    await seen.get('vip').vip.until(2, 5_000, 'the vip\'s messages');
    assert.deepEqual(seen.get('vip').vip.items, ['for vips 1', 'for vips 2']);
    assert.deepEqual(seen.get('plain').vip.items, [], 'a non-vip got a vip message');
    assert.deepEqual(seen.get('anon').vip.items, [], 'an anonymous socket got a vip message');
    assert.deepEqual(raw.inbox.filter(isPublishOn('vip')).map((m) => m.text), [],
      'a vip message on the anonymous wire');
    assert.deepEqual(raw.inbox.map((m) => m.text), [], 'something else on the wire');
    for (const [name, s] of seen) assert.deepEqual(s.errors.items, [], `${name}: an error`);
    raw.close();
    for (const c of [vip, plain, anon]) dropClient(c);
  });

  // ---- AUTHENTICATE

  test('a banned token at #handshake: authError {"message":"banned","name":"BannedError"}, isAuthenticated false, no #removeAuthToken', async () => {
    const banned = signToken({ user: 'b', banned: true }, KEY, { expiresIn: 600 });
    const raw = await openRaw(app.port);
    raw.send({ event: '#handshake', data: { authToken: banned }, cid: 1 });
    const m = await raw.reply(1);
    assert.deepEqual(m.packet, {
      rid: 1,
      data: {
        id: m.packet.data.id, pingTimeout: m.packet.data.pingTimeout, isAuthenticated: false,
        authError: { message: 'banned', name: 'BannedError' },
      },
    });
    await raw.quiet(300, () => true, 'a #removeAuthToken (or anything) after a banned token');
    assert.equal((await raw.invoke('whoAmI')).packet.data, null);
    raw.close();

    // the real client: unauthenticated, the error in the connect status; it
    // keeps its token (the server did not remove it)
    const engine = memoryAuthEngine(banned);
    const { client, status } = await connectClient(app.port, { authEngine: engine });
    assert.equal(status.isAuthenticated, false);
    assert.equal(status.authError.name, 'BannedError');
    assert.equal(status.authError.message, 'banned');
    assert.equal(client.authState, 'unauthenticated');
    assert.equal(engine.token, banned);
    dropClient(client);

    // a token without "banned" passes the same hook
    const fine = signToken({ user: 'ok' }, KEY, { expiresIn: 600 });
    const { status: ok } = await connectClient(app.port, { authEngine: memoryAuthEngine(fine) });
    assert.equal(ok.isAuthenticated, true);
  });

  test('a banned token in #authenticate: {"rid":N,"data":{"isAuthenticated":false,"authError":{"message":"banned","name":"BannedError"}}}, no #removeAuthToken', async () => {
    const banned = signToken({ user: 'b2', banned: true }, KEY, { expiresIn: 600 });
    const { raw } = await handshakenRaw(app.port);
    const m = await raw.invoke('#authenticate', banned);
    assert.deepEqual(m.packet, {
      rid: raw.cid, data: { isAuthenticated: false, authError: { message: 'banned', name: 'BannedError' } },
    });
    await raw.quiet(300, () => true, 'a #removeAuthToken (or anything) after a banned token');
    assert.equal((await raw.invoke('whoAmI')).packet.data, null);
    const good = signToken({ user: 'g' }, KEY, { expiresIn: 600 });
    assert.deepEqual((await raw.invoke('#authenticate', good)).packet,
      { rid: raw.cid, data: { isAuthenticated: true, authError: null } });
    raw.close();

    const { client } = await connectClient(app.port);
    const st = await client.authenticate(banned);
    assert.equal(st.isAuthenticated, false);
    assert.equal(st.authError.name, 'BannedError');
    assert.equal(client.authState, 'unauthenticated');
    assert.equal(await client.invoke('whoAmI'), null);
    dropClient(client);
  });

  // ---- HANDSHAKE

  test('HANDSHAKE_SC reject (?scReject=1): {"rid":1,"error":{"message":"rejected","name":"HandshakeRejectedError","statusCode":4321}}, then close 4321', async () => {
    const raw = await openRaw(app.port, { path: '/socketcluster/?scReject=1' });
    raw.send({ event: '#handshake', data: { authToken: null }, cid: 1 });
    const m = await raw.reply(1);
    assert.deepEqual(m.packet, {
      rid: 1, error: { message: 'rejected', name: 'HandshakeRejectedError', statusCode: 4321 },
    });
    const closed = await raw.closed(5_000);
    assert.equal(closed.code, 4321);
    raw.close();

    // an invoke pipelined behind the rejected handshake gets no answer
    const piped = await openRaw(app.port, { path: '/socketcluster/?x=1&scReject=1' });
    piped.send({ event: '#handshake', data: { authToken: null }, cid: 1 });
    piped.send({ event: 'echo', data: 'after', cid: 2 });
    await piped.reply(1);
    assert.equal((await piped.closed(5_000)).code, 4321);
    assert.deepEqual(piped.inbox.map((x) => x.text), []);
    piped.close();

    // the real client: the error, and the connection aborted with 4321
    const client = createClient(app.port, { query: { scReject: '1' }, autoReconnect: false });
    const errors = record(client.listener('error'));
    const abort = await within(5_000, 'connectAbort', client.listener('connectAbort').once());
    assert.equal(abort.code, 4321);
    await errors.until(1, 2_000, 'the error event');
    const rejected = errors.items.map((e) => e.error).find((e) => e.name === 'HandshakeRejectedError');
    assert.ok(rejected, `no HandshakeRejectedError among ${JSON.stringify(errors.items.map((e) => e.error.name))}`);
    assert.equal(rejected.message, 'rejected');
    assert.equal(rejected.statusCode, 4321);
    dropClient(client);

    // other query strings pass
    const { status } = await connectClient(app.port, { query: { scReject: '0' } });
    assert.equal(status.isAuthenticated, false);
  });

  test('HANDSHAKE_WS reject (?wsReject=1): the upgrade is answered HTTP 401; the real client aborts', async () => {
    const res = await upgradeResponse(app.port, '/socketcluster/?wsReject=1');
    assert.equal(res.upgraded, false);
    assert.equal(res.statusCode, 401);
    const ok = await upgradeResponse(app.port, '/socketcluster/?wsReject=0');
    assert.equal(ok.upgraded, true);

    const client = createClient(app.port, { query: { wsReject: '1' }, autoReconnect: false });
    const abort = await within(5_000, 'connectAbort', client.listener('connectAbort').once());
    assert.equal(abort.code, 1006);
    assert.equal(client.state, 'closed');
    dropClient(client);
  });

  // ---- INBOUND_RAW

  test('inbound raw: a message containing rawBlock is dropped (no reply, the socket stays usable); rawSwap becomes swapped', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send({ event: 'echo', data: 'rawBlock', cid: raw.nextCid() });
    raw.send({ event: 'echo', data: 'x rawSwap y rawSwap', cid: raw.nextCid() });
    const swapped = await raw.reply(raw.cid);
    assert.deepEqual(swapped.packet, { rid: raw.cid, data: 'x swapped y swapped' });
    await raw.quiet(200, () => true, 'an answer to the dropped message');
    assert.deepEqual((await raw.invoke('echo', 'plain')).packet.data, 'plain');
    raw.close();

    const { client } = await connectClient(app.port);
    assert.equal(await client.invoke('echo', 'rawSwap'), 'swapped');
    assert.deepEqual(await client.invoke('echo', { k: 'a rawSwap' }), { k: 'a swapped' });
    dropClient(client);
  });
});

describe('without --middleware the same events pass unchanged', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'middleware-off', authKey: KEY });
  });

  test('mwBlock, mwSilent, mwTransform, mwAsync, mwAsyncBlock echo their data; rawBlock and rawSwap are echoed as they are', async () => {
    const { client } = await connectClient(app.port);
    for (const name of MW_PROCEDURES) {
      assert.deepEqual(await client.invoke(name, { from: name }), { from: name }, name);
    }
    assert.equal(await client.invoke('echo', 'rawSwap'), 'rawSwap');
    assert.equal(await client.invoke('echo', 'rawBlock'), 'rawBlock');
    dropClient(client);
  });

  test('transmits with {"drop":true} are delivered; forbidden/ and silent/ channels subscribe; readonly, upper and vip publish as usual', async () => {
    const { client } = await connectClient(app.port);
    client.transmit('seq', { i: 0, drop: true });
    client.transmit('seq', { i: 1 });
    assert.deepEqual(await client.invoke('seqStatus'), { count: 2, ordered: true });

    const { client: other } = await connectClient(app.port); // no token
    const got = {};
    for (const ch of ['forbidden/a', 'silent/a', 'readonly', 'upper', 'vip']) {
      got[ch] = record(await subscribed(other, ch));
    }
    for (const ch of Object.keys(got)) await client.invokePublish(ch, `on ${ch}`);
    for (const ch of Object.keys(got)) {
      await got[ch].until(1, 5_000, `the message on ${ch}`);
      assert.deepEqual(got[ch].items, [`on ${ch}`], ch);
    }
    dropClient(client);
    dropClient(other);
  });

  test('a banned token is accepted (#handshake and #authenticate); scReject=1 and wsReject=1 connect', async () => {
    const banned = signToken({ user: 'b', banned: true }, KEY, { expiresIn: 600 });
    const { raw, status } = await handshakenRaw(app.port, { authToken: banned, path: '/socketcluster/?scReject=1&wsReject=1' });
    assert.equal(status.isAuthenticated, true);
    assert.equal(status.authError, undefined);
    assert.deepEqual((await raw.invoke('whoAmI')).packet.data, jwt.verify(banned, KEY));
    assert.deepEqual((await raw.invoke('#authenticate', banned)).packet,
      { rid: raw.cid, data: { isAuthenticated: true, authError: null } });
    raw.close();
    assert.equal((await upgradeResponse(app.port, '/socketcluster/?wsReject=1')).upgraded, true);
    const { client } = await connectClient(app.port, { query: { scReject: '1', wsReject: '1' } });
    assert.equal(await client.invoke('echo', 1), 1);
    dropClient(client);
  });
});

