// flow_api: the backpressure API of sluice.h as an application sees it,
// through the example app's "backpressure" procedure (sluice_socket_stats,
// sluice_socket_backpressure, sluice_socket_procedure_backpressure,
// sluice_procedure_backpressure): requests a procedure took and has not
// answered count per socket, per procedure and across sockets, and go back
// to zero once answered.
//
//   SLUICED=build/release/broker/sluiced SLUICE_APP=build/release/examples/sluice-example-app \
//     node --test tests/integration/flow_api.test.mjs
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SKIP, Sc, startFlow, waitFor } from './flow-lib.mjs';

describe('flow API', { skip: SKIP || (!process.env.SLUICE_APP && 'SLUICE_APP is not set') }, () => {
  test('pending requests per socket, per procedure and per server', async () => {
    const srv = await startFlow({ app: true, name: 'flow_api' });
    try {
      const a = await Sc.connect(srv.url);
      const b = await Sc.connect(srv.url);
      await a.subscribe('x');
      const idle = await a.invoke('backpressure', null);
      assert.equal(idle.procedures, 1, 'the asking request itself');
      assert.equal(idle.slow, 0);
      assert.equal(idle.serverSlow, 0);
      assert.equal(idle.subscriptions, 1);

      // 3 slow requests on a, 2 on b, answered in 1.5 s from the app's timer thread
      const slow = [];
      for (let k = 0; k < 3; k++) slow.push(a.invoke('slow', { ms: 1_500 }));
      for (let k = 0; k < 2; k++) slow.push(b.invoke('slow', { ms: 1_500 }));
      const busy = await waitFor('5 slow requests pending', async () => {
        const r = await a.invoke('backpressure', null);
        return r.serverSlow === 5 && r;
      }, 1_000);
      assert.equal(busy.slow, 3, 'a\'s own slow requests');
      assert.equal(busy.procedures, 4, '3 slow and this one');
      assert.equal(busy.backpressure, 4, 'the largest stream: procedures');
      const onB = await b.invoke('backpressure', null);
      assert.equal(onB.slow, 2);

      await Promise.all(slow);
      const after = await a.invoke('backpressure', null);
      assert.equal(after.slow, 0);
      assert.equal(after.serverSlow, 0);
      assert.equal(after.procedures, 1);
      assert.ok(after.msgsIn >= 8, `msgsIn ${after.msgsIn}`);
      for (const c of [a, b]) await c.close();
      assert.equal((await srv.stop()).code, 0);
    } finally {
      await srv.kill();
    }
  });
});
