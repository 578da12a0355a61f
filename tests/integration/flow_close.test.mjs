// flow_close: closing a channel (sluice_channel_close, the stats socket's
// `close channel NAME`): the seed's close, as opposed to kill. Every
// subscriber first gets what was already queued for it, then #kickOut for
// the channel, and is unsubscribed; publishes after that reach nobody; the
// channel goes with its last subscriber; a subscriber that was stalled gets
// its whole backlog before the kick-out once it reads again.
//
//   SLUICED=build/release/broker/sluiced node --test tests/integration/flow_close.test.mjs
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SKIP, Sc, channelRow, info, sleep, startFlow, statsCmd, waitFor } from './flow-lib.mjs';

describe('flow close channel', { skip: SKIP }, () => {
  test('close channel NAME: queued messages first, then #kickOut; the channel goes', async () => {
    const srv = await startFlow({ name: 'flow_close', args: ['--send-timeout', '60000'] });
    try {
      const fast = await Sc.connect(srv.url);
      const slow = await Sc.connect(srv.url);
      const pub = await Sc.connect(srv.url);
      const order = { fast: [], slow: [] };
      for (const [name, c] of [['fast', fast], ['slow', slow]]) {
        await c.subscribe('news');
        await c.subscribe('other');
        c.onPublish = (ch, data) => order[name].push(`${ch}:${data.i}`);
      }
      slow.pause();
      // 400 x 16 KB: more than the kernel's buffers hold for the stalled one,
      // less than the outbound limits (8 MiB, 1024 messages) that would cut it off
      const N = 400;
      const pad = 'z'.repeat(16_000);
      for (let i = 0; i < N; i++) pub.publish('news', { i, p: pad });
      await pub.publish('news', { i: N, p: pad }, true); // acked: every copy is queued
      const row = await channelRow(srv, 'news');
      assert.equal(row.subscribers, 2);
      const stalled = await waitFor('a backlog queued for the stalled subscriber', async () => {
        const r = JSON.parse(await statsCmd(srv, `show socket ${slow.id} json`));
        return r.outbound > 0 && r;
      });
      console.log(`# closing "news" with ${stalled.outbound} messages ` +
        `(${stalled.outbound_bytes} bytes) queued for the stalled subscriber`);

      const ans = await statsCmd(srv, 'close channel news');
      assert.equal(ans, 'ok: closing for 2 subscribers\n');
      // both are unsubscribed by their workers: the channel is gone
      await waitFor('channel "news" to go', async () => !(await channelRow(srv, 'news')));
      await pub.publish('news', { i: N + 1, p: pad }, true); // reaches nobody now
      await pub.publish('other', { i: 0 }, true);            // other channels go on

      slow.resume();
      const kicked = (c) => c.other.some((p) => p.event === '#kickOut' && p.data.channel === 'news');
      await waitFor('both kicked out of "news"', async () => kicked(fast) && kicked(slow));
      await waitFor('"other" delivered to both', async () =>
        order.fast.includes('other:0') && order.slow.includes('other:0'));
      for (const [name, c] of [['fast', fast], ['slow', slow]]) {
        const news = order[name].filter((x) => x.startsWith('news:'));
        assert.deepEqual(news, Array.from({ length: N + 1 }, (_, i) => `news:${i}`),
          `${name}: every message queued before the close, in order, none after`);
        const k = c.other.find((p) => p.event === '#kickOut');
        assert.equal(k.data.message, 'The channel was closed');
        assert.ok(c.open, `${name} stays connected`);
      }
      // the stalled one got its backlog before the kick-out: nothing was dropped
      const i = await info(srv);
      assert.equal(i.msgs_dropped, 0);
      assert.match(await statsCmd(srv, 'close channel news'), /^error: no channel 'news'\n$/);
      assert.equal((await channelRow(srv, 'other')).subscribers, 2);
      await sleep(50);
      for (const c of [fast, slow, pub]) await c.close();
      assert.equal((await srv.stop()).code, 0);
    } finally {
      await srv.kill();
    }
  });
});
