// auth_keys.test.mjs: sluice's own key options (sluice only: the reference
// app takes none of them). ES256 tokens verified with a public key; a server
// that cannot sign (public key only) closes the socket with 4002 when the
// application sets a token, as socketcluster does when signing fails.
import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { IS_REF, cleanup, handshakenRaw, nowSeconds, openRaw, startApp } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const KEYS = path.join(HERE, '..', 'unit', 'fixtures', 'tokens');
const skip = IS_REF ? 'sluice key options (the reference app has none)' : false;

// An ES256 JWT signed with node:crypto (JOSE r||s signature).
function es256(payload, pem) {
  const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const body = `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64(payload)}`;
  const sig = createSign('SHA256').update(body).sign({ key: pem, dsaEncoding: 'ieee-p1363' });
  return `${body}.${sig.toString('base64url')}`;
}

describe('ES256 with a public key only', { skip }, () => {
  after(cleanup);
  let app;
  before(async () => {
    app = await startApp({
      name: 'auth-keys',
      sluiceArgs: ['--auth-algorithm', 'ES256', '--auth-public-key', path.join(KEYS, 'ec-public.pem')],
    });
  });

  test('an ES256 token signed with the matching private key authenticates the handshake', async () => {
    const pem = readFileSync(path.join(KEYS, 'ec-private.pem'), 'utf8');
    const token = es256({ user: 'ada', exp: nowSeconds() + 60 }, pem);
    const raw = await openRaw(app.port);
    raw.send({ event: '#handshake', data: { authToken: token }, cid: 1 });
    const m = await raw.reply(1);
    assert.equal(m.packet.data.isAuthenticated, true);
    const who = await raw.invoke('whoAmI');
    assert.equal(who.packet.data.user, 'ada');
    raw.close();
  });

  test('an HS256 token is refused (no algorithm confusion)', async () => {
    const raw = await openRaw(app.port);
    const hs = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyIjoiZXZlIn0.' +
      'x3n0mD2pS4tCqE1b2cP5jQ8nTt0zWbq9m8R0l2oZp1A';
    raw.send({ event: '#handshake', data: { authToken: hs }, cid: 1 });
    const m = await raw.reply(1);
    assert.equal(m.packet.data.isAuthenticated, false);
    assert.equal(m.packet.data.authError.name, 'AuthTokenInvalidError');
    raw.close();
  });

  test('setting a token the server cannot sign closes the socket with 4002', async () => {
    const { raw } = await handshakenRaw(app.port);
    raw.send({ event: 'login', data: { user: 'bob' }, cid: 9 });
    const closed = await raw.closed(5_000, 'the 4002 close');
    assert.equal(closed.code, 4002);
  });
});
