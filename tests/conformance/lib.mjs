// lib.mjs: what every conformance test shares. Start the app under test
// (sluice's C example app, or ref-app.mjs on the real socketcluster-server),
// talk to it with the real socketcluster-client, or with raw `ws` sockets
// where a test needs packets the real client never sends.
//
// The app under test is chosen by SLUICE_TARGET:
//   sluice (default)  spawn $SLUICE_APP --host 127.0.0.1 --port 0 ...
//   ref               spawn `node ref-app.mjs` with the same options
// Both print `<name>: listening on 127.0.0.1:<port>` once ready.
//
// WORKDIR, when set, receives one log file per started app (its stdout and
// stderr), so a failure under CTest leaves the app's side behind.
//
// Nothing here waits without a deadline: every wait takes a timeout and
// rejects with a message that says what did not happen. cleanup() (every
// test file registers it with after()) closes every client and raw socket
// and kills every app this process started.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import scClient from 'socketcluster-client';
import WebSocket from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const TARGET = process.env.SLUICE_TARGET || 'sluice';
if (TARGET !== 'sluice' && TARGET !== 'ref') {
  throw new Error(`SLUICE_TARGET must be "sluice" or "ref", not "${TARGET}"`);
}
export const IS_REF = TARGET === 'ref';

export const WS_PATH = '/socketcluster/';
export const READY_LINE = /listening on 127\.0\.0\.1:(\d+)/;

// ---------------------------------------------------------------------------
// Bounded waiting

