// fanout.test.mjs: volume. 10,000 messages published by one client reach
// 5 subscriber clients, every one of them, in order; and 2,000 clients
// connected at once each receive one broadcast.
//
//   SLUICE_APP=... node --test tests/conformance/fanout.test.mjs
//   SLUICE_TARGET=ref node --test tests/conformance/fanout.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  cleanup, connectClient, createClient, dropClient, record, startApp, subscribed, waitFor, within,
} from './lib.mjs';

const MESSAGES = 10_000;
const SUBSCRIBERS = 5;
const CLIENTS = 2_000;
const BATCH = 200; // clients connecting at the same time

describe('fan-out', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'fanout' });
  });

  test(`${MESSAGES} messages to ${SUBSCRIBERS} subscribers, all in order`, async () => {
    const subs = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const { client } = await connectClient(app.port);
      const ch = record(await subscribed(client, 'fan'));
      subs.push({ client, ch });
    }
    const { client: pub } = await connectClient(app.port);
    for (let i = 0; i < MESSAGES; i++) {
      pub.transmitPublish('fan', { i });
      // let the socket drain now and then instead of queueing everything at once
      if (i % 1_000 === 999) assert.equal(await pub.invoke('echo', i), i);
    }
    await waitFor(() => subs.every((s) => s.ch.items.length >= MESSAGES), 40_000,
      () => `all ${SUBSCRIBERS} subscribers to get ${MESSAGES} messages; they got ` +
        subs.map((s) => s.ch.items.length).join(', '), 50);
    for (const [n, s] of subs.entries()) {
      assert.equal(s.ch.items.length, MESSAGES, `subscriber ${n} got extra messages`);
      const firstBad = s.ch.items.findIndex((m, i) => !m || m.i !== i);
      assert.equal(firstBad, -1, `subscriber ${n}: message ${firstBad} is ${JSON.stringify(s.ch.items[firstBad])}`);
      assert.equal(s.client.state, 'open');
    }
    for (const s of subs) dropClient(s.client);
    dropClient(pub);
  });

  test(`${CLIENTS} clients connected at once each receive one broadcast`, async () => {
    const t0 = Date.now();
    const all = [];
    for (let start = 0; start < CLIENTS; start += BATCH) {
      const batch = await within(30_000, `clients ${start}..${start + BATCH - 1} to connect and subscribe`,
        Promise.all(Array.from({ length: Math.min(BATCH, CLIENTS - start) }, async () => {
          const client = createClient(app.port, { connectTimeout: 20_000 });
          await client.listener('connect').once();
          const ch = client.subscribe('all');
          const got = [];
          (async () => {
            for await (const d of ch) got.push(d);
          })();
          await ch.listener('subscribe').once();
          return { client, got };
        })));
      all.push(...batch);
    }
    const connectedMs = Date.now() - t0;
    const ids = new Set(all.map((c) => c.client.id));
    assert.equal(ids.size, CLIENTS, 'socket ids are not unique');

    const [first] = all;
    assert.equal(await first.client.invoke('publish', { channel: 'all', data: 'to everyone' }), null);
    await waitFor(() => all.every((c) => c.got.length >= 1), 20_000,
      () => `every client to receive the broadcast; ${all.filter((c) => c.got.length === 0).length} did not`, 50);
    for (const c of all) assert.deepEqual(c.got, ['to everyone']);
    const stats = await first.client.invoke('stats');
    assert.ok(stats.connections >= CLIENTS, `stats: ${JSON.stringify(stats)}`);
    for (const c of all) dropClient(c.client);
    // the test's own budget: well under a minute
    assert.ok(Date.now() - t0 < 60_000, `took ${Date.now() - t0} ms (connecting: ${connectedMs} ms)`);
  });
});
