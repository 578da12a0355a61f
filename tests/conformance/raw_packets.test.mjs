// raw_packets.test.mjs: what the real client never sends, on a raw ws
// socket after a good handshake: malformed JSON, garbage text, JSON that is
// no packet, binary frames holding JSON packets, replies to unknown rids,
// malformed #subscribe / #publish / #unsubscribe, #unsubscribe of a channel
// not subscribed, and invokes with a non-numeric cid. The exact error
// replies are those of socketcluster-server 20.0.1.
//
//   SLUICE_APP=... node --test tests/conformance/raw_packets.test.mjs
//   SLUICE_TARGET=ref node --test tests/conformance/raw_packets.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cleanup, handshakenRaw, openRaw, startApp } from './lib.mjs';

const invalidAction = (message) => ({ message, name: 'InvalidActionError' });

describe('raw packets after the handshake', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'raw-packets' });
  });

  // The socket must still be open and answer an echo, and nothing else may
  // have arrived.
  async function stillUsable(raw, what) {
    const m = await raw.invoke('echo', 'usable');
    assert.deepEqual(m.packet.data, 'usable');
    assert.deepEqual(raw.inbox.map((x) => x.text), [], `an answer to ${what}`);
    assert.equal(raw.closeInfo, null);
  }

  for (const [what, text] of [
    ['malformed JSON', '{"event":"echo","data":'],
    ['malformed JSON in an array', '[{"event":"echo","cid":50},'],
    ['garbage text', 'hello, server'],
    ['a JSON number', '12345'],
    ['a JSON string', '"just a string"'],
    ['a JSON object that is no packet', '{"foo":1}'],
    ['an event that is not a string', '{"event":5,"data":1,"cid":51}'],
    ['an array of non-packets', '[1,"two",null]'],
    ['an empty batch', '[]'],
    ['a transmit nobody receives', '{"event":"nobody","data":1}'],
  ]) {
    test(`${what} is ignored; the connection stays usable`, async () => {
      const { raw } = await handshakenRaw(app.port);
      raw.send(text);
      await stillUsable(raw, what);
      raw.close();
    });
  }

  test('a reply with an unknown rid is ignored; the connection stays usable', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send({ rid: 9999, data: 1 });
    raw.send({ rid: 10000, error: { name: 'SomeError', message: 'x' } });
    raw.send({ rid: 1, data: 'rid of the handshake' });
    await stillUsable(raw, 'replies to unknown rids');
    raw.close();
  });

  test('binary frames holding JSON packets are processed, and answered in text frames', async () => {
    const r = await openRaw(app.port);
    r.send({ event: '#handshake', data: { authToken: null }, cid: 1 }, { binary: true });
    const hs = await r.reply(1);
    assert.equal(hs.isBinary, false, 'the handshake reply came in a binary frame');
    assert.equal(typeof hs.packet.data.id, 'string');

    r.send({ event: 'echo', data: { bin: 1 }, cid: 2 }, { binary: true });
    const e = await r.reply(2);
    assert.equal(e.isBinary, false);
    assert.deepEqual(e.packet, { rid: 2, data: { bin: 1 } });

    r.send([{ event: '#subscribe', data: { channel: 'binch' }, cid: 3 },
      { event: '#publish', data: { channel: 'binch', data: 'b' }, cid: 4 }], { binary: true });
    assert.deepEqual((await r.reply(3)).packet, { rid: 3 });
    assert.deepEqual((await r.reply(4)).packet, { rid: 4 });
    const d = await r.take((m) => m.packet && m.packet.event === '#publish', 5_000, 'the delivery');
    assert.equal(d.isBinary, false);
    assert.deepEqual(d.packet, { event: '#publish', data: { channel: 'binch', data: 'b' } });

    r.send({ event: 'seq', data: { i: 0 } }, { binary: true });
    assert.deepEqual((await r.invoke('seqStatus')).packet.data, { count: 1, ordered: true });
    assert.ok(r.all.every((m) => !m.isBinary), 'the server sent a binary frame');
    r.close();
  });

  test('an invoke with a non-numeric cid is a transmit: no reply', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send({ event: 'echo', data: 'string cid', cid: 'x' });
    raw.send({ event: 'echo', data: 'numeric string cid', cid: '7' });
    raw.send({ event: 'echo', data: 'null cid', cid: null });
    raw.send({ event: 'seq', data: { i: 0 }, cid: 'y' });
    raw.send({ event: 'seq', data: { i: 1 }, cid: null });
    const m = await raw.invoke('seqStatus');
    assert.deepEqual(m.packet.data, { count: 2, ordered: true }, 'the transmits with a non-numeric cid');
    await raw.quiet(200, () => true, 'a reply to an invoke with a non-numeric cid');
    raw.close();
  });

  test('#subscribe with malformed data: InvalidActionError "Subscribe channel name was malformatted"', async () => {
    const { raw } = await handshakenRaw(app.port);
    const err = invalidAction('Subscribe channel name was malformatted');
    for (const data of ['x', { chan: 'x' }, { channel: 5 }, null, undefined, ['x']]) {
      const m = await raw.invoke('#subscribe', data);
      assert.deepEqual(m.packet, { rid: raw.cid, error: err }, `#subscribe data ${JSON.stringify(data)}`);
    }
    // without a cid: no reply
    raw.send({ event: '#subscribe', data: 'x' });
    await stillUsable(raw, '#subscribe without a cid');
    raw.close();
  });

  test('#publish without a channel: InvalidActionError "Publish channel name was malformatted"', async () => {
    const { raw } = await handshakenRaw(app.port);
    const err = invalidAction('Publish channel name was malformatted');
    for (const data of [{ data: 1 }, { channel: 5, data: 1 }, 'x', null, undefined]) {
      const m = await raw.invoke('#publish', data);
      assert.deepEqual(m.packet, { rid: raw.cid, error: err }, `#publish data ${JSON.stringify(data)}`);
    }
    raw.send({ event: '#publish', data: { data: 1 } });
    await stillUsable(raw, '#publish without a channel and without a cid');
    raw.close();
  });

  test('#unsubscribe of a channel not subscribed, with a cid: BrokerError; malformed: InvalidActionError', async () => {
    const { raw, status } = await handshakenRaw(app.port);
    const m = await raw.invoke('#unsubscribe', 'nope');
    assert.deepEqual(m.packet, {
      rid: 2,
      error: {
        message: `Failed to unsubscribe socket from the nope channel - InvalidActionError: Socket ${status.id} ` +
          'tried to unsubscribe from a channel which it is not subscribed to',
        name: 'BrokerError',
      },
    });
    for (const data of [5, { channel: 'nope' }, null]) {
      const r = await raw.invoke('#unsubscribe', data);
      assert.deepEqual(r.packet, { rid: raw.cid, error: invalidAction('Unsubscribe channel name was malformatted') },
        `#unsubscribe data ${JSON.stringify(data)}`);
    }
    // without a cid: no reply, whatever the data
    raw.send({ event: '#unsubscribe', data: 'nope' });
    raw.send({ event: '#unsubscribe', data: 5 });
    // subscribed, unsubscribed, and unsubscribed again with a cid
    assert.deepEqual((await raw.invoke('#subscribe', { channel: 'twice' })).packet, { rid: raw.cid });
    assert.deepEqual((await raw.invoke('#unsubscribe', 'twice')).packet, { rid: raw.cid });
    const again = await raw.invoke('#unsubscribe', 'twice');
    assert.equal(again.packet.error.name, 'BrokerError');
    await stillUsable(raw, '#unsubscribe without a cid');
    raw.close();
  });
});