// Reject with `what` unless `promise` settles within `ms`.
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Poll `cond` every `every` ms until it returns a truthy value (resolved
// with it); reject with `what` after ms.
export async function waitFor(cond, ms, what, every = 10) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${ms} ms: ${typeof what === 'function' ? what() : what}`);
    }
    await sleep(every);
  }
}

// Resolve with the error a promise rejects with; fail if it resolves, or if
// it does not settle within ms.
export async function rejectsWith(promise, ms, what) {
  let value;
  try {
    value = await within(ms, what, promise);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith(`timed out after ${ms} ms: `)) throw err;
    return err;
  }
  throw new Error(`${what}: resolved with ${JSON.stringify(value)} instead of failing`);
}

// Consume an async iterable (a socketcluster stream) in the background into
// an array. until(n, ms, what) waits for at least n items.
export function record(iterable) {
  const items = [];
  (async () => {
    for await (const item of iterable) items.push(item);
  })().catch(() => {});
  return {
    items,
    until: (n, ms, what) => waitFor(() => items.length >= n, ms,
      () => `${what} (got ${items.length} of ${n})`),
  };
}

// ---------------------------------------------------------------------------
// The app under test

const liveApps = new Set(); // child processes still running
const apps = new Set(); // what startApp handed out, for cleanup()
process.on('exit', () => {
  for (const child of liveApps) child.kill('SIGKILL');
});

let started = 0;

const OPTION_FLAGS = {
  pingInterval: '--ping-interval',
  pingTimeout: '--ping-timeout',
  handshakeTimeout: '--handshake-timeout',
  protocolVersion: '--protocol-version',
  maxPayload: '--max-payload',
  socketChannelLimit: '--socket-channel-limit',
  allowClientPublish: '--allow-client-publish',
  ackTimeout: '--ack-timeout',
  authKey: '--auth-key',
  authDefaultExpiry: '--auth-default-expiry',
};
// Bare flags: passed when the option is true.
const BOOLEAN_FLAGS = {
  middleware: '--middleware',
};

// Start the app under test and resolve once it printed its ready line.
// opts: name (for the log file), readyTimeout (ms, default 10 s), and the
// app options by their socketcluster-server names: pingInterval,
// pingTimeout, handshakeTimeout, protocolVersion, maxPayload,
// socketChannelLimit, allowClientPublish, ackTimeout, authKey,
// authDefaultExpiry (omitted ones keep the app's defaults), and
// middleware: true for the app's test middlewares (--middleware).
export async function startApp(opts = {}) {
  const flags = ['--host', '127.0.0.1', '--port', '0'];
  for (const [key, flag] of Object.entries(OPTION_FLAGS)) {
    if (opts[key] !== undefined) flags.push(flag, String(opts[key]));
  }
  for (const [key, flag] of Object.entries(BOOLEAN_FLAGS)) {
    if (opts[key]) flags.push(flag);
  }
  // flags only sluice's app knows (the reference would refuse them)
  if (opts.sluiceArgs && !IS_REF) flags.push(...opts.sluiceArgs);

  let file, args;
  if (IS_REF) {
    file = process.execPath;
    args = [path.join(HERE, 'ref-app.mjs'), ...flags];
  } else {
    file = process.env.SLUICE_APP;
    if (!file) {
      throw new Error('SLUICE_APP is not set: point it at the sluice example app, or set SLUICE_TARGET=ref');
    }
    args = flags;
  }

  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  liveApps.add(child);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      liveApps.delete(child);
      resolve({ code, signal });
    });
  });

  // Both streams are drained for the app's whole life (a full pipe would
  // block it); the last lines are kept for error messages.
  const tail = [];
  const log = process.env.WORKDIR
    ? createWriteStream(path.join(process.env.WORKDIR,
        `${opts.name || 'app'}.${process.pid}.${started++}.log`))
    : null;
  if (log) log.write(`# ${file} ${args.join(' ')}\n`);
  let port = null;
  let onReady;
  const ready = new Promise((resolve, reject) => {
    onReady = resolve;
    child.once('error', (err) => reject(new Error(`cannot start ${file}: ${err.message}`)));
    exited.then(({ code, signal }) => reject(new Error(
      `${file} exited (code ${code}, signal ${signal}) before its ready line; output:\n${tail.join('\n')}`)));
  });
  for (const [stream, tag] of [[child.stdout, 'out'], [child.stderr, 'err']]) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      if (log) log.write(chunk);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      for (const line of lines) {
        tail.push(`${tag}: ${line}`);
        if (tail.length > 50) tail.shift();
        const m = tag === 'out' && port === null && READY_LINE.exec(line);
        if (m) {
          port = Number(m[1]);
          onReady(port);
        }
      }
    });
  }

  try {
    await within(opts.readyTimeout ?? 10_000,
      `${file} did not print "<name>: listening on 127.0.0.1:<port>"; output:\n${tail.join('\n')}`, ready);
  } catch (err) {
    child.kill('SIGKILL');
    child.stdout.destroy();
    child.stderr.destroy();
    throw err;
  }

  const app = {
    port,
    pid: child.pid,
    url: `ws://127.0.0.1:${port}${WS_PATH}`,
    exited,
    output: () => tail.join('\n'),
    // For after() hooks: make sure it is gone, whatever state the test left.
    // sluice's app is stopped with SIGTERM and must exit 0 within 10 s: its
    // orderly shutdown (every socket closed, every thread joined, and under
    // ASan the leak check) is part of what the suite checks. The reference
    // is simply killed.
    async kill() {
      let failure = null;
      if (liveApps.has(child) && TARGET === 'sluice') {
        child.kill('SIGTERM');
        try {
          const { code, signal } = await within(10_000, `app ${child.pid} to exit after SIGTERM`, exited);
          if (code !== 0) failure = `app exited with code ${code} (signal ${signal}) after SIGTERM`;
        } catch (err) {
          failure = err.message;
        }
      }
      if (liveApps.has(child)) child.kill('SIGKILL');
      await within(5_000, `app ${child.pid} to exit after SIGKILL`, exited);
      if (log) log.end();
      if (failure) throw new Error(`${failure}; output:\n${tail.join('\n')}`);
    },
  };
  apps.add(app);
  return app;
}

// ---------------------------------------------------------------------------
// The real client (socketcluster-client 20.0.2)

const clients = new Set();

// Create a client (it connects at once). Reconnects are fast and without
// randomness so tests that wait for one stay short; opts override.
export function createClient(port, opts = {}) {
  const client = scClient.create({
    hostname: '127.0.0.1',
    port,
    autoReconnectOptions: { initialDelay: 100, randomness: 0, multiplier: 1, maxDelay: 500 },
    ...opts,
  });
  clients.add(client);
  return client;
}

// Create a client and wait for its 'connect' event; resolves with
// { client, status } (status: what the handshake reply held).
export async function connectClient(port, opts = {}, ms = 10_000) {
  const client = createClient(port, opts);
  const status = await within(ms, `the client to connect to 127.0.0.1:${port}`,
    client.listener('connect').once());
  return { client, status };
}

