// pubsub.test.mjs: subscribe, publish (client transmitPublish and
// invokePublish, the server-side `publish` procedure), unsubscribe, kickOut,
// the socket channel limit and --allow-client-publish false, with the real
// client and on the wire.
//
//   SLUICE_APP=... node --test tests/conformance/pubsub.test.mjs
//   SLUICE_TARGET=ref node --test tests/conformance/pubsub.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  cleanup, connectClient, dropClient, handshakenRaw, record, rejectsWith, sleep, startApp,
  subscribed, waitFor,
} from './lib.mjs';

const isPublishOn = (channel) => (m) => m.packet && m.packet.event === '#publish' &&
  m.packet.data && m.packet.data.channel === channel;

// Every #publish a real client receives on the wire, whatever its channel
// state, from its 'message' events.
function wirePublishes(client) {
  const seen = [];
  (async () => {
    for await (const { message } of client.listener('message')) {
      if (typeof message === 'string' && message.startsWith('{')) {
        const p = JSON.parse(message);
        if (p.event === '#publish') seen.push(p.data);
      }
    }
  })();
  return seen;
}

describe('subscribe and publish', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'pubsub' });
  });

  test('transmitPublish and invokePublish reach every subscriber, the publisher included', async () => {
    const { client: pub } = await connectClient(app.port);
    const { client: sub } = await connectClient(app.port);
    const pubCh = record(await subscribed(pub, 'news'));
    const subCh = record(await subscribed(sub, 'news'));
    await pub.transmitPublish('news', { a: 1 });
    assert.equal(await pub.invokePublish('news', { b: 2 }), undefined);
    await pubCh.until(2, 5_000, 'the publisher\'s own messages');
    await subCh.until(2, 5_000, 'the other subscriber\'s messages');
    assert.deepEqual(pubCh.items, [{ a: 1 }, { b: 2 }]);
    assert.deepEqual(subCh.items, [{ a: 1 }, { b: 2 }]);
    dropClient(pub);
    dropClient(sub);
  });

  test('publishing needs no subscription; the server-side publish procedure reaches subscribers too', async () => {
    const { client: pub } = await connectClient(app.port);
    const { client: sub } = await connectClient(app.port);
    const ch = record(await subscribed(sub, 'weather'));
    await pub.invokePublish('weather', 'rain');
    assert.equal(await pub.invoke('publish', { channel: 'weather', data: { t: 21 } }), null);
    await ch.until(2, 5_000, 'the two weather messages');
    assert.deepEqual(ch.items, ['rain', { t: 21 }]);
    assert.equal(pub.isSubscribed('weather'), false);
    dropClient(pub);
    dropClient(sub);
  });

  test('on the wire: subscribe replies {"rid":N}, delivery is {"event":"#publish","data":{"channel","data"}}, invokePublish replies {"rid":N}', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send({ event: '#subscribe', data: { channel: 'wire' }, cid: 2 });
    assert.deepEqual((await raw.reply(2)).packet, { rid: 2 });
    // subscription options from the real client, and a second subscribe, are fine
    raw.send({ event: '#subscribe', data: { channel: 'wire2', waitForAuth: true, data: { k: 1 } }, cid: 3 });
    assert.deepEqual((await raw.reply(3)).packet, { rid: 3 });
    raw.send({ event: '#subscribe', data: { channel: 'wire' }, cid: 4 });
    assert.deepEqual((await raw.reply(4)).packet, { rid: 4 });

    raw.send({ event: '#publish', data: { channel: 'wire', data: { deep: [1, 'x', null] } }, cid: 5 });
    assert.deepEqual((await raw.reply(5)).packet, { rid: 5 });
    const d = await raw.take(isPublishOn('wire'), 5_000, 'the delivery on wire');
    assert.equal(d.isBinary, false);
    assert.deepEqual(d.packet, { event: '#publish', data: { channel: 'wire', data: { deep: [1, 'x', null] } } });

    // transmitPublish: no cid, no reply; still delivered
    raw.send({ event: '#publish', data: { channel: 'wire', data: 'no-cid' } });
    const d2 = await raw.take(isPublishOn('wire'), 5_000, 'the delivery of the transmitPublish');
    assert.deepEqual(d2.packet, { event: '#publish', data: { channel: 'wire', data: 'no-cid' } });
    // delivered once although subscribed twice
    await raw.quiet(200, isPublishOn('wire'), 'a duplicate delivery');
    assert.deepEqual(raw.inbox.map((m) => m.packet), [], 'an unexpected reply');
    raw.close();
  });

  test('unsubscribe on the wire: without a cid no reply, with a cid {"rid":N}; then no delivery', async () => {
    const { raw } = await handshakenRaw(app.port);
    for (const [cid, ch] of [[2, 'ua'], [3, 'ub'], [4, 'sent']]) {
      raw.send({ event: '#subscribe', data: { channel: ch }, cid });
      assert.deepEqual((await raw.reply(cid)).packet, { rid: cid });
    }
    raw.send({ event: '#unsubscribe', data: 'ua' });
    raw.send({ event: '#unsubscribe', data: 'ub', cid: 5 });
    assert.deepEqual((await raw.reply(5)).packet, { rid: 5 });
    for (const [cid, ch] of [[6, 'ua'], [7, 'ub'], [8, 'sent']]) {
      raw.send({ event: '#publish', data: { channel: ch, data: ch }, cid });
      assert.deepEqual((await raw.reply(cid)).packet, { rid: cid });
    }
    await raw.take(isPublishOn('sent'), 5_000, 'the delivery on the channel still subscribed');
    await raw.quiet(100, (m) => m.packet && m.packet.event === '#publish', 'a delivery after unsubscribe');
    assert.deepEqual(raw.inbox.map((m) => m.text), [], 'a reply to the #unsubscribe without cid');
    raw.close();
  });

  test('kickOut (kickMe): the client gets the kickOut event and the subscription ends', async () => {
    const { client } = await connectClient(app.port);
    const { client: pub } = await connectClient(app.port);
    const wire = wirePublishes(client);
    const kicks = record(client.listener('kickOut'));
    const ch = await subscribed(client, 'k');
    const chKicks = record(ch.listener('kickOut'));
    const chUnsub = record(ch.listener('unsubscribe'));
    const sentinel = record(await subscribed(client, 'k-sentinel'));
    assert.equal(await client.invoke('kickMe', { channel: 'k', message: 'go away' }), null);
    await kicks.until(1, 5_000, 'the kickOut event');
    assert.deepEqual(kicks.items, [{ channel: 'k', message: 'go away' }]);
    await chKicks.until(1, 5_000, 'the channel\'s kickOut event');
    assert.deepEqual(chKicks.items, [{ message: 'go away' }]);
    await chUnsub.until(1, 5_000, 'the channel\'s unsubscribe event');
    assert.equal(client.isSubscribed('k', true), false);
    // the server dropped the subscription: nothing more is sent for k
    await pub.invokePublish('k', 'after the kick');
    await pub.invokePublish('k-sentinel', 's');
    await sentinel.until(1, 5_000, 'the sentinel message');
    assert.deepEqual(wire.filter((p) => p.channel === 'k'), [], 'the server sent #publish for k after the kick');
    dropClient(client);
    dropClient(pub);
  });

  test('kickOut on the wire: {"event":"#kickOut","data":{"channel","message"}}, then the reply {"rid":N,"data":null}', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send({ event: '#subscribe', data: { channel: 'kw' }, cid: 2 });
    await raw.reply(2);
    raw.send({ event: 'kickMe', data: { channel: 'kw', message: 'bye' }, cid: 3 });
    await raw.reply(3);
    const arrived = raw.all.filter((m) => m.text !== '').map((m) => JSON.parse(m.text));
    assert.deepEqual(arrived.slice(2), [
      { event: '#kickOut', data: { channel: 'kw', message: 'bye' } },
      { rid: 3, data: null },
    ]);
    raw.send({ event: '#publish', data: { channel: 'kw', data: 1 }, cid: 4 });
    await raw.reply(4);
    await raw.quiet(200, isPublishOn('kw'), 'a delivery after the kick');
    raw.close();
  });
});

