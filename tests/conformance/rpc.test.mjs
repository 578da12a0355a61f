// rpc.test.mjs: client -> server invokes and transmits (echo, fail, slow,
// an unknown procedure, 1,000 ordered transmits), and server -> client
// transmits and invokes (transmitBack, invokeBack answered, failed and
// timed out), with the real client, plus their exact shapes on the wire.
//
//   SLUICE_APP=... node --test tests/conformance/rpc.test.mjs
//   SLUICE_TARGET=ref node --test tests/conformance/rpc.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  IS_REF, cleanup, connectClient, dropClient, handshakenRaw, record, rejectsWith, startApp, within,
} from './lib.mjs';

const SERVER_ACK_TIMEOUT = 500;
const CLIENT_ACK_TIMEOUT = 1_500;

describe('invokes and transmits', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  let client;
  before(async () => {
    app = await startApp({ name: 'rpc', ackTimeout: SERVER_ACK_TIMEOUT });
    ({ client } = await connectClient(app.port, { ackTimeout: CLIENT_ACK_TIMEOUT }));
  });

  test('echo returns any JSON value unchanged', async () => {
    const values = [
      { x: [1, 'two', null, true, false, 1.5, -3] },
      [],
      {},
      'a string with "quotes", \\ backslashes, \n newlines and unicode é中😀',
      0,
      -12345678901,
      3.25,
      true,
      null,
      { nested: { deeper: { deepest: [[[{ k: 'v' }]]] } } },
      'x'.repeat(100_000),
    ];
    for (const v of values) {
      assert.deepEqual(await client.invoke('echo', v), v, `echo of ${JSON.stringify(v).slice(0, 60)}`);
    }
  });

  test('binary data travels as {"base64":true,"data":...} and comes back that way', async () => {
    const got = await client.invoke('echo', { buf: Buffer.from([1, 2, 3, 4, 255]) });
    assert.deepEqual(got, { buf: { base64: true, data: Buffer.from([1, 2, 3, 4, 255]).toString('base64') } });
  });

  test('fail: the error arrives with its name, message and extra field code', async () => {
    const err = await rejectsWith(client.invoke('fail', { any: 'thing' }), 5_000, 'invoke fail');
    assert.equal(err.name, 'CustomError');
    assert.equal(err.message, 'Custom failure');
    assert.equal(err.code, 1234);
  });

  test('fail on the wire: {"rid":N,"error":{"message":"Custom failure","name":"CustomError","code":1234}}', async () => {
    const { raw } = await handshakenRaw(app.port);
    const m = await raw.invoke('fail', 1);
    assert.deepEqual(m.packet, { rid: 2, error: { message: 'Custom failure', name: 'CustomError', code: 1234 } });
    raw.close();
  });

  test(IS_REF ? 'an unknown procedure is never answered: TimeoutError after the client ackTimeout (reference)'
    : 'an unknown procedure is answered at once with UnknownProcedureError (sluice)', async () => {
    const t0 = Date.now();
    const err = await rejectsWith(client.invoke('noSuchProcedure', 1), CLIENT_ACK_TIMEOUT + 3_000,
      'invoke of an unknown procedure');
    const elapsed = Date.now() - t0;
    if (IS_REF) {
      assert.equal(err.name, 'TimeoutError');
      assert.equal(err.message, 'Event response for noSuchProcedure event timed out');
      assert.ok(elapsed >= CLIENT_ACK_TIMEOUT - 100, `timed out after ${elapsed} ms`);
    } else {
      assert.equal(err.name, 'UnknownProcedureError');
      assert.match(err.message, /noSuchProcedure/);
      assert.ok(elapsed < CLIENT_ACK_TIMEOUT - 500, `answered only after ${elapsed} ms`);
    }
    // the connection is unaffected
    assert.equal(await client.invoke('echo', 'ok'), 'ok');
  });

  test('slow answers after the delay, and does not hold up other invokes', async () => {
    const order = [];
    const t0 = Date.now();
    const slow = client.invoke('slow', { ms: 400 }).then((r) => { order.push('slow'); return r; });
    const fast = client.invoke('echo', 'fast').then((r) => { order.push('echo'); return r; });
    const [s, f] = await within(5_000, 'slow and echo replies', Promise.all([slow, fast]));
    assert.deepEqual(s, { slept: 400 });
    assert.equal(f, 'fast');
    assert.deepEqual(order, ['echo', 'slow'], 'echo waited for slow');
    assert.ok(Date.now() - t0 >= 390, `slow answered after ${Date.now() - t0} ms`);
  });

  test('several slow invokes in flight at once all complete', async () => {
    const t0 = Date.now();
    const got = await within(5_000, '10 concurrent slow replies',
      Promise.all(Array.from({ length: 10 }, (_, i) => client.invoke('slow', { ms: 200 + i * 10 }))));
    assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => ({ slept: 200 + i * 10 })));
    assert.ok(Date.now() - t0 < 2_000, `10 concurrent slow invokes took ${Date.now() - t0} ms`);
  });

  test('1,000 transmits arrive in order (seq, then seqStatus)', async () => {
    const { client: c } = await connectClient(app.port);
    assert.deepEqual(await c.invoke('seqStatus'), { count: 0, ordered: true });
    for (let i = 0; i < 1_000; i++) c.transmit('seq', { i });
    assert.deepEqual(await c.invoke('seqStatus'), { count: 1_000, ordered: true });
    // out of order is noticed
    c.transmit('seq', { i: 5 });
    assert.deepEqual(await c.invoke('seqStatus'), { count: 1_001, ordered: false });
    dropClient(c);
  });

  test('transmitBack: the server transmits to the caller N times, then replies {"sent":N}', async () => {
    const got = record(client.receiver('tb'));
    assert.deepEqual(await client.invoke('transmitBack', { event: 'tb', data: { z: 1 }, count: 5 }), { sent: 5 });
    await got.until(5, 5_000, 'the 5 transmits of tb');
    assert.deepEqual(got.items, Array(5).fill({ z: 1 }));
    // count defaults to 1
    const one = record(client.receiver('tb1'));
    assert.deepEqual(await client.invoke('transmitBack', { event: 'tb1', data: 'once' }), { sent: 1 });
    await one.until(1, 5_000, 'the transmit of tb1');
    assert.deepEqual(one.items, ['once']);
  });

  test('transmitBack on the wire: {"event":E,"data":D} N times, then {"rid":N,"data":{"sent":N}}', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send({ event: 'transmitBack', data: { event: 'tb', data: [1, { a: null }], count: 3 }, cid: 2 });
    await raw.reply(2);
    const arrived = raw.all.filter((m) => m.text !== '').map((m) => JSON.parse(m.text));
    const tb = { event: 'tb', data: [1, { a: null }] };
    assert.deepEqual(arrived.slice(1), [tb, tb, tb, { rid: 2, data: { sent: 3 } }]);
    raw.close();
  });

  test('invokeBack: the server invokes the client, which answers; the reply comes back as {"reply":R}', async () => {
    const requests = [];
    (async () => {
      for await (const req of client.procedure('clientProc')) {
        requests.push(req.data);
        req.end({ got: req.data });
      }
    })();
    assert.deepEqual(await client.invoke('invokeBack', { event: 'clientProc', data: { q: 1 } }),
      { reply: { got: { q: 1 } } });
    assert.deepEqual(requests, [{ q: 1 }]);
  });

  test('invokeBack: an error from the client comes back with its name, message and fields', async () => {
    (async () => {
      for await (const req of client.procedure('clientFail')) {
        const e = new Error('client says no');
        e.name = 'ClientError';
        e.extra = 7;
        req.error(e);
      }
    })();
    const err = await rejectsWith(client.invoke('invokeBack', { event: 'clientFail', data: 1 }), 5_000,
      'invokeBack of clientFail');
    assert.equal(err.name, 'ClientError');
    assert.equal(err.message, 'client says no');
    assert.equal(err.extra, 7);
  });

  test(`invokeBack: a client that never answers makes it fail with TimeoutError after --ack-timeout ${SERVER_ACK_TIMEOUT}`, async () => {
    const t0 = Date.now();
    // no procedure 'silentProc' on the client: the real client never answers
    const err = await rejectsWith(
      client.invoke('invokeBack', { event: 'silentProc', data: 1 }, { ackTimeout: 5_000 }), 6_000,
      'invokeBack of a procedure the client does not answer');
    const elapsed = Date.now() - t0;
    assert.equal(err.name, 'TimeoutError');
    assert.equal(err.message, 'Event response for silentProc event timed out');
    assert.ok(elapsed >= SERVER_ACK_TIMEOUT - 100 && elapsed < 4_000,
      `the server's invoke timed out after ${elapsed} ms, not about ${SERVER_ACK_TIMEOUT}`);
  });
});

