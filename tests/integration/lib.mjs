// lib.mjs: what every integration test shares. Start the server under test
// (sluiced, or the reference echo server), talk to it with the npm `ws`
// client, or byte by byte over a raw TCP socket where a test needs frames
// that `ws` refuses to send (unmasked, invalid UTF-8, reserved bits).
//
// The server under test is chosen by SLUICE_TARGET:
//   sluiced (default)  spawn $SLUICED --echo --host 127.0.0.1 --port 0 ...
//   ref                spawn `node ref-echo-server.mjs` with the same flags
// Both print `sluiced: listening on 127.0.0.1:<port>` once ready; that
// line is part of the contract, so it is matched exactly.
//
// WORKDIR, when set, receives one log file per started server (its stdout
// and stderr), so a failure under CTest leaves the daemon's side behind.
//
// Nothing here waits without a deadline: every wait takes a timeout and
// rejects with a message that says what did not happen.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const TARGET = process.env.SLUICE_TARGET || 'sluiced';
if (TARGET !== 'sluiced' && TARGET !== 'ref') {
  throw new Error(`SLUICE_TARGET must be "sluiced" or "ref", not "${TARGET}"`);
}

export const WS_PATH = '/socketcluster/';
export const READY_LINE = /^sluiced: listening on 127\.0\.0\.1:(\d+)$/;
export const KiB = 1024;
export const MiB = 1024 * KiB;

// Reject with `what` unless `promise` settles within `ms`.
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Servers still running when the test process exits are killed, so a failed
// assertion never leaves a daemon holding a port behind.
const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

let started = 0;

// Start the server under test and resolve once it printed its ready line.
// opts: name (for the log file), maxPayload, outboundLimit, handshakeTimeout,
// reactors, workers (numbers; omitted ones keep the server's defaults),
// sluicedArgs (more flags, for sluiced only), fileLimit (sluiced's `ulimit -n`),
// readyTimeout (ms, default 10 s).
export async function startServer(opts = {}) {
  const flags = ['--echo', '--host', '127.0.0.1', '--port', '0'];
  const numeric = {
    reactors: '--reactors',
    workers: '--workers',
    maxPayload: '--max-payload',
    outboundLimit: '--outbound-limit',
    handshakeTimeout: '--handshake-timeout',
  };
  for (const [key, flag] of Object.entries(numeric)) {
    if (opts[key] !== undefined) flags.push(flag, String(opts[key]));
  }
  // flags only sluiced knows (the reference server would refuse them)
  if (opts.sluicedArgs && TARGET !== 'ref') flags.push(...opts.sluicedArgs);

  let file, args;
  if (TARGET === 'ref') {
    file = process.execPath;
    args = [path.join(HERE, 'ref-echo-server.mjs'), ...flags];
  } else {
    file = process.env.SLUICED;
    if (!file) {
      throw new Error('SLUICED is not set: point it at the sluiced binary, or set SLUICE_TARGET=ref');
    }
    args = flags;
    if (opts.fileLimit) { // run it under a lower open-file limit, through a shell that execs it
      args = ['-c', `ulimit -n ${Number(opts.fileLimit)} && exec "$0" "$@"`, file, ...flags];
      file = '/bin/sh';
    }
  }

  return spawnReady(file, args, {
    name: opts.name || 'server',
    readyTimeout: opts.readyTimeout,
    what: '"sluiced: listening on 127.0.0.1:<port>"',
  });
}

