// reset.test.mjs: peers that vanish in the middle of a frame (TCP reset, or
// a FIN with half a frame sent) cost the server nothing: the connection is
// dropped, its half-built message freed, and everyone else is served.
//
//   SLUICED=build/release/broker/sluiced node --test tests/integration/reset.test.mjs
//   SLUICE_TARGET=ref node --test tests/integration/reset.test.mjs
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KiB, OP, encodeFrame, nextMessage, openWs, rawWebSocket, sleep, startServer } from './lib.mjs';

let srv;
before(async () => { srv = await startServer({ name: 'reset', maxPayload: 256 * KiB }); });
after(() => srv.kill());

test('100 peers reset or hang up mid-frame; the server serves the others', { timeout: 60_000 }, async () => {
  const other = await openWs(srv.url);
  for (let i = 0; i < 100; i++) {
    const { sock } = await rawWebSocket(srv.port);
    sock.on('error', () => {});
    const frame = encodeFrame({ opcode: OP.BINARY, payload: Buffer.alloc(64 * KiB, i) });
    // cut the frame in the header, in the payload, or just before its end
    const cut = [1, 7, 100, 40 * KiB, frame.length - 1][i % 5];
    await new Promise((resolve) => sock.write(frame.subarray(0, cut), resolve));
    if (i % 2) sock.resetAndDestroy();
    else sock.end();
    other.send(`ping ${i}`);
    assert.equal((await nextMessage(other)).data.toString(), `ping ${i}`);
  }
  await sleep(200);
  other.close(1000);
});
