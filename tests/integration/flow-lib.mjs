// flow-lib.mjs: what the flow tests (flow_limits, flow_stats, flow_flood)
// share on top of lib.mjs: start sluiced or the example app with the flow
// and stats flags, speak SocketCluster over npm `ws` (JSON text frames),
// ask the stats socket (a Unix socket: one command line in, the whole
// answer out) and GET /metrics.
//
// Binaries, from the environment (CTest sets all three):
//   SLUICED      the daemon (pub/sub, no procedures)
//   SLUICE_APP   examples/sluice-example-app (the same options, and the
//                procedures "echo", "slow", ... of examples/app.c)
//   SLUICECTL    tools/sluicectl
// Under ASan (SLUICE_ASAN=1, or a binary path containing "/asan/") the
// figures that measure speed and memory are printed but not asserted.
//
// Every wait is bounded; servers are killed when the test process exits.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import {
  OP, TARGET, encodeFrame, rawWebSocket, rssBytes, sleep, spawnReady, within,
} from './lib.mjs';

export { rssBytes, sleep, within };

export const SKIP = TARGET === 'ref' ? 'the reference echo server has no flow limits or stats' : false;

// The daemon's (or app's) ready line; the app names itself.
const READY = /^(?:sluiced|sluice-example-app): listening on 127\.0\.0\.1:(\d+)$/;

export const ASAN = process.env.SLUICE_ASAN === '1' ||
  [process.env.SLUICED, process.env.SLUICE_APP].some((p) => p && p.includes('/asan/'));

const dirs = [];
process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// A fresh temporary directory, removed when the process exits.
export function tempDir(prefix = 'sluice-flow-') {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

// Start sluiced (app: false) or the example app (app: true) on 127.0.0.1,
// port 0, pings off, with a stats socket in a temporary directory and,
// with metrics: true, GET /metrics on 127.0.0.1:0. args: more flags.
// Resolves with { port, pid, url, stats (the socket's path), metricsPort,
// stop(), kill(), output() }.
export async function startFlow({ app = false, name = 'flow', args = [], metrics = false,
  stats = true, readyTimeout = 15_000 } = {}) {
  const file = app ? process.env.SLUICE_APP : process.env.SLUICED;
  if (!file) throw new Error(`${app ? 'SLUICE_APP' : 'SLUICED'} is not set`);
  const statsPath = stats ? path.join(tempDir(), 'stats.sock') : null;
  const flags = ['--host', '127.0.0.1', '--port', '0', '--ping-timeout-disabled', 'true'];
  if (statsPath) flags.push('--stats-socket', statsPath);
  if (metrics) flags.push('--metrics-listen', '127.0.0.1:0');
  flags.push(...args);

  const srv = await spawnReady(file, flags, { name, readyTimeout, ready: READY, stopMs: 10_000 });
  srv.stats = statsPath;
  srv.metricsPort = metrics ? (await statsJson(srv, 'show info json')).metrics_port : null;
  return srv;
}

// ---------------------------------------------------------------------------
// The stats socket and /metrics

// Send one command line; resolve with the whole answer (text).
export function statsCmd(srv, line, ms = 5_000) {
  const sockPath = typeof srv === 'string' ? srv : srv.stats;
  return within(ms, `the stats socket's answer to "${line}"`, new Promise((resolve, reject) => {
    const sock = net.connect(sockPath);
    const chunks = [];
    sock.on('connect', () => sock.write(`${line}\n`));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  }));
}

// The answer parsed as JSON; an "error: " answer rejects with it.
export async function statsJson(srv, line, ms) {
  const text = await statsCmd(srv, line, ms);
  if (text.startsWith('error: ')) throw new Error(`"${line}": ${text.trim()}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`"${line}" answered no JSON: ${JSON.stringify(text)}`);
  }
}

export const info = (srv) => statsJson(srv, 'show info json');

// One channel's row of show channels json, or undefined.
export async function channelRow(srv, name) {
  const rows = await statsJson(srv, 'show channels sort published limit 100000 json');
  return rows.find((r) => r.name === name);
}

// Poll fn (async) every `every` ms until it returns a truthy value; resolve
// with that value, reject after ms with `what` and the last value seen.
export async function waitFor(what, fn, ms = 10_000, every = 50) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${ms} ms: ${what} (last: ${JSON.stringify(last)})`);
    }
    await sleep(every);
  }
}

// Poll `show info json` until key stops moving for `quiet` ms; resolve with it.
export async function settled(srv, key, { quiet = 500, ms = 20_000 } = {}) {
  const deadline = Date.now() + ms;
  let last = (await info(srv))[key];
  let since = Date.now();
  for (;;) {
    await sleep(100);
    const now = (await info(srv))[key];
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quiet) {
      return now;
    }
    if (Date.now() > deadline) throw new Error(`show info ${key} kept moving for ${ms} ms`);
  }
}

