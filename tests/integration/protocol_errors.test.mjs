// protocol_errors.test.mjs: RFC 6455 rules on a live connection: the size
// limit (1009), UTF-8 of text (1007), framing violations (1002), control
// frames, and the close handshake.
//
//   SLUICED=build/release/broker/sluiced node --test tests/integration/protocol_errors.test.mjs
//   SLUICE_TARGET=ref node --test tests/integration/protocol_errors.test.mjs
//
// The ws client refuses to send a broken frame, so the violations are
// hand-built frames on a raw TCP socket after a hand-built handshake. For
// each one the server must send a close frame with the expected code and
// then close TCP once the client answered the close.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  FrameReader, KiB, OP, closePayload, closed, encodeFrame, nextMessage, openWs, rawWebSocket,
  startServer,
} from './lib.mjs';

const MAX_PAYLOAD = 64 * KiB;
const b = (...bytes) => Buffer.from(bytes);
const text = (s) => Buffer.from(s, 'utf8');

// Each case: the frames a client sends, and the close code the server must
// answer with. Frames are masked unless mask: false.
const VIOLATIONS = [
  { name: 'unmasked client frame', code: 1002,
    frames: [{ opcode: OP.TEXT, payload: text('hi'), mask: false }] },
  { name: 'RSV1 without a negotiated extension', code: 1002,
    frames: [{ opcode: OP.TEXT, payload: text('hi'), rsv: 4 }] },
  { name: 'RSV3 set', code: 1002,
    frames: [{ opcode: OP.BINARY, payload: text('hi'), rsv: 1 }] },
  { name: 'reserved data opcode 0x3', code: 1002, frames: [{ opcode: 0x3 }] },
  { name: 'reserved control opcode 0xB', code: 1002, frames: [{ opcode: 0xb }] },
  { name: 'fragmented ping', code: 1002, frames: [{ opcode: OP.PING, fin: false }] },
  { name: 'ping with 126 bytes of payload', code: 1002,
    frames: [{ opcode: OP.PING, payload: Buffer.alloc(126, 0x70) }] },
  { name: 'continuation with no message open', code: 1002,
    frames: [{ opcode: OP.CONT, payload: text('x') }] },
  { name: 'new text frame inside a fragmented message', code: 1002,
    frames: [{ opcode: OP.TEXT, payload: text('a'), fin: false }, { opcode: OP.TEXT, payload: text('b') }] },
  { name: 'close payload of one byte', code: 1002, frames: [{ opcode: OP.CLOSE, payload: b(0x03) }] },
  { name: 'close code 1005 on the wire', code: 1002,
    frames: [{ opcode: OP.CLOSE, payload: closePayload(1005) }] },
  { name: 'close code 999', code: 1002, frames: [{ opcode: OP.CLOSE, payload: closePayload(999) }] },
  { name: 'invalid UTF-8 in a text frame', code: 1007,
    frames: [{ opcode: OP.TEXT, payload: b(0x68, 0xc3, 0x28) }] },
  { name: 'a UTF-16 surrogate encoded in a text frame', code: 1007,
    frames: [{ opcode: OP.TEXT, payload: b(0xed, 0xa0, 0x80) }] },
  { name: 'text message ending inside a character', code: 1007,
    frames: [{ opcode: OP.TEXT, payload: b(0x61, 0xe2, 0x82) }] },
  { name: 'invalid UTF-8 across two fragments', code: 1007,
    frames: [{ opcode: OP.TEXT, payload: b(0xe2), fin: false }, { opcode: OP.CONT, payload: b(0x28, 0xa1) }] },
  { name: 'invalid UTF-8 in a close reason', code: 1007,
    frames: [{ opcode: OP.CLOSE, payload: Buffer.concat([closePayload(1000), b(0xff)]) }] },
  { name: 'one frame declaring more than max-payload', code: 1009,
    frames: [{ opcode: OP.BINARY, payload: Buffer.alloc(MAX_PAYLOAD + 1) }] },
];

async function raw(port) {
  const { sock, rest } = await rawWebSocket(port);
  return { sock, reader: new FrameReader(sock, rest) };
}