// Spawn file with args and resolve once it printed a line matching `ready`
// (its group 1 is the port) on stdout. Both streams are drained for the
// child's whole life (a full pipe would block it) into WORKDIR/<name>.*.log
// when WORKDIR is set; the last lines are kept for error messages. Resolves
// with { port, pid, url, httpUrl, exited, output(), stop(signal, ms),
// kill() }; stop() waits stopMs (5 s) by default.
export async function spawnReady(file, args, {
  name = 'server', readyTimeout = 10_000, ready: readyLine = READY_LINE,
  what = 'its ready line', stopMs = 5_000,
} = {}) {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });

  const tail = [];
  const log = process.env.WORKDIR
    ? createWriteStream(path.join(process.env.WORKDIR, `${name}.${process.pid}.${started++}.log`))
    : null;
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
        const m = tag === 'out' && port === null && readyLine.exec(line);
        if (m) {
          port = Number(m[1]);
          onReady(port);
        }
      }
    });
  }

  try {
    await within(readyTimeout ?? 10_000, `${file} did not print ${what}; output:\n` +
      tail.join('\n'), ready);
  } catch (err) {
    child.kill('SIGKILL');
    // a grandchild may still hold the pipes; this process must not wait for it
    child.stdout.destroy();
    child.stderr.destroy();
    throw err;
  }

  return {
    port,
    pid: child.pid,
    url: `ws://127.0.0.1:${port}${WS_PATH}`,
    httpUrl: `http://127.0.0.1:${port}`,
    exited,
    output: () => tail.join('\n'),
    // Send `signal` and resolve with the exit status; SIGKILL and reject if
    // the server is still running after `ms`.
    async stop(signal = 'SIGTERM', ms = stopMs) {
      if (live.has(child)) child.kill(signal);
      try {
        return await within(ms, `server did not exit within ${ms} ms of ${signal}`, exited);
      } catch (err) {
        child.kill('SIGKILL');
        throw err;
      } finally {
        if (log) log.end();
      }
    },
    // For after() hooks: make sure it is gone, whatever state the test left.
    async kill() {
      if (live.has(child)) child.kill('SIGKILL');
      await exited;
      if (log) log.end();
    },
  };
}

// Resident set size of a process in bytes, from /proc/<pid>/status.
export function rssBytes(pid) {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

// The soft RLIMIT_NOFILE of a process (Node cannot read or raise its own).
export function openFileLimit(pid = 'self') {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

// ---------------------------------------------------------------------------
// The ws client

// Open a WebSocket to the server; resolves on 'open', rejects on 'error' or
// an HTTP answer other than 101. Compression is never offered: sluice
// declines permessage-deflate and the tests want to see the bytes they sent.
export function openWs(url, ms = 10_000) {
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: ms });
  return within(ms, `open ${url}`, new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`unexpected HTTP ${res.statusCode} to the upgrade`));
      ws.terminate();
    });
  }));
}

// Resolve with { code, reason } when the socket closes; reject after ms.
export function closed(ws, ms = 10_000) {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('socket already closed');
  return within(ms, 'the WebSocket to close', new Promise((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  }));
}

// Resolve with the next message as { data, isBinary }; reject if the socket
// closes first or nothing comes within ms.
export function nextMessage(ws, ms = 10_000) {
  return within(ms, 'a message', new Promise((resolve, reject) => {
    const onClose = (code) => reject(new Error(`closed with ${code} while waiting for a message`));
    ws.once('close', onClose);
    ws.once('message', (data, isBinary) => {
      ws.off('close', onClose);
      resolve({ data, isBinary });
    });
  }));
}

// The statusCode of the HTTP answer to a WebSocket upgrade at `url` that
// must fail; rejects if the upgrade succeeds.
export function upgradeStatus(url, ms = 5_000) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  return within(ms, `HTTP answer to the upgrade at ${url}`, new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error(`the upgrade at ${url} succeeded`));
    });
    ws.once('error', (err) => reject(err));
  }));
}

// ---------------------------------------------------------------------------
// Raw TCP: hand-built handshakes and frames

export function connectTcp(port, ms = 5_000) {
  const sock = net.connect({ host: '127.0.0.1', port });
  sock.setNoDelay(true);
  return within(ms, `TCP connect to 127.0.0.1:${port}`, new Promise((resolve, reject) => {
    sock.once('connect', () => {
      sock.off('error', reject);
      resolve(sock);
    });
    sock.once('error', reject);
  }));
}