// Disconnect a client for good (no reconnect) and forget it.
export function dropClient(client) {
  client.options.autoReconnect = false;
  client.disconnect(1000);
  client.killAllListeners();
  client.killAllReceivers();
  client.killAllProcedures();
  client.killAllChannels();
  clients.delete(client);
}

// Subscribe and wait until the server acknowledged it.
export async function subscribed(client, channelName, ms = 5_000, options) {
  const channel = client.subscribe(channelName, options);
  if (!channel.isSubscribed()) {
    await within(ms, `the subscription to ${channelName} to be acknowledged`,
      channel.listener('subscribe').once());
  }
  return channel;
}

// ---------------------------------------------------------------------------
// Raw ws sockets, for what the real client never sends

const raws = new Set();

// A raw WebSocket on the app's path. Every non-ping message lands in inbox
// as { text, isBinary, packet } (packet: the parsed JSON, or undefined);
// pings (the empty text frame, or `#1` with protocol v1) are counted in
// pings and, unless autoPong is false, answered like the real client does.
export class RawSocket {
  constructor(ws, { autoPong = true, protocolVersion = 2 } = {}) {
    this.ws = ws;
    this.autoPong = autoPong;
    this.ping = protocolVersion === 1 ? '#1' : '';
    this.pong = protocolVersion === 1 ? '#2' : '';
    this.pings = 0;
    this.inbox = [];
    this.all = []; // every message, pings included, in arrival order
    this.cid = 0;
    this.waiters = new Set();
    this.closeInfo = null;
    this.closedPromise = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.#wake();
      });
    });
    ws.on('error', (err) => { this.error = err; });
    ws.on('message', (data, isBinary) => {
      const text = data.toString();
      this.all.push({ text, isBinary });
      if (!isBinary && text === this.ping) {
        this.pings++;
        if (this.autoPong && ws.readyState === WebSocket.OPEN) ws.send(this.pong);
      } else {
        let packet;
        try {
          packet = JSON.parse(text);
        } catch {
          packet = undefined;
        }
        this.inbox.push({ text, isBinary, packet });
      }
      this.#wake();
    });
  }

  #wake() {
    for (const w of [...this.waiters]) w();
  }

  // Send a packet (an object or array is JSON-encoded, a string is sent as
  // is); binary: true sends it in a binary frame.
  send(packet, { binary = false } = {}) {
    const text = typeof packet === 'string' ? packet : JSON.stringify(packet);
    this.ws.send(binary ? Buffer.from(text) : text, { binary });
  }

  nextCid() {
    return ++this.cid;
  }

  // Remove and return the first inbox message matching pred; wait up to ms.
  async take(pred, ms, what) {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0];
      if (this.closeInfo) {
        throw new Error(`${what}: the socket closed with ${this.closeInfo.code} first; inbox: ` +
          JSON.stringify(this.inbox.map((m) => m.text)));
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${ms} ms: ${what}; inbox: ` +
          JSON.stringify(this.inbox.map((m) => m.text).slice(0, 20)));
      }
      await new Promise((resolve) => {
        const t = setTimeout(done, left);
        function done() {
          clearTimeout(t);
          waiters.delete(done);
          resolve();
        }
        const waiters = this.waiters;
        waiters.add(done);
      });
    }
  }

  // The reply to cid (a packet with that rid).
  reply(cid, ms = 5_000) {
    return this.take((m) => m.packet && !Array.isArray(m.packet) && m.packet.rid === cid, ms,
      `a reply with rid ${cid}`);
  }

  // Send an invoke with the next cid and resolve with its reply message.
  async invoke(event, data, ms = 5_000) {
    const cid = this.nextCid();
    const packet = { event, cid };
    if (data !== undefined) packet.data = data;
    this.send(packet);
    return this.reply(cid, ms);
  }

  transmit(event, data) {
    const packet = { event };
    if (data !== undefined) packet.data = data;
    this.send(packet);
  }

  // Send the handshake the real client sends (authToken: a signed token,
  // or null) and resolve with the reply packet.
  async handshake(ms = 5_000, { authToken = null } = {}) {
    const cid = this.nextCid();
    this.send({ event: '#handshake', data: { authToken }, cid });
    const m = await this.reply(cid, ms);
    return m.packet;
  }

  // Resolve with { code, reason } once closed; reject after ms.
  closed(ms, what = 'the socket to be closed by the server') {
    return within(ms, what, this.closedPromise);
  }

  // Assert that no inbox message matching pred (default: any) arrives
  // within ms; resolves with the inbox as it is then.
  async quiet(ms, pred = () => true, what = 'an unexpected message') {
    await sleep(ms);
    const bad = this.inbox.filter(pred);
    if (bad.length) throw new Error(`${what}: ${JSON.stringify(bad.map((m) => m.text))}`);
  }

  close() {
    raws.delete(this);
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.terminate();
    }
  }
}

// Open a raw WebSocket to the app; resolves with a RawSocket once open.
// Compression is never offered. opts: autoPong, protocolVersion, path.
export function openRaw(port, opts = {}, ms = 5_000) {
  const url = `ws://127.0.0.1:${port}${opts.path || WS_PATH}`;
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: ms });
  // the RawSocket listens from the first byte: the server may ping at once
  const raw = new RawSocket(ws, opts);
  raws.add(raw);
  return within(ms, `open ${url}`, new Promise((resolve, reject) => {
    ws.once('open', () => resolve(raw));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`unexpected HTTP ${res.statusCode} to the upgrade`));
      ws.terminate();
    });
  }));
}

