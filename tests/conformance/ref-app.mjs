// ref-app.mjs: the reference for sluice's example app, on the real
// socketcluster-server 20.0.1 (a node http server + `attach`). The
// conformance suite runs against it (SLUICE_TARGET=ref) to prove that the
// suite itself is right before it is pointed at sluice.
//
//   node ref-app.mjs [--host 127.0.0.1] [--port 0] [--ping-interval MS]
//        [--ping-timeout MS] [--handshake-timeout MS] [--protocol-version 1|2]
//        [--max-payload BYTES] [--socket-channel-limit N]
//        [--allow-client-publish true|false] [--ack-timeout MS]
//        [--auth-key KEY] [--auth-default-expiry S] [--middleware]
//
// Prints `sluice-ref-app: listening on <host>:<port>` once ready (the port
// is the real one when --port is 0). WebSocket path /socketcluster/.
//
// The app contract (the C example app implements the same):
//   procedures  echo, fail, slow, invokeBack, transmitBack, batchBack,
//               kickMe, disconnectMe, publish, seqStatus, stats
//   receiver    seq
//   auth        login, loginConfirmed, logout, whoAmI (see "Authentication")
//   middleware  only with --middleware (see "Middleware"); without it the
//               app registers no middleware at all, and the procedures
//               mwBlock, mwSilent, mwTransform, mwAsync, mwAsyncBlock simply
//               echo their data
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
    'auth-key': { type: 'string' },
    'auth-default-expiry': { type: 'string', default: '86400' },
    middleware: { type: 'boolean', default: false },
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
  authDefaultExpiry: int('auth-default-expiry'),
};
// without --auth-key socketcluster-server picks a random key at start
if (opt['auth-key'] !== undefined) options.authKey = opt['auth-key'];
if (opt['max-payload'] !== undefined) options.maxPayload = int('max-payload');
// 0 means unlimited, which is what socketcluster-server does with a falsy limit
const channelLimit = int('socket-channel-limit');
if (channelLimit > 0) options.socketChannelLimit = channelLimit;

const httpServer = http.createServer((req, res) => {
  res.writeHead(501);
  res.end('Not Implemented');
});
const server = scServer.attach(httpServer, options);

// ---------------------------------------------------------------------------
// Middleware (only with --middleware)
//
//   HANDSHAKE_WS  query wsReject=1: blocked (socketcluster-server answers
//                 the upgrade with HTTP 401)
//   HANDSHAKE_SC  query scReject=1: blocked with HandshakeRejectedError
//                 "rejected", statusCode 4321 (error reply, then close 4321)
//   INBOUND_RAW   a message containing "rawBlock" is dropped; every
//                 "rawSwap" in a message becomes "swapped"
//   INVOKE        mwBlock: MwBlockedError "blocked by middleware"; mwSilent:
//                 blocked silently; mwTransform: data becomes
//                 {"transformed": data}; mwAsync: allowed 50 ms later;
//                 mwAsyncBlock: MwBlockedError 50 ms later
//   TRANSMIT      data {"drop": true, ...}: blocked (silently)
//   SUBSCRIBE     channel forbidden/...: ForbiddenChannelError "forbidden";
//                 silent/...: blocked silently
//   PUBLISH_IN    channel readonly: ReadOnlyError "read only"; channel upper:
//                 the data (a string) upper-cased
//   PUBLISH_OUT   channel vip: delivered only to sockets whose token payload
//                 has "vip": true; the others are skipped silently
//   AUTHENTICATE  a token payload with "banned": true: BannedError "banned"
//                 (at #handshake and at #authenticate)
function namedError(name, message, extra = {}) {
  const err = new Error(message);
  err.name = name;
  Object.assign(err, extra);
  return err;
}

function queryOf(request) {
  const url = new URL(request.url || '/', 'http://localhost');
  return url.searchParams;
}

function onInvoke(action) {
  switch (action.procedure) {
    case 'mwBlock':
      action.block(namedError('MwBlockedError', 'blocked by middleware'));
      break;
    case 'mwSilent':
      action.block();
      break;
    case 'mwTransform':
      action.allow({ data: { transformed: action.data } });
      break;
    case 'mwAsync':
      setTimeout(() => action.allow(), 50);
      break;
    case 'mwAsyncBlock':
      setTimeout(() => action.block(namedError('MwBlockedError', 'blocked by middleware')), 50);
      break;
    default:
      action.allow();
  }
}

