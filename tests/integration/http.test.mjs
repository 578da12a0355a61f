// http.test.mjs: what sluiced answers before a connection becomes a
// WebSocket: the health check, refused upgrades, and clients that never
// finish their request head.
//
//   SLUICED=build/release/broker/sluiced node --test tests/integration/http.test.mjs
//   SLUICE_TARGET=ref node --test tests/integration/http.test.mjs
//
// The server runs with --handshake-timeout 500, so a stalled head must be
// dropped well within the 2 s the slow-loris tests allow.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  FrameReader, OP, WS_PATH, closed, connectTcp, encodeFrame, openWs, nextMessage, readHead,
  sleep, startServer, upgradeRequest, upgradeStatus, within,
} from './lib.mjs';

const HANDSHAKE_TIMEOUT = 500;

function get(url) {
  return within(5_000, `GET ${url}`, new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject);
  }));
}

// Send `text` on a fresh connection and resolve with the response head.
async function rawRequest(port, text) {
  const sock = await connectTcp(port);
  try {
    sock.write(text);
    return await readHead(sock);
  } finally {
    sock.destroy();
  }
}

// Send `text` (possibly nothing) and resolve with what the server sent back
// once it closed the connection; reject if it is still open after ms.
async function dropped(port, text, ms) {
  const sock = await connectTcp(port);
  let got = '';
  sock.on('data', (d) => { got += d.toString('latin1'); });
  sock.on('error', () => {}); // a reset is a drop too
  if (text) sock.write(text);
  try {
    await within(ms, 'the server to drop a stalled handshake',
      new Promise((resolve) => sock.once('close', resolve)));
  } finally {
    sock.destroy();
  }
  return got;
}

describe('HTTP before the upgrade', () => {
  let srv;
  before(async () => {
    srv = await startServer({ name: 'http', handshakeTimeout: HANDSHAKE_TIMEOUT });
  });
  after(() => srv.kill());

  test('GET /health is 200', async () => {
    assert.equal(await get(`${srv.httpUrl}/health`), 200);
  });

  for (const p of ['/', '/socketcluster', '/socketcluster/x', '/health', '/SOCKETCLUSTER/']) {
    test(`an upgrade at ${p} is 400`, async () => {
      assert.equal(await upgradeStatus(`ws://127.0.0.1:${srv.port}${p}`), 400);
    });
  }

  test('an upgrade with a query string on the WebSocket path succeeds', async () => {
    const ws = await openWs(`${srv.url}?transport=websocket`);
    ws.send('q');
    assert.equal((await nextMessage(ws)).data.toString(), 'q');
    ws.close(1000);
    assert.equal((await closed(ws)).code, 1000);
  });

  test('Sec-WebSocket-Version 12 is 426 naming version 13', async () => {
    const { text } = upgradeRequest(srv.port, { fields: { 'Sec-WebSocket-Version': '12' } });
    const head = await rawRequest(srv.port, text);
    assert.equal(head.status, 426);
    // RFC 6455 4.4: the answer must say which versions the server speaks
    assert.equal(head.headers['sec-websocket-version'], '13');
  });

  test('an upgrade without Sec-WebSocket-Key is 400', async () => {
    const { text } = upgradeRequest(srv.port, { fields: { 'Sec-WebSocket-Key': null } });
    assert.equal((await rawRequest(srv.port, text)).status, 400);
  });

  test('slow-loris: half a request head is dropped within 2 s', async () => {
    const got = await dropped(srv.port, `GET ${WS_PATH} HTTP/1.1\r\nHost: 127`, 2_000);
    assert.ok(!got.startsWith('HTTP/1.1 101'), `the server upgraded a half request: ${got}`);
  });

  test('a connection that sends nothing is dropped within 2 s', async () => {
    const got = await dropped(srv.port, '', 2_000);
    assert.ok(!got.startsWith('HTTP/1.1 101'));
  });

  test('the handshake timeout stops at the upgrade: an idle WebSocket stays open', async () => {
    const sock = await connectTcp(srv.port);
    sock.write(upgradeRequest(srv.port).text);
    const head = await readHead(sock);
    assert.equal(head.status, 101);
    const reader = new FrameReader(sock, head.rest);
    // idle for three handshake timeouts: the behaviour under test, not a wait for an event
    await sleep(3 * HANDSHAKE_TIMEOUT);
    assert.equal(reader.ended, false, 'the server dropped an upgraded connection that was idle');
    sock.write(encodeFrame({ opcode: OP.TEXT, payload: Buffer.from('still here') }));
    const f = await reader.next();
    assert.equal(f.opcode, OP.TEXT);
    assert.equal(f.payload.toString(), 'still here');
    sock.destroy();
  });
});
