// broker.test.mjs: sluiced as shipped, without --echo: the SocketCluster
// protocol out of the box (handshake, pub/sub, an answer to every invoke),
// options from a --config file, and a bad config file refused at start.
// The real client's conformance suite (tests/conformance) drives the
// example app; this file checks the daemon itself, with raw `ws` sockets.
// sluiced only: the reference echo server speaks no protocol.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { TARGET, openWs, startServer, within } from './lib.mjs';

const skip = TARGET === 'ref' ? 'the reference echo server speaks no SocketCluster' : false;
const dir = mkdtempSync(path.join(tmpdir(), 'sluiced-conf-'));

// Every text message of ws, kept from the moment it opens (a listener
// attached only while waiting would miss messages that came in between).
function inbox(ws) {
  const queue = [];
  let wake = null;
  ws.on('message', (data, isBinary) => {
    assert.equal(isBinary, false, 'sluiced sends text frames');
    queue.push(data.toString());
    if (wake) wake();
  });
  ws.on('close', () => { if (wake) wake(); });
  // The next message that is not a ping ("" in protocol v2), parsed.
  return async function nextPacket(ms = 5_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      while (queue.length) {
        const text = queue.shift();
        if (text !== '') return JSON.parse(text);
      }
      if (ws.readyState !== ws.OPEN) throw new Error('closed while waiting for a packet');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${ms} ms`);
      await within(left, 'a packet', new Promise((resolve) => { wake = resolve; }));
      wake = null;
    }
  };
}

async function handshaken(server) {
  const ws = await openWs(server.url);
  const next = inbox(ws);
  ws.send(JSON.stringify({ event: '#handshake', data: { authToken: null }, cid: 1 }));
  return { ws, next, hs: await next() };
}

describe('sluiced: the broker out of the box', { skip }, () => {
  let server;
  after(() => server && server.kill());

  test('handshake, pub/sub between two sockets, an error for every invoke', async () => {
    server = await startServer({ name: 'broker', sluicedArgs: ['--echo', 'false'] });
    const a = await handshaken(server);
    assert.equal(a.hs.rid, 1);
    assert.equal(typeof a.hs.data.id, 'string');
    assert.equal(a.hs.data.pingTimeout, 30000, 'the default ping timeout');
    assert.equal(a.hs.data.isAuthenticated, false);
    const b = await handshaken(server);
    assert.notEqual(a.hs.data.id, b.hs.data.id);

    b.ws.send(JSON.stringify({ event: '#subscribe', data: { channel: 'news' }, cid: 2 }));
    assert.deepEqual(await b.next(), { rid: 2 });
    a.ws.send(JSON.stringify({ event: '#publish', data: { channel: 'news', data: { n: 1 } }, cid: 2 }));
    assert.deepEqual(await a.next(), { rid: 2 });
    assert.deepEqual(await b.next(),
      { event: '#publish', data: { channel: 'news', data: { n: 1 } } });

    a.ws.send(JSON.stringify({ event: 'nobody', data: 1, cid: 3 }));
    const err = await a.next();
    assert.equal(err.rid, 3);
    assert.equal(err.error.name, 'UnknownProcedureError');
    assert.match(err.error.message, /nobody/);
    a.ws.close();
    b.ws.close();
  });
});

describe('sluiced --config', { skip }, () => {
  let server;
  after(() => server && server.kill());

  test('options come from the file; later command-line options win', async () => {
    const conf = path.join(dir, 'good.conf');
    writeFileSync(conf, [
      '# a sluiced config file',
      'echo = false',
      'ping-timeout = 4321          # sent to clients in the handshake',
      'socket-channel-limit = 1',
      'ping-interval = 1000',
      '',
    ].join('\n'));
    server = await startServer({
      name: 'broker-config', sluicedArgs: ['--config', conf, '--ping-interval', '500'],
    });
    const { ws, next, hs } = await handshaken(server);
    assert.equal(hs.data.pingTimeout, 4321);
    ws.send(JSON.stringify({ event: '#subscribe', data: { channel: 'one' }, cid: 2 }));
    assert.deepEqual(await next(), { rid: 2 });
    ws.send(JSON.stringify({ event: '#subscribe', data: { channel: 'two' }, cid: 3 }));
    const limited = await next();
    assert.equal(limited.rid, 3);
    assert.equal(limited.error.name, 'BrokerError');
    assert.match(limited.error.message, /subscription limit of 1/);
    // --ping-interval 500 on the command line beat the file's 1000: two pings in 1.4 s
    let pings = 0;
    const counting = (data) => { if (data.length === 0) pings++; };
    ws.on('message', counting);
    await new Promise((resolve) => setTimeout(resolve, 1_400));
    ws.off('message', counting);
    assert.ok(pings >= 2, `only ${pings} pings in 1.4 s with --ping-interval 500`);
    ws.close();
  });

  test('examples/sluiced.conf, every option at its default, loads', async () => {
    const example = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..',
      'examples', 'sluiced.conf');
    const s = await startServer({
      name: 'broker-example-conf', sluicedArgs: ['--config', example, '--host', '127.0.0.1', '--port', '0'],
    });
    try {
      const { ws, hs } = await handshaken(s);
      assert.equal(hs.data.pingTimeout, 30000);
      ws.close();
    } finally {
      await s.kill();
    }
  });

  test('a bad line stops sluiced at start with the file, the line and why', async () => {
    const conf = path.join(dir, 'bad.conf');
    writeFileSync(conf, 'port = 0\nping-timeout = soon\n');
    const child = spawn(process.env.SLUICED, ['--config', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const code = await within(5_000, 'sluiced to refuse the config', new Promise((resolve) => {
      child.once('exit', (c) => resolve(c));
    }));
    assert.equal(code, 2);
    assert.match(stderr, /bad\.conf:2: --ping-timeout: 'soon' is not a number/);
  });
});

// An HS256 JWT, as a user's own login service would make it (RFC 7519).
function hs256(payload, key) {
  const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

describe('sluiced: tokens and access rules from the config file', { skip }, () => {
  let server;
  after(() => server && server.kill());
  const key = 'the-login-service-secret';

  test('tokens signed with auth-key are verified; channels in the rules need them', async () => {
    const conf = path.join(dir, 'auth.conf');
    writeFileSync(conf, [
      'echo = false',
      `auth-key = ${key}`,
      'subscribe-auth-channels = "private/* admin"',
      'publish-auth-channels = news',
      '',
    ].join('\n'));
    server = await startServer({ name: 'broker-auth', sluicedArgs: ['--config', conf] });

    // unauthenticated: the rules refuse, everything else works
    const anon = await handshaken(server);
    assert.equal(anon.hs.data.isAuthenticated, false);
    for (const [cid, packet] of [
      [2, { event: '#subscribe', data: { channel: 'private/alice' }, cid: 2 }],
      [3, { event: '#subscribe', data: { channel: 'admin' }, cid: 3 }],
      [4, { event: '#publish', data: { channel: 'news', data: 1 }, cid: 4 }],
    ]) {
      anon.ws.send(JSON.stringify(packet));
      const m = await anon.next();
      assert.equal(m.rid, cid);
      assert.equal(m.error.name, 'AuthRequiredError', JSON.stringify(packet));
    }
    anon.ws.send(JSON.stringify({ event: '#subscribe', data: { channel: 'public' }, cid: 5 }));
    assert.deepEqual(await anon.next(), { rid: 5 });
    anon.ws.close();

    // a good token at the handshake: authenticated, the rules let it through
    const now = Math.floor(Date.now() / 1000);
    const ws = await openWs(server.url);
    const next = inbox(ws);
    ws.send(JSON.stringify({
      event: '#handshake', data: { authToken: hs256({ user: 'alice', iat: now, exp: now + 60 }, key) }, cid: 1,
    }));
    const hs = await next();
    assert.equal(hs.data.isAuthenticated, true);
    ws.send(JSON.stringify({ event: '#subscribe', data: { channel: 'private/alice' }, cid: 2 }));
    assert.deepEqual(await next(), { rid: 2 });
    ws.send(JSON.stringify({ event: '#publish', data: { channel: 'news', data: 1 }, cid: 3 }));
    assert.deepEqual(await next(), { rid: 3 });

    // #authenticate with a token signed by another key: refused, told to drop it
    ws.send(JSON.stringify({ event: '#authenticate', data: hs256({ user: 'eve' }, 'other'), cid: 4 }));
    const bad = await next();
    assert.equal(bad.rid, 4);
    assert.equal(bad.error.name, 'AuthTokenInvalidError');
    assert.equal(bad.error.isBadToken, true);
    assert.deepEqual(await next(), { event: '#removeAuthToken' });
    ws.send(JSON.stringify({ event: '#subscribe', data: { channel: 'private/bob' }, cid: 5 }));
    assert.equal((await next()).error.name, 'AuthRequiredError');
    ws.close();
  });
});
