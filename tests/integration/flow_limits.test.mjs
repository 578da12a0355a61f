// flow_limits.test.mjs: each flow limit of sluiced, driven to its edge by a
// client that speaks SocketCluster over ws, and checked twice: what the
// client sees (a close code, messages missing) and the limit's counter in
// `show info json` on the stats socket (and, for the slow consumer, in
// sluice_limit_hits_total of /metrics).
//
//   SLUICED=build/release/broker/sluiced SLUICE_APP=build/release/examples/sluice-example-app \
//     node --test tests/integration/flow_limits.test.mjs
//
// A "paused" subscriber is a ws client whose TCP socket stops reading
// (ws._socket.pause()): the kernel's buffers fill, then sluiced's queue for
// it. --send-timeout is raised where a paused socket must outlive the
// flood, so the limit under test is the one that acts. Pings are off
// (--ping-timeout-disabled) everywhere. Every flood stops by itself: when
// the counter moves, after its message count, or after 20 s.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  SKIP, Sc, channelRow, drained, floodChannel, httpGet, info, metricValue, sleep, startFlow,
  statsJson, waitFor, within,
} from './flow-lib.mjs';

const LIMIT_KEYS = ['slow_consumer_disconnects', 'slow_consumer_drops', 'backpressure_disconnects',
  'rate_limit_disconnects', 'channel_backlog_kills'];

// Every limit counter other than `except` is still 0.
function othersZero(i, ...except) {
  for (const k of LIMIT_KEYS) if (!except.includes(k)) assert.equal(i[k], 0, `${k} moved`);
}

// The i of every message a subscriber got, in arrival order.
function collect(sc, channel) {
  const got = [];
  sc.onPublish = (ch, data) => {
    if (ch === channel) got.push(data.i);
  };
  return got;
}

// A subscriber stalls under drop-oldest while a publisher floods its
// channel until drops start, then sends one burst of BURST publishes in one
// write (the last acked). Resumed, the subscriber must get the burst's end:
// the most recent frames are never the oldest, so they are never dropped.
async function dropOldest({ name, ring, limit }) {
  const BURST = 500;
  const srv = await startFlow({
    name,
    args: ['--slow-consumer-policy', 'drop-oldest', '--outbound-limit', String(limit),
      '--outbound-ring', String(ring), '--send-timeout', '60000'],
  });
  try {
    const sub = await Sc.connect(srv.url);
    await sub.subscribe('drop');
    const got = collect(sub, 'drop');
    const pub = await Sc.connect(srv.url);
    sub.pause();
    let sent = await floodChannel(pub, 'drop', {
      stopWhen: async () => (await info(srv)).slow_consumer_drops > 0,
    });
    assert.ok((await info(srv)).slow_consumer_drops > 0, `no drop after ${sent} publishes`);
    const pad = 'x'.repeat(1000);
    pub.ws._socket.cork();
    for (let k = 0; k < BURST - 1; k++) pub.publish('drop', { i: sent++, p: pad });
    const last = pub.publish('drop', { i: sent++, p: pad }, true); // acked: all were fanned out
    pub.ws._socket.uncork();
    await within(10_000, 'the ack of the burst\'s last publish', last);
    const mid = await statsJson(srv, `show socket ${sub.id} json`);
    assert.ok(mid.dropped > 0, 'show socket: no drop while the subscriber stalls');

    sub.resume();
    const row = await waitFor('the subscriber\'s outbound queue to drain', async () => {
      const r = await statsJson(srv, `show socket ${sub.id} json`);
      return r.outbound === 0 && r;
    });
    await sleep(300); // what the kernel still held arrives
    const i = await info(srv);
    const ch = await channelRow(srv, 'drop');
    console.log(`drop-oldest (ring ${ring}, limit ${limit}): ${sent} published, ${got.length} ` +
      `received, the last ${got[got.length - 1]}; socket dropped ${row.dropped}; show info ` +
      `slow_consumer_drops ${i.slow_consumer_drops}, msgs_dropped ${i.msgs_dropped}; channel ` +
      `${JSON.stringify(ch)}`);

    assert.ok(sub.open, 'the subscriber was closed');
    assert.ok(got.length < sent, 'nothing was dropped');
    for (let k = 1; k < got.length; k++) {
      assert.ok(got[k] > got[k - 1], `out of order or repeated: ${got[k - 1]} then ${got[k]}`);
    }
    assert.deepEqual(got.slice(-32), Array.from({ length: 32 }, (_, k) => sent - 32 + k),
      'the 32 most recent publishes arrive, in order, without a gap');
    assert.equal(row.dropped, sent - got.length, 'show socket dropped == published - received');
    assert.equal(i.slow_consumer_drops, row.dropped, 'slow_consumer_drops == the socket\'s drops');
    assert.ok(i.msgs_dropped > 0, 'msgs_dropped');
    assert.equal(i.msgs_dropped, i.slow_consumer_drops, 'msgs_dropped counts every drop');
    othersZero(i, 'slow_consumer_drops');
    assert.equal(ch.published, sent);
    assert.equal(ch.fanout, sent);
    assert.equal(ch.delivered, got.length);
    assert.equal(ch.dropped, sent - got.length);
    assert.equal(ch.backlog, 0);

    await sub.close();
    await pub.close();
    assert.equal((await srv.stop()).code, 0);
  } finally {
    await srv.kill();
  }
}

