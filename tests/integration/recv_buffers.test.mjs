// recv_buffers.test.mjs: when every receive buffer of a reactor is in use,
// the kernel ends the multishot recv with -ENOBUFS; sluiced must arm it
// again once buffers come back and lose no byte. With --recv-buffers 2 and
// 20 clients sending 64 KiB messages at once, that happens constantly; every
// echo must still be byte-exact and in order, and the reactor's count of
// re-arms (printed at exit) must show that the path really ran.
//
//   SLUICED=build/release/broker/sluiced node --test tests/integration/recv_buffers.test.mjs
//
// sluiced only: the reference server has no buffer ring.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { KiB, TARGET, nextMessage, openWs, prng, startServer, within } from './lib.mjs';

const CLIENTS = 20;
const MESSAGES = 40;

test('a recv that ran out of buffers is armed again and loses no byte',
  { skip: TARGET === 'ref' && 'the reference server has no buffer ring', timeout: 120_000 },
  async (t) => {
    const srv = await startServer({
      name: 'recv_buffers', reactors: 1, workers: 1, maxPayload: 256 * KiB,
      sluicedArgs: ['--recv-buffers', '2'],
    });
    try {
      const rand = prng(7);
      const clients = await Promise.all(Array.from({ length: CLIENTS }, () => openWs(srv.url)));
      await Promise.all(clients.map(async (ws, c) => {
        const sent = [];
        const got = [];
        const all = new Promise((resolve) => {
          ws.on('message', (data) => {
            got.push(createHash('sha1').update(data).digest('hex'));
            if (got.length === MESSAGES) resolve();
          });
        });
        for (let i = 0; i < MESSAGES; i++) {
          const m = Buffer.alloc(1 + Math.floor(rand() * 64 * KiB), (c * 31 + i) & 255);
          if (m.length >= 4) m.writeUInt32LE(i, 0); // no two messages alike
          sent.push(createHash('sha1').update(m).digest('hex'));
          ws.send(m);
        }
        await within(60_000, `client ${c}: ${MESSAGES} echoes`, all);
        assert.deepEqual(got, sent, `client ${c}: echoes differ from what was sent`);
        ws.close(1000);
      }));
      const { code } = await srv.stop('SIGTERM');
      assert.equal(code, 0);
      const m = /(\d+) recv re-arms after ENOBUFS/.exec(srv.output());
      assert.ok(m, `no reactor statistics in the output:\n${srv.output()}`);
      t.diagnostic(`recv re-armed ${m[1]} times after ENOBUFS`);
      assert.ok(Number(m[1]) > 0, 'the buffer ring never ran out: the test did not test anything');
    } finally {
      await srv.kill();
    }
  });