describe('protocol errors and control frames', () => {
  let srv;
  before(async () => {
    srv = await startServer({ name: 'protocol_errors', maxPayload: MAX_PAYLOAD });
  });
  after(() => srv.kill());

  for (const v of VIOLATIONS) {
    test(`${v.name} closes with ${v.code}`, async () => {
      const { sock, reader } = await raw(srv.port);
      for (const f of v.frames) sock.write(encodeFrame(f));
      const res = await reader.untilClose();
      assert.deepEqual(res.before.map((f) => f.opcode), [], 'frames before the close');
      assert.equal(res.code, v.code, res.timedOut ? 'no close frame and no TCP close within 5 s'
        : res.code === null ? 'TCP closed without a close frame' : `close reason: ${res.reason}`);
      assert.ok(res.tcpClosed, 'the server kept TCP open after the close handshake');
      sock.destroy();
    });
  }

  test('a message of exactly max-payload is echoed, in one frame and in fragments', async () => {
    const ws = await openWs(srv.url);
    const whole = Buffer.alloc(MAX_PAYLOAD, 0x41);
    ws.send(whole);
    assert.ok((await nextMessage(ws)).data.equals(whole));
    ws.send(whole.subarray(0, 1000), { fin: false });
    ws.send(whole.subarray(1000), { fin: true });
    const got = await nextMessage(ws);
    assert.ok(got.isBinary && got.data.equals(whole));
    ws.close(1000);
    assert.equal((await closed(ws)).code, 1000);
  });

  test('one byte over max-payload closes with 1009', async () => {
    const ws = await openWs(srv.url);
    const done = closed(ws);
    ws.send(Buffer.alloc(MAX_PAYLOAD + 1));
    assert.equal((await done).code, 1009);
  });

  test('fragments adding up to more than max-payload close with 1009', async () => {
    const ws = await openWs(srv.url);
    const done = closed(ws);
    const half = Buffer.alloc(MAX_PAYLOAD / 2 + 1, 0x42);
    ws.send(half, { fin: false });
    ws.send(half, { fin: true });
    assert.equal((await done).code, 1009);
  });

  test('a character split across fragments is valid UTF-8 and echoed whole', async () => {
    const { sock, reader } = await raw(srv.port);
    const euro = text('€'); // e2 82 ac
    sock.write(encodeFrame({ opcode: OP.TEXT, payload: euro.subarray(0, 1), fin: false }));
    sock.write(encodeFrame({ opcode: OP.CONT, payload: euro.subarray(1, 2), fin: false }));
    sock.write(encodeFrame({ opcode: OP.CONT, payload: euro.subarray(2) }));
    const f = await reader.next();
    assert.equal(f.opcode, OP.TEXT);
    assert.ok(f.payload.equals(euro));
    sock.destroy();
  });

  test('a ping between fragments is answered at once and the message still arrives whole', async () => {
    const { sock, reader } = await raw(srv.port);
    sock.write(encodeFrame({ opcode: OP.BINARY, payload: text('ab'), fin: false }));
    sock.write(encodeFrame({ opcode: OP.PING, payload: text('p1') }));
    sock.write(encodeFrame({ opcode: OP.CONT, payload: text('cd') }));
    const pong = await reader.next();
    assert.equal(pong.opcode, OP.PONG);
    assert.equal(pong.payload.toString(), 'p1');
    const msg = await reader.next();
    assert.equal(msg.opcode, OP.BINARY);
    assert.equal(msg.payload.toString(), 'abcd');
    sock.destroy();
  });

  test('ping gets a pong with the same payload', async () => {
    const ws = await openWs(srv.url);
    const payload = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    const pong = new Promise((resolve) => ws.once('pong', resolve));
    ws.ping(payload);
    assert.ok((await pong).equals(payload));
    ws.close(1000);
    await closed(ws);
  });

  test('an unsolicited pong is ignored', async () => {
    const ws = await openWs(srv.url);
    ws.pong(Buffer.from('unasked'));
    ws.send('after pong');
    const m = await nextMessage(ws);
    assert.equal(m.data.toString(), 'after pong');
    ws.close(1000);
    assert.equal((await closed(ws)).code, 1000);
  });

  test('close handshake: the client closes with 1000, the server answers 1000', async () => {
    const ws = await openWs(srv.url);
    const done = closed(ws);
    ws.close(1000, 'bye');
    assert.equal((await done).code, 1000);
  });

  test('close handshake on the wire: 1000 echoed, then the server closes TCP', async () => {
    const { sock, reader } = await raw(srv.port);
    sock.write(encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000, 'bye') }));
    const f = await reader.next();
    assert.equal(f.opcode, OP.CLOSE);
    assert.equal(f.payload.readUInt16BE(0), 1000);
    // RFC 6455 7.1.1: the server closes TCP first, so the client does not hold TIME_WAIT
    assert.ok(await reader.closedWithin(5_000), 'the server kept TCP open after the close handshake');
  });
});