describe('flow limits', { skip: SKIP, timeout: 120_000 }, () => {
  test('slow consumer, policy disconnect: close 4100, counted once', async () => {
    const srv = await startFlow({
      name: 'flow_slow_disconnect', metrics: true,
      args: ['--outbound-limit', '65536', '--outbound-ring', '64', '--send-timeout', '60000'],
    });
    try {
      const sub = await Sc.connect(srv.url);
      await sub.subscribe('slow');
      collect(sub, 'slow');
      const pub = await Sc.connect(srv.url);
      sub.pause();
      const sent = await floodChannel(pub, 'slow', {
        stopWhen: async () => (await info(srv)).slow_consumer_disconnects > 0,
      });
      // sluiced gives the close frame 2 s to leave: read it now
      sub.resume();
      const { code } = await sub.waitClosed(10_000);
      const i = await info(srv);
      console.log(`slow consumer: ${sent} publishes of 1 KiB, then close ${code}; ` +
        `slow_consumer_disconnects ${i.slow_consumer_disconnects}`);
      assert.equal(code, 4100);
      assert.equal(i.slow_consumer_disconnects, 1);
      othersZero(i, 'slow_consumer_disconnects');

      const m = await httpGet(srv.metricsPort, '/metrics');
      assert.equal(m.status, 200);
      assert.equal(metricValue(m.body, 'sluice_limit_hits_total{limit="slow_consumer_disconnect"}'), 1);
      assert.equal(metricValue(m.body, 'sluice_limit_hits_total{limit="backpressure_disconnect"}'), 0);

      // the publisher was never slowed down or cut
      assert.ok(pub.open, 'the publisher was closed');
      await pub.publish('slow', { i: -1 }, true);
      await pub.close();
      assert.equal((await srv.stop()).code, 0);
    } finally {
      await srv.kill();
    }
  });

  // --outbound-limit binds (64 KiB: ~60 frames of 1 KiB, ring 4096)
  test('slow consumer, policy drop-oldest: stays open, the oldest queued frames dropped and counted',
    () => dropOldest({ name: 'flow_drop_oldest', ring: 4096, limit: 64 * 1024 }));

  // --outbound-ring binds (64 frames, 64 MiB): the ring has room for twice
  // that under drop-oldest, so the reactor trims the oldest before the newest
  // could find it full
  test('slow consumer, policy drop-oldest at the --outbound-ring limit',
    () => dropOldest({ name: 'flow_drop_oldest_ring', ring: 64, limit: 64 * 1024 * 1024 }));

  test('backpressure limit on the outbound stream: close 4101 before the outbound ring is full',
    async () => {
      const srv = await startFlow({
        name: 'flow_bp_outbound',
        args: ['--backpressure-limit', '32', '--outbound-ring', '1024', '--send-timeout', '60000'],
      });
      try {
        const sub = await Sc.connect(srv.url);
        await sub.subscribe('bp');
        collect(sub, 'bp');
        const pub = await Sc.connect(srv.url);
        sub.pause();
        // acks in a window of 16: the publisher's own inbound stream stays
        // below the limit (it counts too), only the subscriber's outbound passes it
        const sent = await floodChannel(pub, 'bp', {
          window: 16, batch: 16,
          stopWhen: async () => (await info(srv)).backpressure_disconnects > 0,
        });
        sub.resume();
        const { code } = await sub.waitClosed(10_000);
        const i = await info(srv);
        console.log(`backpressure (outbound): ${sent} publishes, close ${code}; ` +
          `backpressure_disconnects ${i.backpressure_disconnects}`);
        assert.equal(code, 4101);
        assert.equal(i.backpressure_disconnects, 1);
        othersZero(i, 'backpressure_disconnects');
        assert.ok(pub.open, 'the publisher was closed');
        await pub.close();
        assert.equal((await srv.stop()).code, 0);
      } finally {
        await srv.kill();
      }
    });

  test('backpressure limit on procedures: unanswered "slow" requests past it close 4101',
    { skip: !process.env.SLUICE_APP && 'SLUICE_APP is not set' }, async () => {
      const LIMIT = 20;
      const srv = await startFlow({
        app: true, name: 'flow_bp_procedures', args: ['--backpressure-limit', String(LIMIT)],
      });
      try {
        const c = await Sc.connect(srv.url);
        const other = await Sc.connect(srv.url);
        // the example app's "slow" answers {"slept":ms} from its timer thread, ms later
        const replies = [];
        for (let k = 0; k < LIMIT; k++) replies.push(c.invokeRaw('slow', { ms: 4_000 }));
        const at = await waitFor(`${LIMIT} requests pending in show socket`, async () => {
          const r = await statsJson(srv, `show socket ${c.id} json`);
          return r.procedures === LIMIT && r;
        }, 5_000);
        assert.ok(c.open, `closed at ${LIMIT} pending requests, the limit itself`);
        assert.equal(at.backpressure, LIMIT);
        replies.push(c.invokeRaw('slow', { ms: 4_000 })); // one past the limit
        const { code } = await c.waitClosed(5_000);
        const i = await info(srv);
        console.log(`backpressure (procedures): close ${code} at ${LIMIT + 1} pending; ` +
          `backpressure_disconnects ${i.backpressure_disconnects}`);
        assert.equal(code, 4101);
        assert.equal(i.backpressure_disconnects, 1);
        othersZero(i, 'backpressure_disconnects');
        // another socket is not affected, and the app still answers
        assert.deepEqual(await other.invoke('echo', { still: 'here' }), { still: 'here' });
        assert.deepEqual(await other.invoke('slow', { ms: 10 }), { slept: 10 });
        await other.close();
        assert.equal((await srv.stop()).code, 0);
      } finally {
        await srv.kill();
      }
    });

  test('inbound rate: 200 messages at once close 4102; 10 a second for 2 s do not', async () => {
    const srv = await startFlow({
      name: 'flow_rate', args: ['--inbound-rate', '50', '--inbound-burst', '20'],
    });
    try {
      const fast = await Sc.connect(srv.url);
      const steady = await Sc.connect(srv.url);
      const steadyRun = (async () => {
        for (let k = 0; k < 20; k++) {
          const t0 = Date.now();
          await steady.publish('rate', { k }, true);
          await sleep(Math.max(0, 100 - (Date.now() - t0)));
        }
      })();
      fast.ws._socket.cork(); // one write: the whole burst arrives at once
      for (let k = 0; k < 200; k++) fast.publish('rate', { k });
      fast.ws._socket.uncork();
      const { code } = await fast.waitClosed(5_000);
      await within(10_000, 'the steady client\'s 20 publishes', steadyRun);
      const i = await info(srv);
      console.log(`inbound rate: burst client closed ${code}; steady client open: ${steady.open}; ` +
        `rate_limit_disconnects ${i.rate_limit_disconnects}`);
      assert.equal(code, 4102);
      assert.ok(steady.open, 'the client sending 10 messages a second was closed');
      assert.equal(i.rate_limit_disconnects, 1);
      othersZero(i, 'rate_limit_disconnects');
      await steady.close();
      assert.equal((await srv.stop()).code, 0);
    } finally {
      await srv.kill();
    }
  });

  test('channel backlog limit: the channel\'s backlog is killed, its subscriber stays', async () => {
    const srv = await startFlow({
      name: 'flow_channel_backlog',
      args: ['--channel-backlog-limit', '500', '--outbound-limit', String(256 * 1024 * 1024),
        '--outbound-ring', '65536', '--send-timeout', '60000'],
    });
    try {
      const sub = await Sc.connect(srv.url);
      await sub.subscribe('bk');
      const got = collect(sub, 'bk');
      const pub = await Sc.connect(srv.url);
      sub.pause();
      let sent = await floodChannel(pub, 'bk', {
        stopWhen: async () => (await info(srv)).channel_backlog_kills > 0,
      });
      await pub.publish('bk', { i: sent }, true);
      sent++;
      const killed = await channelRow(srv, 'bk');
      assert.ok(killed.dropped > 0, `show channels: no drop after the kill: ${JSON.stringify(killed)}`);
      const mid = await statsJson(srv, `show socket ${sub.id} json`); // errors if it was closed
      assert.equal(mid.subs, 1);

      sub.resume();
      await waitFor(`the subscriber to get the last publish (${sent - 1}; got ${got.length})`,
        async () => got.length && got[got.length - 1] === sent - 1);
      const ch = await waitFor('the channel\'s backlog to drain', async () => {
        const r = await channelRow(srv, 'bk');
        return r.backlog === 0 && r;
      });
      const i = await info(srv);
      console.log(`channel backlog: ${sent} published, ${got.length} received; ` +
        `channel_backlog_kills ${i.channel_backlog_kills}; channel ${JSON.stringify(ch)}`);
      assert.ok(sub.open, 'the subscriber was closed');
      assert.ok(i.channel_backlog_kills >= 1);
      othersZero(i, 'channel_backlog_kills');
      assert.ok(got.length < sent, 'every publish arrived: nothing was killed');
      for (let k = 1; k < got.length; k++) {
        assert.ok(got[k] > got[k - 1], `out of order or repeated: ${got[k - 1]} then ${got[k]}`);
      }
      assert.equal(ch.published, sent);
      assert.equal(ch.fanout, ch.delivered + ch.dropped + ch.backlog);
      assert.equal(ch.delivered, got.length);
      assert.equal(ch.dropped, sent - got.length);
      await sub.close();
      await pub.close();
      assert.equal((await srv.stop()).code, 0);
    } finally {
      await srv.kill();
    }
  });

  test('inbound ring: a pipelining client pauses reading; every message is still handled in order',
    async () => {
      const CLIENTS = 10;
      const MESSAGES = 500;
      const srv = await startFlow({
        name: 'flow_inbound_ring', args: ['--inbound-ring', '2', '--reactors', '1', '--workers', '1'],
      });
      try {
        const before = (await info(srv)).inbound_pauses;
        assert.equal(before, 0);
        const clients = await Promise.all(Array.from({ length: CLIENTS }, () => Sc.connect(srv.url)));
        await Promise.all(clients.map(async (c, n) => {
          const order = [];
          const acks = [];
          // one write of MESSAGES publishes: each read of the server holds far
          // more messages than a ring of 2, whatever the worker's pace
          c.ws._socket.cork();
          for (let k = 0; k < MESSAGES; k++) {
            acks.push(c.invokeRaw('#publish', { channel: `ring${n}`, data: k }).then(() => order.push(k)));
          }
          c.ws._socket.uncork();
          await within(30_000, `client ${n}: ${MESSAGES} acks`, Promise.all(acks));
          assert.deepEqual(order, Array.from({ length: MESSAGES }, (_, k) => k));
          await drained(c.ws);
        }));
        const i = await info(srv);
        console.log(`inbound ring 2: ${CLIENTS} x ${MESSAGES} pipelined publishes, inbound_pauses ` +
          `${i.inbound_pauses}, msgs_in ${i.msgs_in}`);
        assert.ok(i.inbound_pauses >= 1, 'no inbound pause with a ring of 2');
        assert.ok(i.msgs_in >= CLIENTS * (MESSAGES + 1));
        othersZero(i);
        await Promise.all(clients.map((c) => c.close()));
        assert.equal((await srv.stop()).code, 0);
      } finally {
        await srv.kill();
      }
    });
});
