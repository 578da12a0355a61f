// inbound_ring.test.mjs: when a connection's inbound ring to its worker is
// full, sluiced stops reading that client (TCP then pushes back on it) and
// reads on once the worker has drained the ring. With --inbound-ring 2 and
// clients that pipeline hundreds of messages, that pause and resume happens
// all the time; no message may be lost, duplicated, reordered, or stuck.
//
//   SLUICED=build/release/broker/sluiced node --test tests/integration/inbound_ring.test.mjs
//
// sluiced only: the reference server has no inbound ring.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TARGET, openWs, startServer, within } from './lib.mjs';

const CLIENTS = 20;
const MESSAGES = 2000;

test('a full inbound ring pauses reading and resumes; every echo arrives in order',
  { skip: TARGET === 'ref' && 'the reference server has no inbound ring', timeout: 120_000 },
  async () => {
    const srv = await startServer({
      name: 'inbound_ring', reactors: 1, workers: 1, sluicedArgs: ['--inbound-ring', '2'],
    });
    try {
      const clients = await Promise.all(Array.from({ length: CLIENTS }, () => openWs(srv.url)));
      await Promise.all(clients.map(async (ws, c) => {
        let next = 0;
        const done = new Promise((resolve, reject) => {
          ws.on('message', (data) => {
            const want = `c${c} m${next}`;
            if (data.toString() !== want) reject(new Error(`client ${c}: got "${data}", want "${want}"`));
            if (++next === MESSAGES) resolve();
          });
        });
        for (let i = 0; i < MESSAGES; i++) ws.send(`c${c} m${i}`);
        await within(60_000, `client ${c}: ${MESSAGES} echoes in order (got ${next})`, done);
        ws.close(1000);
      }));
      const { code } = await srv.stop('SIGTERM');
      assert.equal(code, 0);
    } finally {
      await srv.kill();
    }
  });