// its own app: the test waits for the server's unsubscription count to
// move, which nothing else may move meanwhile
describe('unsubscribe', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'pubsub-unsubscribe' });
  });

  test('unsubscribe with the real client: no more messages after it', async () => {
    const { client: pub } = await connectClient(app.port);
    const { client: sub } = await connectClient(app.port);
    const wire = wirePublishes(sub);
    const u = record(await subscribed(sub, 'u'));
    const sentinel = record(await subscribed(sub, 'sentinel'));
    await pub.invokePublish('u', 1);
    await u.until(1, 5_000, 'the message before the unsubscribe');
    sub.unsubscribe('u');
    assert.equal(sub.isSubscribed('u', true), false);
    // the unsubscribe travels on sub's socket, the publishes on pub's: wait
    // until the server has counted it before publishing again
    await waitFor(async () => (await sub.invoke('stats')).unsubscriptions >= 1, 5_000,
      'the unsubscription to reach the server (stats)');
    await pub.invokePublish('u', 2);
    await pub.invokePublish('sentinel', 'after');
    await sentinel.until(1, 5_000, 'the sentinel message');
    assert.deepEqual(u.items, [1]);
    assert.deepEqual(wire.filter((p) => p.channel === 'u').map((p) => p.data), [1],
      'the server still sent #publish for u after the unsubscribe');
    dropClient(pub);
    dropClient(sub);
  });

});