function setUpMiddleware(server) {
  server.setMiddleware(server.MIDDLEWARE_HANDSHAKE, async (stream) => {
    for await (const action of stream) {
      const query = queryOf(action.request);
      if (action.type === action.HANDSHAKE_WS && query.get('wsReject') === '1') {
        action.block(namedError('WsRejectedError', 'rejected at the WebSocket stage'));
      } else if (action.type === action.HANDSHAKE_SC && query.get('scReject') === '1') {
        action.block(namedError('HandshakeRejectedError', 'rejected', { statusCode: 4321 }));
      } else {
        action.allow();
      }
    }
  });

  server.setMiddleware(server.MIDDLEWARE_INBOUND_RAW, async (stream) => {
    for await (const action of stream) {
      const message = action.data;
      if (typeof message === 'string' && message.includes('rawBlock')) {
        action.block();
      } else if (typeof message === 'string' && message.includes('rawSwap')) {
        action.allow({ data: message.replaceAll('rawSwap', 'swapped') });
      } else {
        action.allow();
      }
    }
  });

  server.setMiddleware(server.MIDDLEWARE_INBOUND, async (stream) => {
    for await (const action of stream) {
      const data = action.data;
      switch (action.type) {
        case action.INVOKE:
          onInvoke(action);
          break;
        case action.TRANSMIT:
          if (data && typeof data === 'object' && data.drop === true) action.block();
          else action.allow();
          break;
        case action.SUBSCRIBE:
          if (action.channel.startsWith('forbidden/')) {
            action.block(namedError('ForbiddenChannelError', 'forbidden'));
          } else if (action.channel.startsWith('silent/')) {
            action.block();
          } else {
            action.allow();
          }
          break;
        case action.PUBLISH_IN:
          if (action.channel === 'readonly') {
            action.block(namedError('ReadOnlyError', 'read only'));
          } else if (action.channel === 'upper' && typeof data === 'string') {
            action.allow({ data: data.toUpperCase() });
          } else {
            action.allow();
          }
          break;
        case action.AUTHENTICATE:
          if (action.authToken && action.authToken.banned === true) {
            action.block(namedError('BannedError', 'banned'));
          } else {
            action.allow();
          }
          break;
        default:
          action.allow();
      }
    }
  });

  server.setMiddleware(server.MIDDLEWARE_OUTBOUND, async (stream) => {
    for await (const action of stream) {
      if (action.type === action.PUBLISH_OUT && action.channel === 'vip') {
        const token = action.socket.authToken;
        if (token && token.vip === true) action.allow();
        else action.block();
      } else {
        action.allow();
      }
    }
  });
}

if (opt.middleware) setUpMiddleware(server);

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

  // ---- Authentication
  // login: data (an object) becomes the socket's token payload; the server
  // adds iat, and exp = iat + --auth-default-expiry unless the payload has
  // its own exp. The #setAuthToken transmit reaches the wire before the
  // reply (null).
  serve(socket, 'login', async (req) => {
    await socket.setAuthToken(req.data);
    await drained(socket);
    req.end(null);
  });

  // loginConfirmed: #setAuthToken goes out as an invoke (with a cid); the
  // reply (null) is sent once the client has answered it.
  serve(socket, 'loginConfirmed', async (req) => {
    await socket.setAuthToken(req.data, { rejectOnFailedDelivery: true });
    req.end(null);
  });

  // logout: #removeAuthToken reaches the wire before the reply (null).
  serve(socket, 'logout', async (req) => {
    socket.deauthenticate();
    await drained(socket);
    req.end(null);
  });

  // whoAmI: the token payload (with iat and exp), or null.
  serve(socket, 'whoAmI', (req) => req.end(socket.authToken ?? null));

  // The procedures the INVOKE middleware acts on: they echo what they get.
  for (const name of ['mwBlock', 'mwSilent', 'mwTransform', 'mwAsync', 'mwAsyncBlock']) {
    serve(socket, name, (req) => req.end(req.data));
  }
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
