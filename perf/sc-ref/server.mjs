// sc-ref/server.mjs: the reference SocketCluster server that sluice-bench
// measures sluice against: socketcluster-server 20.0.1 (pinned in
// package.json and the lockfile) on a plain Node http server, default
// options (client publish allowed, protocol v2 pings every 8 s, no batching),
// plus the procedure `echo`, which answers every request with its own data.
//
//   node server.mjs PORT          PORT 0 picks a free port
//
// Listens on 127.0.0.1 only and prints `sc-ref: listening on 127.0.0.1:<port>`
// once it accepts connections (perf/compare waits for that line).
// SIGTERM and SIGINT close every socket and exit 0.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const socketClusterServer = require('socketcluster-server');

const arg = process.argv[2] ?? '0';
const port = Number(arg);
if (!/^[0-9]+$/.test(arg) || port > 65535) {
  console.error(`sc-ref: usage: node server.mjs PORT (0 picks a free one), got ${arg}`);
  process.exit(2);
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(501);
  res.end('Not Implemented');
});
const agServer = socketClusterServer.attach(httpServer);

(async () => {
  for await (const { error } of agServer.listener('error')) {
    console.error(`sc-ref: ${error}`);
  }
})();

(async () => {
  for await (const { socket } of agServer.listener('connection')) {
    (async () => {
      for await (const req of socket.procedure('echo')) {
        req.end(req.data);
      }
    })();
  }
})();

httpServer.on('error', (err) => {
  console.error(`sc-ref: ${err.message}`);
  process.exit(1);
});
httpServer.listen(port, '127.0.0.1', () => {
  console.log(`sc-ref: listening on 127.0.0.1:${httpServer.address().port}`);
});

function stop() {
  agServer.close();
  httpServer.close();
  for (const socket of Object.values(agServer.clients)) socket.disconnect(1001);
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