describe('subscription counting (stats)', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'pubsub-stats' });
  });

  test('subscriptions and unsubscriptions are counted, kicks and disconnects included', async () => {
    const { raw } = await handshakenRaw(app.port);
    const stats = async () => (await raw.invoke('stats')).packet.data;
    for (const ch of ['a', 'b', 'c']) await raw.invoke('#subscribe', { channel: ch });
    assert.deepEqual(await stats(), { connections: 1, disconnections: 0, subscriptions: 3, unsubscriptions: 0 });
    await raw.invoke('#unsubscribe', 'a');
    assert.equal((await stats()).unsubscriptions, 1);
    await raw.invoke('kickMe', { channel: 'b', message: 'm' });
    assert.equal((await stats()).unsubscriptions, 2);

    const { raw: other } = await handshakenRaw(app.port);
    for (const ch of ['x', 'y']) await other.invoke('#subscribe', { channel: ch });
    other.close();
    const s = await waitFor(async () => {
      const st = await stats();
      return st.disconnections >= 1 && st;
    }, 5_000, 'the disconnection to be counted');
    assert.deepEqual(s, { connections: 2, disconnections: 1, subscriptions: 5, unsubscriptions: 4 });
    raw.close();
  });
});

describe('socket channel limit (--socket-channel-limit 2)', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'pubsub-limit', socketChannelLimit: 2 });
  });

  test('the real client\'s third subscription fails with BrokerError; after an unsubscribe it succeeds', async () => {
    const { client } = await connectClient(app.port);
    await subscribed(client, 'one');
    await subscribed(client, 'two');
    const fails = record(client.listener('subscribeFail'));
    const three = client.subscribe('three');
    await fails.until(1, 5_000, 'the subscribeFail event');
    const { error, channel } = fails.items[0];
    assert.equal(channel, 'three');
    assert.equal(error.name, 'BrokerError');
    assert.equal(error.message, `Failed to subscribe socket to the three channel - InvalidActionError: ` +
      `Socket ${client.id} tried to exceed the channel subscription limit of 2`);
    assert.equal(three.state, 'unsubscribed');
    client.unsubscribe('one');
    await subscribed(client, 'three');
    dropClient(client);
  });

  test('on the wire: {"rid":N,"error":{"message":"Failed to subscribe socket to the C channel - InvalidActionError: Socket <id> tried to exceed the channel subscription limit of 2","name":"BrokerError"}}', async () => {
    const { raw, status } = await handshakenRaw(app.port);
    assert.deepEqual((await raw.invoke('#subscribe', { channel: 'c1' })).packet, { rid: 2 });
    assert.deepEqual((await raw.invoke('#subscribe', { channel: 'c2' })).packet, { rid: 3 });
    assert.deepEqual((await raw.invoke('#subscribe', { channel: 'c3' })).packet, {
      rid: 4,
      error: {
        message: `Failed to subscribe socket to the c3 channel - InvalidActionError: Socket ${status.id} ` +
          'tried to exceed the channel subscription limit of 2',
        name: 'BrokerError',
      },
    });
    // the failed subscribe left the others alone
    raw.send({ event: '#publish', data: { channel: 'c2', data: 'still' }, cid: 9 });
    await raw.take(isPublishOn('c2'), 5_000, 'the delivery on c2');
    raw.send({ event: '#publish', data: { channel: 'c3', data: 'not subscribed' }, cid: 10 });
    await raw.reply(10);
    await raw.quiet(200, isPublishOn('c3'), 'a delivery on the channel over the limit');
    raw.close();
  });
});

describe('client publish disabled (--allow-client-publish false)', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'pubsub-nopublish', allowClientPublish: false });
  });

  test('invokePublish fails with InvalidActionError "Client publish feature is disabled"; transmitPublish is dropped', async () => {
    const { client } = await connectClient(app.port);
    const ch = record(await subscribed(client, 'ro'));
    const err = await rejectsWith(client.invokePublish('ro', 1), 5_000, 'invokePublish');
    assert.equal(err.name, 'InvalidActionError');
    assert.equal(err.message, 'Client publish feature is disabled');
    await client.transmitPublish('ro', 2);
    // the server may still publish
    assert.equal(await client.invoke('publish', { channel: 'ro', data: 3 }), null);
    await ch.until(1, 5_000, 'the server-side publish');
    await sleep(100);
    assert.deepEqual(ch.items, [3]);
    assert.equal(client.state, 'open');
    dropClient(client);
  });

  test('on the wire: {"rid":N,"error":{"message":"Client publish feature is disabled","name":"InvalidActionError"}}, no reply without a cid', async () => {
    const { raw } = await handshakenRaw(app.port);
    assert.deepEqual((await raw.invoke('#subscribe', { channel: 'ro' })).packet, { rid: 2 });
    raw.send({ event: '#publish', data: { channel: 'ro', data: 'x' } });
    assert.deepEqual((await raw.invoke('#publish', { channel: 'ro', data: 'y' })).packet, {
      rid: 3, error: { message: 'Client publish feature is disabled', name: 'InvalidActionError' },
    });
    await raw.quiet(200, () => true, 'a reply or delivery for a refused publish');
    assert.equal(raw.closeInfo, null);
    raw.close();
  });
});
