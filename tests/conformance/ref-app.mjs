// ref-app.mjs: the reference for sluice's example app, on the real
// socketcluster-server 20.0.1 (a node http server + `attach`). The
// conformance suite runs against it (SLUICE_TARGET=ref) to prove that the
// suite itself is right before it is pointed at sluice.
//
//   node ref-app.mjs [--host 127.0.0.1] [--port 0] [--ping-interval MS]
//        [--ping-timeout MS] [--handshake-timeout MS] [--protocol-version 1|2]
//        [--max-payload BYTES] [--socket-channel-limit N]
//        [--allow-client-publish true|false] [--ack-timeout MS]
//
// Prints `sluice-ref-app: listening on <host>:<port>` once ready (the port
// is the real one when --port is 0). WebSocket path /socketcluster/.
//
// The app contract (the C example app implements the same):
//   procedures  echo, fail, slow, invokeBack, transmitBack, batchBack,
//               kickMe, disconnectMe, publish, seqStatus, stats
//   receiver    seq
// Any other invoke is never answered here (socketcluster-server has no
// default procedure handler); sluice answers UnknownProcedureError at once.
import http from 'node:http';
import { parseArgs } from 'node:util';
import scServer from 'socketcluster-server';

const NAME = 'sluice-ref-app';

const { values: opt } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'ping-interval': { type: 'string', default: '8000' },
    'ping-timeout': { type: 'string', default: '30000' },
    'handshake-timeout': { type: 'string', default: '10000' },
    'protocol-version': { type: 'string', default: '2' },
    'max-payload': { type: 'string' },
    'socket-channel-limit': { type: 'string', default: '0' },
    'allow-client-publish': { type: 'string', default: 'true' },
    'ack-timeout': { type: 'string', default: '10000' },
  },
});

function int(name) {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v < 0) {
    console.error(`${NAME}: --${name} must be a non-negative integer, not ${JSON.stringify(opt[name])}`);
    process.exit(2);
  }
  return v;
}

if (!['true', 'false'].includes(opt['allow-client-publish'])) {
  console.error(`${NAME}: --allow-client-publish must be true or false`);
  process.exit(2);
}
const protocolVersion = int('protocol-version');
if (protocolVersion !== 1 && protocolVersion !== 2) {
  console.error(`${NAME}: --protocol-version must be 1 or 2`);
  process.exit(2);
}

const options = {
  pingInterval: int('ping-interval'),
  pingTimeout: int('ping-timeout'),
  handshakeTimeout: int('handshake-timeout'),
  protocolVersion,
  allowClientPublish: opt['allow-client-publish'] === 'true',
  ackTimeout: int('ack-timeout'),
};
if (opt['max-payload'] !== undefined) options.maxPayload = int('max-payload');
// 0 means unlimited, which is what socketcluster-server does with a falsy limit
const channelLimit = int('socket-channel-limit');
if (channelLimit > 0) options.socketChannelLimit = channelLimit;

const httpServer = http.createServer((req, res) => {
  res.writeHead(501);
  res.end('Not Implemented');
});
const server = scServer.attach(httpServer, options);

// Cumulative counts of the server's listener events, for the `stats` procedure.
const stats = { connections: 0, disconnections: 0, subscriptions: 0, unsubscriptions: 0 };

