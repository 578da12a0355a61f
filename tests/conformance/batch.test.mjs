// batch.test.mjs: batches (a JSON array of packets in one frame) in both
// directions: the real client's startBatch/flushBatch, hand-made batches on
// a raw socket, and the server's batchBack, which sends N transmits in ONE
// frame.
//
//   SLUICE_APP=... node --test tests/conformance/batch.test.mjs
//   SLUICE_TARGET=ref node --test tests/conformance/batch.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  cleanup, connectClient, dropClient, handshakenRaw, record, startApp, within,
} from './lib.mjs';

describe('batches', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'batch' });
  });

  test('client -> server: startBatch/flushBatch sends one array frame; every invoke and transmit in it is handled, in order', async () => {
    const { client } = await connectClient(app.port);
    const sent = [];
    const send = client.transport.send.bind(client.transport);
    client.transport.send = (data) => {
      sent.push(data);
      send(data);
    };
    client.startBatch();
    const replies = [
      client.invoke('echo', 'a'),
      client.invoke('echo', { b: 2 }),
    ];
    for (let i = 0; i < 5; i++) client.transmit('seq', { i });
    replies.push(client.invoke('seqStatus'));
    replies.push(client.invoke('fail'));
    replies.push(client.invoke('echo', ['c']));
    client.flushBatch();
    assert.equal(sent.length, 1, `the client sent ${sent.length} frames for one batch`);
    const batch = JSON.parse(sent[0]);
    assert.ok(Array.isArray(batch) && batch.length === 10, `not a batch of 10: ${sent[0]}`);

    const settled = await within(5_000, 'the replies to the batched invokes', Promise.allSettled(replies));
    assert.deepEqual(settled[0], { status: 'fulfilled', value: 'a' });
    assert.deepEqual(settled[1], { status: 'fulfilled', value: { b: 2 } });
    assert.deepEqual(settled[2], { status: 'fulfilled', value: { count: 5, ordered: true } });
    assert.equal(settled[3].status, 'rejected');
    assert.equal(settled[3].reason.name, 'CustomError');
    assert.deepEqual(settled[4], { status: 'fulfilled', value: ['c'] });
    dropClient(client);
  });

  test('client -> server on the wire: a hand-made batch of subscribe, publishes, invoke and transmit', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send([
      { event: '#subscribe', data: { channel: 'bc' }, cid: 2 },
      { event: '#publish', data: { channel: 'bc', data: 'with-cid' }, cid: 3 },
      { event: '#publish', data: { channel: 'bc', data: 'no-cid' } },
      { event: 'seq', data: { i: 0 } },
      { event: 'echo', data: 'e', cid: 4 },
      { event: 'seq', data: { i: 1 } },
      { event: 'seqStatus', cid: 5 },
    ]);
    assert.deepEqual((await raw.reply(2)).packet, { rid: 2 });
    assert.deepEqual((await raw.reply(3)).packet, { rid: 3 });
    assert.deepEqual((await raw.reply(4)).packet, { rid: 4, data: 'e' });
    assert.deepEqual((await raw.reply(5)).packet, { rid: 5, data: { count: 2, ordered: true } });
    const pubs = [];
    for (let i = 0; i < 2; i++) {
      const m = await raw.take((x) => x.packet && x.packet.event === '#publish', 5_000, `delivery ${i + 1} of 2`);
      pubs.push(m.packet.data.data);
    }
    assert.deepEqual(pubs, ['with-cid', 'no-cid']);
    raw.close();
  });

  test('server -> client on the wire: batchBack sends N transmits in ONE text frame (a JSON array), then the reply', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send({ event: 'batchBack', data: { event: 'bb', count: 50 }, cid: 2 });
    await raw.reply(2);
    const arrived = raw.all.filter((m) => m.text !== '');
    assert.equal(arrived.length, 3, `frames: ${JSON.stringify(arrived.map((m) => m.text.slice(0, 80)))}`);
    const [, batchFrame, replyFrame] = arrived;
    assert.equal(batchFrame.isBinary, false, 'the batch came in a binary frame');
    assert.deepEqual(JSON.parse(batchFrame.text),
      Array.from({ length: 50 }, (_, i) => ({ event: 'bb', data: i })));
    assert.deepEqual(JSON.parse(replyFrame.text), { rid: 2, data: { sent: 50 } });
    raw.close();
  });

  test('server -> client with the real client: all 1,000 batched events arrive, in order, from one message', async () => {
    const { client } = await connectClient(app.port);
    const arrays = [];
    (async () => {
      for await (const { message } of client.listener('message')) {
        if (typeof message === 'string' && message.startsWith('[')) arrays.push(message);
      }
    })();
    const got = record(client.receiver('bb'));
    assert.deepEqual(await client.invoke('batchBack', { event: 'bb', count: 1_000 }), { sent: 1_000 });
    await got.until(1_000, 5_000, 'the 1,000 batched events');
    assert.deepEqual(got.items, Array.from({ length: 1_000 }, (_, i) => i));
    assert.equal(arrays.length, 1, `the events came in ${arrays.length} array frames`);
    dropClient(client);
  });
});
