// ref-echo-server.mjs: the reference for sluiced's echo mode, built on the
// npm `ws` server. It exists so the integration suite can be proven against
// a known-good peer, and as the baseline of the echo benchmark.
//
//   node ref-echo-server.mjs --port 0 [--host 127.0.0.1] [--max-payload BYTES]
//        [--outbound-limit BYTES] [--handshake-timeout MS]
//
// It takes sluiced's command line (--echo, --reactors and --workers are
// accepted and ignored: this is one Node thread) and keeps sluiced's
// contract where it can:
//   - prints `sluiced: listening on <host>:<port>` once ready, the exact
//     line the test helper waits for;
//   - WebSocket on /socketcluster/ only: another path is 400, a
//     Sec-WebSocket-Version other than 13 is 426; GET /health is 200 "ok";
//   - echoes every message with its type, in order; a message over
//     --max-payload (default 1 MiB) closes with 1009, and the ws library
//     closes protocol errors with 1002 and bad UTF-8 with 1007;
//   - --outbound-limit: once more than that many bytes wait to be sent to
//     a client, the client is closed with 4100 and dropped;
//   - --handshake-timeout (default 10000 ms): a request head that is not
//     complete in time is dropped (by Node's headersTimeout);
//   - SIGTERM closes every WebSocket with 1001 and exits 0.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const { values: opt } = parseArgs({
  options: {
    echo: { type: 'boolean', default: true },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    reactors: { type: 'string' },
    workers: { type: 'string' },
    'max-payload': { type: 'string', default: String(1024 * 1024) },
    'outbound-limit': { type: 'string', default: '0' },
    'handshake-timeout': { type: 'string', default: '10000' },
  },
});

const WS_PATH = '/socketcluster/';
const maxPayload = Number(opt['max-payload']);
const outboundLimit = Number(opt['outbound-limit']);
const handshakeTimeout = Number(opt['handshake-timeout']);

function respond(sock, status, extra = '') {
  const body = `${status === 200 ? 'ok' : http.STATUS_CODES[status]}\n`;
  sock.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n` +
    `Content-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n${extra}\r\n${body}`);
}

const server = http.createServer({
  headersTimeout: handshakeTimeout,
  requestTimeout: handshakeTimeout,
  // Node checks both timeouts on this interval (30 s by default), which
  // would make a short --handshake-timeout meaningless.
  connectionsCheckingInterval: Math.max(50, Math.min(1000, handshakeTimeout / 5)),
}, (req, res) => {
  const status = req.url.split('?')[0] === '/health' && req.method === 'GET' ? 200 : 404;
  res.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close' });
  res.end(status === 200 ? 'ok\n' : 'Not Found\n');
});

const wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false });

server.on('upgrade', (req, sock, head) => {
  sock.on('error', () => {}); // a client that resets mid-handshake is not our failure
  if (req.url.split('?')[0] !== WS_PATH) return respond(sock, 400);
  if (req.headers['sec-websocket-version'] !== '13') {
    return respond(sock, 426, 'Sec-WebSocket-Version: 13\r\n');
  }
  wss.handleUpgrade(req, sock, head, (ws) => wss.emit('connection', ws));
});

wss.on('connection', (ws) => {
  // ws reports protocol errors here after it has already sent the right
  // close code; without a listener they would crash the server.
  ws.on('error', () => {});
  let dropping = false;
  ws.on('message', (data, isBinary) => {
    if (dropping) return;
    ws.send(data, { binary: isBinary });
    if (outboundLimit > 0 && ws.bufferedAmount > outboundLimit) {
      // The close frame queues behind everything the client did not read,
      // so it rarely arrives; the TCP drop that follows is what frees memory.
      dropping = true;
      ws.close(4100, 'slow consumer');
      setTimeout(() => ws.terminate(), 200).unref();
    }
  });
});

process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  for (const ws of wss.clients) ws.close(1001, 'server shutting down');
  // Clients get a moment to answer the close; stragglers are dropped.
  const deadline = setTimeout(() => {
    for (const ws of wss.clients) ws.terminate();
  }, 2000);
  const poll = setInterval(() => {
    if (wss.clients.size === 0) {
      clearInterval(poll);
      clearTimeout(deadline);
      process.exit(0);
    }
  }, 20);
});

server.listen(Number(opt.port), opt.host, () => {
  const { address, port } = server.address();
  process.stdout.write(`sluiced: listening on ${address}:${port}\n`);
});