// Warnings (malformed packets, closed sockets, ...) are expected in a
// conformance run; they go to stderr so a WORKDIR log shows them.
(async () => {
  for await (const { warning } of server.listener('warning')) {
    console.error(`${NAME}: warning: ${warning.name}: ${warning.message}`);
  }
})();
(async () => {
  for await (const { error } of server.listener('error')) {
    console.error(`${NAME}: error: ${error.name}: ${error.message}`);
  }
})();
(async () => {
  for await (const _ of server.listener('disconnection')) stats.disconnections++;
})();
(async () => {
  for await (const _ of server.listener('subscription')) stats.subscriptions++;
})();
(async () => {
  for await (const _ of server.listener('unsubscription')) stats.unsubscriptions++;
})();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// socket.transmit() queues the packet on the socket's outbound stream, which
// is consumed asynchronously, while a request's reply is written at once.
// Wait until the queue is drained so that "transmit, then reply" reaches
// the wire in that order (bounded: give up after 5 s).
async function drained(socket) {
  const deadline = Date.now() + 5_000;
  while (socket.outboundSentMessageCount < socket.outboundPreparedMessageCount && Date.now() < deadline) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function serve(socket, name, handler) {
  (async () => {
    for await (const req of socket.procedure(name)) {
      // handlers run concurrently: a slow one does not hold the others up
      (async () => {
        try {
          await handler(req);
        } catch (err) {
          if (!req.sent) req.error(err);
        }
      })();
    }
  })();
}

const setUp = new WeakSet();

function setUpSocket(socket) {
  serve(socket, 'echo', (req) => req.end(req.data));

  serve(socket, 'fail', (req) => {
    const err = new Error('Custom failure');
    err.name = 'CustomError';
    err.code = 1234;
    req.error(err);
  });

  serve(socket, 'slow', async (req) => {
    const ms = Number(req.data && req.data.ms) || 0;
    await sleep(ms);
    req.end({ slept: ms });
  });

  serve(socket, 'invokeBack', async (req) => {
    const { event, data } = req.data || {};
    let reply;
    try {
      reply = await socket.invoke(event, data);
    } catch (err) {
      req.error(err);
      return;
    }
    req.end({ reply });
  });

  serve(socket, 'transmitBack', async (req) => {
    const { event, data } = req.data || {};
    const count = req.data && req.data.count !== undefined ? Number(req.data.count) : 1;
    for (let i = 0; i < count; i++) socket.transmit(event, data);
    await drained(socket);
    req.end({ sent: count });
  });

  serve(socket, 'batchBack', async (req) => {
    const { event } = req.data || {};
    const count = Number(req.data && req.data.count) || 0;
    socket.startBatch();
    for (let i = 0; i < count; i++) socket.transmit(event, i);
    await drained(socket);
    socket.flushBatch();
    req.end({ sent: count });
  });

  serve(socket, 'kickMe', async (req) => {
    const { channel, message } = req.data || {};
    await socket.kickOut(channel, message);
    await drained(socket);
    req.end(null);
  });

  serve(socket, 'disconnectMe', (req) => {
    const { code, reason } = req.data || {};
    req.end(null);
    socket.disconnect(code, reason);
  });

  serve(socket, 'publish', async (req) => {
    const { channel, data } = req.data || {};
    await server.exchange.transmitPublish(channel, data);
    req.end(null);
  });

  let seqCount = 0;
  let seqOrdered = true;
  (async () => {
    for await (const data of socket.receiver('seq')) {
      if (!data || data.i !== seqCount) seqOrdered = false;
      seqCount++;
    }
  })();
  serve(socket, 'seqStatus', (req) => req.end({ count: seqCount, ordered: seqOrdered }));

  serve(socket, 'stats', (req) => req.end({ ...stats }));
}

(async () => {
  for await (const { socket } of server.listener('connection')) {
    stats.connections++;
    // socketcluster-server emits 'connection' again for a second #handshake
    // on the same socket; its procedures must not be served twice.
    if (setUp.has(socket)) continue;
    setUp.add(socket);
    setUpSocket(socket);
  }
})();

httpServer.on('error', (err) => {
  console.error(`${NAME}: ${err.message}`);
  process.exit(1);
});
httpServer.listen(Number(opt.port), opt.host, () => {
  const { address, port } = httpServer.address();
  console.log(`${NAME}: listening on ${address}:${port}`);
});

// SIGTERM/SIGINT: close every WebSocket with 1001, stop listening, exit 0.
function shutdown() {
  for (const socket of Object.values(server.clients)) socket.disconnect(1001);
  for (const socket of Object.values(server.pendingClients)) socket.disconnect(1001);
  httpServer.close();
  setTimeout(() => process.exit(0), 200);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