// Open a raw socket and complete the handshake; resolves with
// { raw, status } (status: the handshake reply's data). opts: those of
// openRaw, and authToken (sent in the #handshake; default null).
export async function handshakenRaw(port, opts = {}) {
  const raw = await openRaw(port, opts);
  const reply = await raw.handshake(5_000, { authToken: opts.authToken ?? null });
  return { raw, status: reply.data };
}

// Send a WebSocket upgrade request for `path` (query string included) and
// resolve with what came back: { upgraded: true, statusCode: 101 } when the
// server accepted it (the socket is then destroyed at once), else
// { upgraded: false, statusCode, body }.
export function upgradeResponse(port, path = WS_PATH, ms = 5_000) {
  return within(ms, `the answer to an upgrade of ${path}`, new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    req.setTimeout(ms, () => req.destroy(new Error('no answer')));
    req.once('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ upgraded: true, statusCode: res.statusCode });
    });
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.once('end', () => resolve({ upgraded: false, statusCode: res.statusCode, body }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  }));
}

// ---------------------------------------------------------------------------
// JWT auth tokens (jsonwebtoken 9.0.3, the copy socketcluster-server uses)

export { jwt };

// Sign payload with HS256 (jsonwebtoken options may override, e.g.
// expiresIn, notBefore, noTimestamp).
export function signToken(payload, key, options = {}) {
  return jwt.sign(payload, key, { algorithm: 'HS256', ...options });
}

// The header and payload of a signed token, without verifying it.
export function decodeToken(signed) {
  const [header, payload] = signed.split('.').slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
  return { header, payload };
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

// A client authEngine that holds one token (initially `token`), so a test
// can hand the real client a stored token, or read the one it keeps:
// createClient(port, { authEngine: memoryAuthEngine(signed) }).
export function memoryAuthEngine(token = null) {
  return {
    token,
    saveToken(_name, t) {
      this.token = t;
      return Promise.resolve(t);
    },
    removeToken(_name) {
      const old = this.token;
      this.token = null;
      return Promise.resolve(old);
    },
    loadToken(_name) {
      return Promise.resolve(this.token);
    },
  };
}

// Every text message a real client receives, parsed when it is JSON (pings
// left out), from its 'message' events; in arrival order.
export function clientWire(client) {
  const seen = [];
  (async () => {
    for await (const { message } of client.listener('message')) {
      if (typeof message !== 'string' || message === '' || message === '#1') continue;
      let packet;
      try {
        packet = JSON.parse(message);
      } catch {
        packet = undefined;
      }
      seen.push({ text: message, packet });
    }
  })();
  return seen;
}

// ---------------------------------------------------------------------------

// Close every client and raw socket and kill every app this process
// started. Register with after() in every test file.
export async function cleanup() {
  for (const client of [...clients]) {
    try {
      dropClient(client);
    } catch {
      // a client in a strange state must not stop the rest of the cleanup
    }
  }
  for (const raw of [...raws]) raw.close();
  const results = await Promise.allSettled([...apps].map((app) => app.kill()));
  apps.clear();
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length) throw failed[0].reason;
}