// Read one HTTP response head from sock. Resolves with { status, headers
// (lower-case names), rest (bytes after the head) }; rejects if the peer
// closes first or nothing complete arrives within ms.
export function readHead(sock, ms = 5_000) {
  return within(ms, 'an HTTP response head', new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      cleanup();
      sock.pause();
      const [statusLine, ...fields] = buf.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      if (!m) return reject(new Error(`not an HTTP status line: ${JSON.stringify(statusLine)}`));
      const headers = {};
      for (const f of fields) {
        const i = f.indexOf(':');
        headers[f.slice(0, i).trim().toLowerCase()] = f.slice(i + 1).trim();
      }
      resolve({ status: Number(m[1]), headers, rest: buf.subarray(end + 4) });
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`connection closed before a response head; got ${JSON.stringify(buf.toString('latin1'))}`));
    };
    const cleanup = () => {
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('error', onEnd);
    };
    sock.on('data', onData);
    sock.once('end', onEnd);
    sock.once('error', onEnd);
    sock.resume();
  }));
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// Build an opening handshake; `fields` replaces or (with null) removes a
// header, e.g. { 'Sec-WebSocket-Version': '12' }.
export function upgradeRequest(port, { path: reqPath = WS_PATH, fields = {} } = {}) {
  const key = randomBytes(16).toString('base64');
  const all = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
    ...fields,
  };
  const lines = Object.entries(all).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}`);
  return { key, text: `GET ${reqPath} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n` };
}

// Complete a WebSocket handshake by hand. Resolves with { sock, rest }:
// rest holds any frame bytes that came with the 101. The socket is left
// paused; FrameReader or the caller resumes it.
export async function rawWebSocket(port) {
  const sock = await connectTcp(port);
  const { key, text } = upgradeRequest(port);
  sock.write(text);
  const head = await readHead(sock);
  const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
  if (head.status !== 101 || head.headers['sec-websocket-accept'] !== accept) {
    sock.destroy();
    throw new Error(`bad handshake answer: ${head.status} ${JSON.stringify(head.headers)}`);
  }
  return { sock, rest: head.rest };
}

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };

// Encode one frame as a client would (masked unless mask: false). rsv is
// the three RSV bits as a number 0-7; key defaults to a random mask key.
export function encodeFrame({ opcode, payload = Buffer.alloc(0), fin = true, rsv = 0, mask = true, key }) {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([head, payload]);
  const k = key || randomBytes(4);
  k.copy(head, 2 + ext);
  const body = Buffer.from(payload);
  for (let i = 0; i < len; i++) body[i] ^= k[i & 3];
  return Buffer.concat([head, body]);
}

export function closePayload(code, reason = '') {
  const p = Buffer.alloc(2 + Buffer.byteLength(reason));
  p.writeUInt16BE(code, 0);
  p.write(reason, 2);
  return p;
}

// Parses the frames a server sends on a raw socket. A server frame with
// the mask bit set is a protocol violation and fails the test.
export class FrameReader {
  constructor(sock, rest = Buffer.alloc(0)) {
    this.sock = sock;
    this.buf = rest;
    // Chunks wait here until a whole frame may be in, so a large frame
    // costs one copy instead of one per chunk.
    this.pending = [];
    this.pendingBytes = 0;
    this.need = 2;
    this.frames = [];
    this.waiters = [];
    this.ended = false;
    this.violation = null;
    sock.on('data', (chunk) => {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.buf.length + this.pendingBytes >= this.need) {
        this.#parse();
        this.#wake();
      }
    });
    sock.once('close', () => {
      this.ended = true;
      this.#wake();
    });
    // A reset is one of the ways a server may drop a connection; 'close'
    // follows and is what the tests look at.
    sock.on('error', () => {});
    // A socket that a failed write already destroyed emits no more events.
    if (sock.destroyed) this.ended = true;
    this.#parse();
    sock.resume();
  }

  #parse() {
    if (this.pending.length) {
      this.buf = Buffer.concat([this.buf, ...this.pending]);
      this.pending = [];
      this.pendingBytes = 0;
    }
    for (;;) {
      const b = this.buf;
      this.need = 2;
      if (b.length < 2) return;
      if (b[1] & 0x80) {
        this.violation = new Error('the server sent a masked frame');
        this.sock.destroy();
        return;
      }
      let len = b[1] & 0x7f;
      let off = 2;
      if (len >= 126) {
        off = len === 126 ? 4 : 10;
        this.need = off;
        if (b.length < off) return;
        len = off === 4 ? b.readUInt16BE(2) : Number(b.readBigUInt64BE(2));
      }
      this.need = off + len;
      if (b.length < off + len) return;
      this.frames.push({
        fin: (b[0] & 0x80) !== 0,
        rsv: (b[0] >> 4) & 7,
        opcode: b[0] & 0x0f,
        payload: b.subarray(off, off + len),
      });
      this.buf = b.subarray(off + len);
    }
  }

  #wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  // Resolve with the next frame, or null once the connection is closed.
  async next(ms = 5_000) {
    const deadline = Date.now() + ms;
    while (this.frames.length === 0 && !this.ended) {
      if (this.violation) throw this.violation;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame from the server within ${ms} ms`);
      await within(left, 'a frame from the server', new Promise((resolve) => this.waiters.push(resolve)));
    }
    if (this.violation) throw this.violation;
    return this.frames.shift() ?? null;
  }

  // Read frames until the server's close frame, answer it as a client must,
  // and wait for the server to close TCP. Resolves with { code (null when
  // no close frame came), reason, before (frames that came first),
  // tcpClosed, timedOut (neither a close frame nor a TCP close within ms) }.
  async untilClose(ms = 5_000) {
    const deadline = Date.now() + ms;
    const before = [];
    for (;;) {
      let f;
      try {
        f = await this.next(Math.max(1, deadline - Date.now()));
      } catch (err) {
        if (this.violation) throw err;
        return { code: null, reason: '', before, tcpClosed: false, timedOut: true };
      }
      if (f === null) return { code: null, reason: '', before, tcpClosed: true, timedOut: false };
      if (f.opcode !== OP.CLOSE) {
        before.push(f);
        continue;
      }
      const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
      const reason = f.payload.subarray(2).toString('utf8');
      if (!this.sock.destroyed) {
        this.sock.write(encodeFrame({ opcode: OP.CLOSE, payload: f.payload.subarray(0, 2) }));
      }
      const tcpClosed = await this.closedWithin(Math.max(1, deadline - Date.now()));
      return { code, reason, before, tcpClosed, timedOut: false };
    }
  }

  // True when the server closed the TCP connection within ms.
  async closedWithin(ms) {
    try {
      await within(ms, 'TCP close', new Promise((resolve) => {
        if (this.ended) resolve();
        else this.sock.once('close', resolve);
      }));
      return true;
    } catch {
      return false;
    }
  }
}

// ---------------------------------------------------------------------------
// Deterministic payloads

// mulberry32: a small seeded PRNG, so a failing run can be replayed exactly.
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A pool of valid UTF-8 mixing 1-, 2-, 3- and 4-byte characters, and a
// slice of it that starts and ends on character boundaries.
export function utf8Pool(bytes, rand) {
  const chars = ['a', 'Z', '0', ' ', '{', '"', 'é', 'ß', 'Ω', '€', '中', '✓', '😀', '𝄞'];
  const parts = [];
  let n = 0;
  while (n < bytes) {
    const c = chars[Math.floor(rand() * chars.length)];
    parts.push(c);
    n += Buffer.byteLength(c);
  }
  return Buffer.from(parts.join(''));
}

export function utf8Slice(pool, start, len) {
  const isCont = (i) => (pool[i] & 0xc0) === 0x80;
  let s = start;
  while (s < pool.length && isCont(s)) s++;
  let e = Math.min(s + len, pool.length);
  while (e > s && e < pool.length && isCont(e)) e--;
  return pool.subarray(s, e);
}