// GET http://127.0.0.1:port/path; resolve with { status, headers, body }.
export function httpGet(port, reqPath, ms = 5_000) {
  return within(ms, `GET ${reqPath}`, new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: reqPath, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.on('error', reject);
  }));
}

// One sample of a Prometheus text body: `name{labels}` -> number.
export function metricValue(body, series) {
  for (const line of body.split('\n')) {
    if (line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    if (sp > 0 && line.slice(0, sp) === series) return Number(line.slice(sp + 1));
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// SocketCluster over ws

// A handshaken SocketCluster client. Replies settle invoke()'s promises;
// #publish deliveries go to onPublish (default: kept in `publications`);
// everything else is kept in `other`. Pings ("") are answered.
export class Sc {
  static async connect(url, ms = 10_000) {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: ms });
    await within(ms, `open ${url}`, new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    }));
    const sc = new Sc(ws);
    sc.url = url;
    const hs = await sc.invoke('#handshake', { authToken: null }, ms);
    sc.id = hs.id;
    sc.handshake = hs;
    return sc;
  }

  constructor(ws) {
    this.ws = ws;
    this.cid = 0;
    this.pending = new Map();
    this.publications = [];
    this.onPublish = null;
    this.other = [];
    this.closeInfo = null;
    this.sentMsgs = 0; // messages and payload bytes sent, for the stats
    this.sentBytes = 0;
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const [, p] of this.pending) p.reject(new Error(`closed with ${code} before the reply`));
        this.pending.clear();
        resolve(this.closeInfo);
      });
    });
    ws.on('error', () => {}); // a reset shows as 'close'
    ws.on('message', (data, isBinary) => {
      const text = data.toString();
      if (text === '') { // a ping (protocol v2)
        if (ws.readyState === WebSocket.OPEN) ws.send('');
        return;
      }
      let p;
      try {
        p = JSON.parse(text);
      } catch {
        p = undefined;
      }
      if (isBinary || p === undefined) { // sluiced sends protocol packets as JSON text only
        this.other.push(isBinary ? data : text);
        return;
      }
      if (p && typeof p.rid === 'number' && this.pending.has(p.rid)) {
        const w = this.pending.get(p.rid);
        this.pending.delete(p.rid);
        if (p.error) w.reject(Object.assign(new Error(`error reply: ${JSON.stringify(p.error)}`), { reply: p }));
        else w.resolve(p.data);
      } else if (p && p.event === '#publish') {
        if (this.onPublish) this.onPublish(p.data.channel, p.data.data);
        else this.publications.push(p.data);
      } else {
        this.other.push(p);
      }
    });
  }

  get open() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(obj) {
    const text = JSON.stringify(obj);
    this.sentMsgs++;
    this.sentBytes += Buffer.byteLength(text);
    this.ws.send(text);
  }

  // Invoke `event`; resolves with the reply's data, rejects on an error reply.
  invoke(event, data, ms = 10_000) {
    const cid = ++this.cid;
    const p = new Promise((resolve, reject) => this.pending.set(cid, { resolve, reject }));
    this.send({ event, data, cid });
    return within(ms, `the reply to ${event} (cid ${cid})`, p);
  }

  // Invoke without a deadline of its own: the caller bounds the wait.
  invokeRaw(event, data) {
    const cid = ++this.cid;
    const p = new Promise((resolve, reject) => this.pending.set(cid, { resolve, reject }));
    p.catch(() => {}); // a close rejects every pending one; the caller may not care
    this.send({ event, data, cid });
    return p;
  }

  subscribe(channel, ms) {
    return this.invoke('#subscribe', { channel }, ms);
  }

  // A publish; with ack, resolves once the server acknowledged it.
  publish(channel, data, ack = false) {
    if (ack) return this.invoke('#publish', { channel, data });
    this.send({ event: '#publish', data: { channel, data } });
    return undefined;
  }

  // Stop / start reading the TCP socket (the kernel buffers fill, then the
  // server's queue for this socket).
  pause() {
    this.ws._socket.pause();
  }

  resume() {
    this.ws._socket.resume();
  }

  waitClosed(ms = 10_000) {
    return within(ms, `socket ${this.id} to close`, this.closed);
  }

  close(code = 1000) {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(code);
    }
    return this.waitClosed();
  }
}

// Send while the ws client holds at most `high` bytes unsent; resolve once
// it is below again (bounded).
export async function drained(ws, high = 0, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (ws.bufferedAmount > high) {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() > deadline) throw new Error(`ws kept ${ws.bufferedAmount} bytes unsent for ${ms} ms`);
    await sleep(2);
  }
}

