// shutdown.test.mjs: SIGTERM closes every WebSocket with 1001 (going away)
// and the daemon exits 0 within a few seconds, even when a client never
// answers the close.
//
//   SLUICED=build/release/broker/sluiced node --test tests/integration/shutdown.test.mjs
//   SLUICE_TARGET=ref node --test tests/integration/shutdown.test.mjs
//
// Each test starts its own server, since each ends it. Under a sanitizer
// build an exit code other than 0 is also how a leak report shows up here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FrameReader, closed, connectTcp, nextMessage, openWs, rawWebSocket, startServer, within,
} from './lib.mjs';

const EXIT_MS = 5_000;

async function refused(port) {
  try {
    const sock = await connectTcp(port);
    sock.destroy();
    return false;
  } catch (err) {
    return err.code === 'ECONNREFUSED';
  }
}

test('SIGTERM with no client: exit 0 and the port is released', async () => {
  const srv = await startServer({ name: 'shutdown_idle' });
  try {
    assert.deepEqual(await srv.stop('SIGTERM', EXIT_MS), { code: 0, signal: null });
    assert.ok(await refused(srv.port), 'the port still accepts connections');
  } finally {
    await srv.kill();
  }
});

test('SIGTERM closes 20 clients, some mid-stream, with 1001 and exits 0', async () => {
  const srv = await startServer({ name: 'shutdown_clients' });
  try {
    const clients = await Promise.all(Array.from({ length: 20 }, () => openWs(srv.url)));
    for (const ws of clients) {
      ws.send('hello');
      assert.equal((await nextMessage(ws)).data.toString(), 'hello');
    }
    const codes = clients.map((ws) => closed(ws));
    // Half the clients keep echoes in flight through the shutdown, so the
    // close frame has to find its place after a message, not only on an idle
    // connection. Each stream stops on its own at the close or at 10,000.
    clients.slice(0, 10).forEach((ws, i) => {
      let n = 0;
      const more = () => { if (n < 10_000 && ws.readyState === ws.OPEN) ws.send(`c${i} m${n++}`); };
      ws.on('message', more);
      more();
    });
    const exit = srv.stop('SIGTERM', EXIT_MS);
    const got = await within(EXIT_MS, 'every client to see the close', Promise.all(codes));
    assert.deepEqual(got.map((c) => c.code), Array(20).fill(1001));
    assert.deepEqual(await exit, { code: 0, signal: null });
  } finally {
    await srv.kill();
  }
});

test('SIGTERM with a client that never answers the close still exits 0 in time', async () => {
  const srv = await startServer({ name: 'shutdown_mute' });
  try {
    const { sock } = await rawWebSocket(srv.port);
    sock.on('error', () => {});
    const polite = await openWs(srv.url);
    const politeClosed = closed(polite);
    // `sock` stays paused and never sends its close: the server may not
    // wait for it forever.
    assert.deepEqual(await srv.stop('SIGTERM', EXIT_MS), { code: 0, signal: null });
    assert.equal((await politeClosed).code, 1001);
    const reader = new FrameReader(sock);
    const res = await reader.untilClose(EXIT_MS);
    assert.ok(res.code === 1001 || res.code === null, `mute client saw close ${res.code}`);
    assert.ok(res.tcpClosed);
  } finally {
    await srv.kill();
  }
});