describe('server -> client invokes on the wire', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'rpc-wire', ackTimeout: SERVER_ACK_TIMEOUT });
  });

  test('the server invoke is {"event":E,"cid":N,"data":D}; answers and errors travel back as captured', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send({ event: 'invokeBack', data: { event: 'cp', data: 'hi' }, cid: 2 });
    const inv = await raw.take((m) => m.packet && m.packet.event === 'cp', 5_000, 'the server invoke of cp');
    assert.equal(typeof inv.packet.cid, 'number');
    assert.deepEqual(inv.packet, { event: 'cp', cid: inv.packet.cid, data: 'hi' });
    raw.send({ rid: inv.packet.cid, data: { got: 'hi' } });
    assert.deepEqual((await raw.reply(2)).packet, { rid: 2, data: { reply: { got: 'hi' } } });

    raw.send({ event: 'invokeBack', data: { event: 'cp', data: 'err' }, cid: 3 });
    const inv2 = await raw.take((m) => m.packet && m.packet.event === 'cp', 5_000, 'the second invoke of cp');
    assert.notEqual(inv2.packet.cid, inv.packet.cid, 'the server reused a cid');
    raw.send({ rid: inv2.packet.cid, error: { name: 'ClientError', message: 'no', extra: 7 } });
    assert.deepEqual((await raw.reply(3)).packet,
      { rid: 3, error: { message: 'no', name: 'ClientError', extra: 7 } });

    raw.send({ event: 'invokeBack', data: { event: 'cp', data: 'never' }, cid: 4 });
    await raw.take((m) => m.packet && m.packet.event === 'cp', 5_000, 'the third invoke of cp');
    assert.deepEqual((await raw.reply(4, SERVER_ACK_TIMEOUT + 3_000)).packet,
      { rid: 4, error: { message: 'Event response for cp event timed out', name: 'TimeoutError' } });
    raw.close();
  });

  test('echo without data replies {"rid":N} (no data); with data null replies {"rid":N,"data":null}', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send({ event: 'echo', cid: 2 });
    assert.deepEqual((await raw.reply(2)).packet, { rid: 2 });
    raw.send({ event: 'echo', data: null, cid: 3 });
    assert.deepEqual((await raw.reply(3)).packet, { rid: 3, data: null });
    raw.close();
  });
});