// The p-th percentile (0..100) of a numeric array (nearest rank).
export function percentile(values, p) {
  const v = [...values].sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
}

// Publish on `channel` from sc as fast as the socket takes it (ws's unsent
// bytes kept under `high`), `size`-byte messages { i, p }, until stopWhen()
// (async, asked after every `batch` messages) is true, `max` messages went
// out, or `ms` passed. Resolves with the number sent; i runs from `from`.
// With `window`, every publish asks for an ack and at most `window` are
// unanswered at once: the publisher's own inbound stream then stays below
// that (for --backpressure-limit, which counts it too).
export async function floodChannel(sc, channel, {
  size = 1024, batch = 100, stopWhen = async () => false, max = 1_000_000, ms = 20_000,
  high = 256 * 1024, from = 0, window = 0,
} = {}) {
  const pad = 'x'.repeat(Math.max(0, size - 40));
  const deadline = Date.now() + ms;
  const acks = [];
  let n = 0;
  while (n < max && Date.now() < deadline && sc.open) {
    for (let k = 0; k < batch && n < max && sc.open; k++, n++) {
      const data = { channel, data: { i: from + n, p: pad } };
      if (!window) {
        sc.send({ event: '#publish', data });
        continue;
      }
      if (acks.length >= window) {
        await within(Math.max(1, deadline - Date.now()), 'a publish ack', acks.shift());
      }
      acks.push(sc.invokeRaw('#publish', data));
    }
    await drained(sc.ws, high, Math.max(1, deadline - Date.now()));
    if (await stopWhen(n)) break;
  }
  if (acks.length) await within(10_000, 'the last publish acks', Promise.all(acks));
  return n;
}

// A subscriber on a raw TCP socket, for a client that must stall without
// costing the test process anything when it reads again: handshake and
// subscribe by hand, then pause(); resume() walks the frame headers that
// come (no copy, no parse of payloads) and counts them until the server's
// close frame or the end of the connection. `ended` resolves with
// { code (null without a close frame), frames (data frames before it) }.
export async function rawSubscriber(port, channel, ms = 10_000) {
  const { sock, rest } = await rawWebSocket(port);
  sock.on('error', () => {}); // a reset ends it like a close
  const text = (obj) => encodeFrame({ opcode: OP.TEXT, payload: Buffer.from(JSON.stringify(obj)) });
  sock.write(text({ event: '#handshake', data: { authToken: null }, cid: 1 }));
  sock.write(text({ event: '#subscribe', data: { channel }, cid: 2 }));

  let buf = rest;
  let frames = 0;
  let code = null;
  let id = null;
  let setup = true; // until the subscribe ack
  let subscribed;
  const acked = new Promise((resolve) => { subscribed = resolve; });
  let onEnd;
  const ended = new Promise((resolve) => { onEnd = resolve; });
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    onEnd({ code, frames });
  };
  // Walk whole frames in buf; keep the incomplete tail.
  const walk = () => {
    let off = 0;
    for (;;) {
      if (buf.length - off < 2) break;
      let len = buf[off + 1] & 0x7f;
      let head = 2;
      if (len === 126) {
        if (buf.length - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        head = 4;
      } else if (len === 127) {
        if (buf.length - off < 10) break;
        len = Number(buf.readBigUInt64BE(off + 2));
        head = 10;
      }
      if (buf.length - off < head + len) break;
      const opcode = buf[off] & 0x0f;
      const payload = buf.subarray(off + head, off + head + len);
      if (opcode === OP.CLOSE) {
        code = len >= 2 ? payload.readUInt16BE(0) : 1005;
        if (!sock.destroyed) sock.end(encodeFrame({ opcode: OP.CLOSE, payload: payload.subarray(0, 2) }));
        off += head + len;
        finish();
        break;
      }
      if (setup) { // the handshake reply, then the subscribe ack
        const p = JSON.parse(payload.toString());
        if (p.rid === 1) id = p.data.id;
        if (p.rid === 2) {
          setup = false;
          subscribed();
        }
      } else if (opcode === OP.TEXT && len > 0) {
        frames++;
      }
      off += head + len;
    }
    buf = off === buf.length ? Buffer.alloc(0) : buf.subarray(off);
  };
  sock.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    walk();
  });
  sock.once('close', finish);
  walk();
  sock.resume();
  await within(ms, `the raw subscriber's subscribe ack on ${channel}`, acked);
  return {
    id,
    sock,
    ended,
    pause: () => sock.pause(),
    resume: () => sock.resume(),
    destroy: () => sock.destroy(),
  };
}
