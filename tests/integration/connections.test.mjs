// connections.test.mjs: 5,000 WebSockets open at once, each echoes once,
// and each closes cleanly (the client closes with 1000, the server answers
// 1000).
//
//   SLUICED=build/release/broker/sluiced node --test tests/integration/connections.test.mjs
//   SLUICE_TARGET=ref node --test tests/integration/connections.test.mjs
//
// Both this process and the server hold one descriptor per connection, so
// each needs a soft `ulimit -n` of at least 5,000 plus some headroom; the
// test checks both limits first and fails with the numbers if they are too
// low (Node cannot raise its own limit: raise it in the shell that runs the
// tests). Connections open in batches of 500, below the listen backlog, so
// a burst of SYNs is never dropped and retried after a second.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { closed, nextMessage, openFileLimit, openWs, startServer, within } from './lib.mjs';

const CONNECTIONS = 5_000;
const BATCH = 500;
const FD_HEADROOM = 200; // listeners, pipes, the runtime's own descriptors

let srv;
before(async () => {
  srv = await startServer({ name: 'connections', reactors: 2, workers: 2 });
});
after(() => srv.kill());

test('descriptor limits allow the test', () => {
  const need = CONNECTIONS + FD_HEADROOM;
  for (const [who, pid] of [['this test process', 'self'], ['the server', srv.pid]]) {
    const limit = openFileLimit(pid);
    assert.ok(limit >= need, `${who} may open ${limit} files, the test needs ${need}: raise ulimit -n`);
  }
});

test(`${CONNECTIONS} concurrent connections each echo once and close with 1000`,
  { timeout: 180_000 }, async () => {
    const sockets = [];
    try {
      for (let i = 0; i < CONNECTIONS; i += BATCH) {
        const n = Math.min(BATCH, CONNECTIONS - i);
        sockets.push(...await within(30_000, `batch of ${n} connections from #${i}`,
          Promise.all(Array.from({ length: n }, () => openWs(srv.url, 20_000)))));
      }
      // every connection is open at the same moment before any echo or close
      assert.equal(sockets.filter((ws) => ws.readyState === ws.OPEN).length, CONNECTIONS);

      const echoes = await within(60_000, 'one echo on every connection', Promise.all(sockets.map((ws, i) => {
        const got = nextMessage(ws, 60_000);
        ws.send(`connection ${i}`);
        return got;
      })));
      echoes.forEach((m, i) => {
        assert.equal(m.isBinary, false, `connection ${i}`);
        assert.equal(m.data.toString(), `connection ${i}`);
      });
      assert.equal(sockets.filter((ws) => ws.readyState === ws.OPEN).length, CONNECTIONS,
        'a connection closed before the client closed it');

      const codes = await within(60_000, 'every close handshake', Promise.all(sockets.map((ws) => {
        const done = closed(ws, 60_000);
        ws.close(1000);
        return done;
      })));
      const unclean = codes.map((c, i) => [i, c.code]).filter(([, code]) => code !== 1000);
      assert.deepEqual(unclean.slice(0, 10), [], `${unclean.length} connections closed with another code`);
    } finally {
      for (const ws of sockets) ws.terminate();
    }

    // the server freed them all and still takes new connections
    const ws = await openWs(srv.url);
    ws.send('after');
    assert.equal((await nextMessage(ws)).data.toString(), 'after');
    ws.close(1000);
    assert.equal((await closed(ws)).code, 1000);
  });
