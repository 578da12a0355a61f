// auth.test.mjs: JWT authentication, with the real client and on the wire.
// The app runs with a fixed --auth-key so that the tests sign tokens
// themselves (jsonwebtoken, HS256), as a user's own login service would.
//
//   login (a procedure that sets a token), loginConfirmed (the same, the
//   delivery confirmed by the client), reconnect with the stored token,
//   expired / badly signed / garbage / not-yet-valid tokens at the handshake
//   and in #authenticate, deauthentication from both sides, waitForAuth
//   subscriptions, a payload's own exp, expiry noticed on the next packet
//   and on the next pong.
//
//   SLUICE_APP=... node --test tests/conformance/auth.test.mjs
//   SLUICE_TARGET=ref node --test tests/conformance/auth.test.mjs
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  cleanup, clientWire, connectClient, createClient, decodeToken, dropClient, handshakenRaw, jwt,
  memoryAuthEngine, nowSeconds, openRaw, record, rejectsWith, signToken, startApp, subscribed,
  waitFor, within,
} from './lib.mjs';

const KEY = 'sluice-conformance-auth-key-0123456789';
const EXPIRY = 1234; // --auth-default-expiry, seconds: not the 86400 default

const isEvent = (name) => (m) => m.packet && !Array.isArray(m.packet) && m.packet.event === name;

// The exact authError objects of socketcluster-server 20.0.1 (jsonwebtoken's
// messages; the dates as ISO strings).
const expiredError = (exp) => ({
  message: 'jwt expired',
  name: 'AuthTokenExpiredError',
  expiry: new Date(exp * 1000).toISOString(),
  isBadToken: true,
});
const INVALID_SIGNATURE = { message: 'invalid signature', name: 'AuthTokenInvalidError', isBadToken: true };
const MALFORMED = { message: 'jwt malformed', name: 'AuthTokenInvalidError', isBadToken: true };
const notBeforeError = (nbf) => ({
  message: 'jwt not active',
  name: 'AuthTokenNotBeforeError',
  date: new Date(nbf * 1000).toISOString(),
  isBadToken: false,
});

// Tokens the server must refuse, made now (the expired one expired 10 s ago).
function badTokens() {
  const exp = nowSeconds() - 10;
  return [
    ['expired', signToken({ user: 'late', exp }, KEY), expiredError(exp)],
    ['badly signed', signToken({ user: 'forger' }, `${KEY}-not`, { expiresIn: 600 }), INVALID_SIGNATURE],
    ['garbage', 'not-a-jwt', MALFORMED],
  ];
}

async function authenticated(client, ms = 5_000) {
  await waitFor(() => client.authState === 'authenticated', ms, 'the client to be authenticated');
}

async function loggedInRaw(port, payload) {
  const { raw, status } = await handshakenRaw(port);
  const reply = await raw.invoke('login', payload);
  assert.deepEqual(reply.packet, { rid: raw.cid, data: null });
  const set = await raw.take(isEvent('#setAuthToken'), 1_000, 'the #setAuthToken of login');
  return { raw, status, token: set.packet.data.token };
}

describe('login, tokens and the handshake', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'auth', authKey: KEY, authDefaultExpiry: EXPIRY });
  });

  test('login: the client gets the token (authStateChange, authenticate); whoAmI returns its payload with iat and exp = iat + the default expiry', async () => {
    const { client, status } = await connectClient(app.port);
    assert.equal(status.isAuthenticated, false);
    assert.equal(client.authState, 'unauthenticated');
    const changes = record(client.listener('authStateChange'));
    const auths = record(client.listener('authenticate'));
    assert.equal(await client.invoke('whoAmI'), null);

    const t0 = nowSeconds();
    assert.equal(await client.invoke('login', { user: 'alice', roles: ['a', 'b'] }), null);
    await authenticated(client);
    await auths.until(1, 5_000, 'the authenticate event');
    const me = await client.invoke('whoAmI');
    assert.deepEqual(Object.keys(me).sort(), ['exp', 'iat', 'roles', 'user']);
    assert.equal(me.user, 'alice');
    assert.deepEqual(me.roles, ['a', 'b']);
    assert.ok(Number.isInteger(me.iat) && me.iat >= t0 - 1 && me.iat <= nowSeconds() + 1,
      `iat ${me.iat} is not now (${t0})`);
    assert.equal(me.exp, me.iat + EXPIRY);

    // the client's token decodes to the same payload and verifies with the key
    assert.equal(typeof client.signedAuthToken, 'string');
    assert.deepEqual(client.authToken, me);
    const { header, payload } = decodeToken(client.signedAuthToken);
    assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
    assert.deepEqual(payload, me);
    assert.deepEqual(jwt.verify(client.signedAuthToken, KEY, { algorithms: ['HS256'] }), me);

    assert.deepEqual(changes.items, [{
      oldAuthState: 'unauthenticated', newAuthState: 'authenticated',
      signedAuthToken: client.signedAuthToken, authToken: me,
    }]);
    assert.deepEqual(auths.items, [{ signedAuthToken: client.signedAuthToken, authToken: me }]);
    dropClient(client);
  });

  test('login on the wire: {"event":"#setAuthToken","data":{"token":"<HS256 JWT>"}} without a cid, before the reply {"rid":N,"data":null}', async () => {
    const { raw } = await handshakenRaw(app.port);
    const cid = raw.nextCid();
    raw.send({ event: 'login', data: { user: 'wire' }, cid });
    const reply = await raw.reply(cid);
    assert.deepEqual(reply.packet, { rid: cid, data: null });
    // already there when the reply came
    const i = raw.inbox.findIndex(isEvent('#setAuthToken'));
    assert.ok(i >= 0, `no #setAuthToken before the reply; inbox: ${JSON.stringify(raw.inbox.map((m) => m.text))}`);
    const set = raw.inbox.splice(i, 1)[0];
    assert.equal(set.isBinary, false);
    assert.deepEqual(Object.keys(set.packet).sort(), ['data', 'event']);
    assert.deepEqual(Object.keys(set.packet.data), ['token']);
    const token = set.packet.data.token;
    const verified = jwt.verify(token, KEY, { algorithms: ['HS256'] });
    assert.deepEqual(decodeToken(token).header, { alg: 'HS256', typ: 'JWT' });
    assert.equal(verified.user, 'wire');
    assert.equal(verified.exp, verified.iat + EXPIRY);
    assert.deepEqual((await raw.invoke('whoAmI')).packet.data, verified);
    await raw.quiet(200, () => true, 'something after the login');
    raw.close();
  });

  test('loginConfirmed (real client): resolves null once the client has the token', async () => {
    const { client } = await connectClient(app.port);
    const wire = clientWire(client);
    assert.equal(await client.invoke('loginConfirmed', { user: 'carol' }), null);
    // the client confirmed #setAuthToken before the server replied
    assert.equal(client.authState, 'authenticated');
    const me = await client.invoke('whoAmI');
    assert.equal(me.user, 'carol');
    assert.equal(me.exp, me.iat + EXPIRY);
    assert.deepEqual(client.authToken, me);
    const sets = wire.filter(isEvent('#setAuthToken'));
    assert.equal(sets.length, 1);
    assert.equal(typeof sets[0].packet.cid, 'number', 'the #setAuthToken of loginConfirmed has no cid');
    dropClient(client);
  });

  test('loginConfirmed on the wire: #setAuthToken is an invoke {"event","cid","data":{"token"}}; the reply waits for the client\'s {"rid"}', async () => {
    const { raw } = await handshakenRaw(app.port);
    const cid = raw.nextCid();
    raw.send({ event: 'loginConfirmed', data: { user: 'dave' }, cid });
    const set = await raw.take(isEvent('#setAuthToken'), 5_000, 'the #setAuthToken invoke');
    assert.deepEqual(Object.keys(set.packet).sort(), ['cid', 'data', 'event']);
    assert.equal(typeof set.packet.cid, 'number');
    assert.deepEqual(Object.keys(set.packet.data), ['token']);
    const payload = jwt.verify(set.packet.data.token, KEY, { algorithms: ['HS256'] });
    assert.equal(payload.user, 'dave');
    // no reply while the client has not confirmed
    await raw.quiet(300, (m) => m.packet && m.packet.rid === cid, 'the loginConfirmed reply before the confirmation');
    raw.send({ rid: set.packet.cid });
    assert.deepEqual((await raw.reply(cid)).packet, { rid: cid, data: null });
    assert.deepEqual((await raw.invoke('whoAmI')).packet.data, payload);
    raw.close();
  });

  test('reconnect with the stored token: isAuthenticated true, no new #setAuthToken, the same payload; a waitForAuth channel comes back', async () => {
    const { client } = await connectClient(app.port);
    await client.invoke('login', { user: 'erin' });
    await authenticated(client);
    const signed = client.signedAuthToken;
    const me = await client.invoke('whoAmI');
    const priv = record(await subscribed(client, 'erin/private', 5_000, { waitForAuth: true }));

    const wire = clientWire(client); // from here on
    client.disconnect();
    assert.equal(client.state, 'closed');
    const connected = client.listener('connect').once();
    client.connect();
    const status = await within(5_000, 'the client to reconnect', connected);
    assert.equal(status.isAuthenticated, true);
    assert.equal(status.authError, undefined);
    assert.equal(status.authToken, signed, 'the client did not send its stored token');
    assert.equal(client.authState, 'authenticated');
    assert.equal(client.signedAuthToken, signed);
    assert.deepEqual(await client.invoke('whoAmI'), me);

    await waitFor(() => client.isSubscribed('erin/private'), 5_000, 'the waitForAuth channel to be resubscribed');
    assert.equal(await client.invoke('publish', { channel: 'erin/private', data: 'back' }), null);
    await priv.until(1, 5_000, 'the message on the resubscribed waitForAuth channel');
    assert.deepEqual(priv.items, ['back']);
    assert.deepEqual(wire.filter(isEvent('#setAuthToken')), [], 'a #setAuthToken after the handshake');
    assert.deepEqual(wire.filter(isEvent('#removeAuthToken')), []);
    dropClient(client);
  });

  test('a valid token in #handshake on the wire: {"rid":1,"data":{"id","pingTimeout","isAuthenticated":true}} and nothing else', async () => {
    const { token } = await loggedInRaw(app.port, { user: 'frank' });
    const raw = await openRaw(app.port);
    raw.send({ event: '#handshake', data: { authToken: token }, cid: 1 });
    const m = await raw.reply(1);
    assert.deepEqual(Object.keys(m.packet.data).sort(), ['id', 'isAuthenticated', 'pingTimeout']);
    assert.equal(typeof m.packet.data.id, 'string');
    assert.deepEqual(m.packet, {
      rid: 1, data: { id: m.packet.data.id, pingTimeout: m.packet.data.pingTimeout, isAuthenticated: true },
    });
    await raw.quiet(300, () => true, 'something after a handshake with a valid token');
    assert.deepEqual((await raw.invoke('whoAmI')).packet.data, jwt.verify(token, KEY));
    raw.close();
  });

  test('bad tokens in #handshake (expired, badly signed, garbage): authError {name, message, isBadToken, ...}, isAuthenticated false, then {"event":"#removeAuthToken"}', async () => {
    for (const [what, token, authError] of badTokens()) {
      const raw = await openRaw(app.port);
      raw.send({ event: '#handshake', data: { authToken: token }, cid: 1 });
      const m = await raw.reply(1);
      assert.deepEqual(m.packet, {
        rid: 1,
        data: { id: m.packet.data.id, pingTimeout: m.packet.data.pingTimeout, isAuthenticated: false, authError },
      }, what);
      assert.equal(typeof m.packet.data.id, 'string', what);
      const rm = await raw.take(isEvent('#removeAuthToken'), 5_000, `the #removeAuthToken after the ${what} token`);
      assert.deepEqual(rm.packet, { event: '#removeAuthToken' }, what);
      // the socket is open and unauthenticated
      assert.equal((await raw.invoke('whoAmI')).packet.data, null, what);
      assert.deepEqual(raw.inbox.map((x) => x.text), [], what);
      raw.close();
    }
  });

  test('the real client with a stored expired token: connects unauthenticated with AuthTokenExpiredError and drops the token', async () => {
    const exp = nowSeconds() - 10;
    const engine = memoryAuthEngine(signToken({ user: 'stale', exp }, KEY));
    const removed = createClient(app.port, { authEngine: engine, autoConnect: false });
    const removals = record(removed.listener('removeAuthToken'));
    const connected = removed.listener('connect').once();
    removed.connect();
    const status = await within(5_000, 'the client to connect', connected);
    assert.equal(status.isAuthenticated, false);
    assert.ok(status.authError instanceof Error);
    assert.equal(status.authError.name, 'AuthTokenExpiredError');
    assert.equal(status.authError.message, 'jwt expired');
    assert.equal(status.authError.isBadToken, true);
    assert.equal(status.authError.expiry, new Date(exp * 1000).toISOString());
    assert.equal(removed.authState, 'unauthenticated');
    await removals.until(1, 5_000, 'the client to act on #removeAuthToken');
    assert.equal(engine.token, null, 'the client kept the expired token');
    assert.equal(await removed.invoke('whoAmI'), null);
    dropClient(removed);
  });

  test('#authenticate with a valid token: {"rid":N,"data":{"isAuthenticated":true,"authError":null}}, no #setAuthToken; whoAmI is its payload', async () => {
    const token = signToken({ user: 'gina' }, KEY, { expiresIn: 600 });
    const { raw } = await handshakenRaw(app.port);
    const m = await raw.invoke('#authenticate', token);
    assert.deepEqual(m.packet, { rid: raw.cid, data: { isAuthenticated: true, authError: null } });
    assert.deepEqual((await raw.invoke('whoAmI')).packet.data, jwt.verify(token, KEY));
    // a second time is fine too
    assert.deepEqual((await raw.invoke('#authenticate', token)).packet,
      { rid: raw.cid, data: { isAuthenticated: true, authError: null } });
    await raw.quiet(200, () => true, 'something after #authenticate');
    raw.close();

    const { client } = await connectClient(app.port);
    const st = await client.authenticate(token);
    assert.deepEqual(st, { isAuthenticated: true, authError: null });
    assert.equal(client.authState, 'authenticated');
    assert.deepEqual(client.authToken, jwt.verify(token, KEY));
    assert.deepEqual(await client.invoke('whoAmI'), jwt.verify(token, KEY));
    dropClient(client);
  });

  test('#authenticate with bad tokens: an error reply {"rid":N,"error":{...}} then {"event":"#removeAuthToken"}; an authenticated socket loses its token', async () => {
    for (const [what, token, error] of badTokens()) {
      const { raw } = await loggedInRaw(app.port, { user: 'henry' });
      const m = await raw.invoke('#authenticate', token);
      assert.deepEqual(m.packet, { rid: raw.cid, error }, what);
      const rm = await raw.take(isEvent('#removeAuthToken'), 5_000, `the #removeAuthToken after the ${what} token`);
      assert.deepEqual(rm.packet, { event: '#removeAuthToken' }, what);
      assert.equal((await raw.invoke('whoAmI')).packet.data, null, what);
      assert.deepEqual(raw.inbox.map((x) => x.text), [], what);
      raw.close();
    }
  });

  test('#authenticate without a numeric cid closes the socket with 4008', async () => {
    const token = signToken({ user: 'nocid' }, KEY, { expiresIn: 600 });
    for (const packet of [{ event: '#authenticate', data: token }, { event: '#authenticate', data: token, cid: 'x' }]) {
      const { raw } = await handshakenRaw(app.port);
      raw.send(packet);
      assert.equal((await raw.closed(5_000)).code, 4008, JSON.stringify(packet));
      raw.close();
    }
  });

  test('client.authenticate with a bad token rejects with the error; the client is unauthenticated', async () => {
    for (const [what, token, error] of badTokens()) {
      const { client } = await connectClient(app.port);
      await client.invoke('login', { user: 'ivy' });
      await authenticated(client);
      const err = await rejectsWith(client.authenticate(token), 5_000, `client.authenticate(${what})`);
      assert.equal(err.name, error.name, what);
      assert.equal(err.message, error.message, what);
      assert.equal(err.isBadToken, true, what);
      assert.equal(client.authState, 'unauthenticated', what);
      assert.equal(await client.invoke('whoAmI'), null, what);
      dropClient(client);
    }
  });

  test('a not-yet-valid token (nbf): AuthTokenNotBeforeError with isBadToken false, and no #removeAuthToken (#handshake and #authenticate)', async () => {
    const nbf = nowSeconds() + 3_600;
    const token = signToken({ user: 'early', nbf }, KEY, { expiresIn: 7_200 });

    const raw = await openRaw(app.port);
    raw.send({ event: '#handshake', data: { authToken: token }, cid: 1 });
    const m = await raw.reply(1);
    assert.deepEqual(m.packet, {
      rid: 1,
      data: {
        id: m.packet.data.id, pingTimeout: m.packet.data.pingTimeout, isAuthenticated: false,
        authError: notBeforeError(nbf),
      },
    });
    // #authenticate answers with data (not an error): the token is good, only early
    const a = await raw.invoke('#authenticate', token);
    assert.deepEqual(a.packet, {
      rid: raw.cid, data: { isAuthenticated: false, authError: notBeforeError(nbf) },
    });
    assert.equal((await raw.invoke('whoAmI')).packet.data, null);
    await raw.quiet(200, () => true, 'a #removeAuthToken for a not-yet-valid token');
    raw.close();

    const { client } = await connectClient(app.port);
    const st = await client.authenticate(token);
    assert.equal(st.isAuthenticated, false);
    assert.equal(st.authError.name, 'AuthTokenNotBeforeError');
    assert.equal(st.authError.isBadToken, false);
    assert.equal(client.authState, 'unauthenticated');
    dropClient(client);
  });

  test('logout (server side deauthenticate): {"event":"#removeAuthToken"} before the reply; the client drops its token; whoAmI null', async () => {
    const { raw } = await loggedInRaw(app.port, { user: 'jack' });
    const cid = raw.nextCid();
    raw.send({ event: 'logout', cid });
    const reply = await raw.reply(cid);
    assert.deepEqual(reply.packet, { rid: cid, data: null });
    assert.deepEqual(raw.inbox.map((m) => m.packet), [{ event: '#removeAuthToken' }],
      'not exactly one #removeAuthToken before the reply');
    raw.inbox.length = 0;
    assert.equal((await raw.invoke('whoAmI')).packet.data, null);
    // logging out twice: no error
    assert.deepEqual((await raw.invoke('logout')).packet, { rid: raw.cid, data: null });
    raw.close();

    const engine = memoryAuthEngine();
    const client = createClient(app.port, { authEngine: engine });
    await within(5_000, 'connect', client.listener('connect').once());
    await client.invoke('login', { user: 'kate' });
    await authenticated(client);
    assert.equal(typeof engine.token, 'string', 'the client did not store its token');
    const deauths = record(client.listener('deauthenticate'));
    assert.equal(await client.invoke('logout'), null);
    await deauths.until(1, 5_000, 'the client\'s deauthenticate event');
    assert.equal(client.authState, 'unauthenticated');
    assert.equal(client.signedAuthToken, null);
    await waitFor(() => engine.token === null, 5_000, 'the client to remove its stored token');
    assert.equal(await client.invoke('whoAmI'), null);
    dropClient(client);
  });

  test('client side deauthenticate: {"event":"#removeAuthToken"} gets no reply; whoAmI null after', async () => {
    const { raw } = await loggedInRaw(app.port, { user: 'leo' });
    raw.send({ event: '#removeAuthToken' });
    await raw.quiet(300, () => true, 'a reply to #removeAuthToken');
    assert.equal((await raw.invoke('whoAmI')).packet.data, null);
    raw.close();

    const { client } = await connectClient(app.port);
    await client.invoke('login', { user: 'mia' });
    await authenticated(client);
    await client.deauthenticate();
    assert.equal(client.authState, 'unauthenticated');
    assert.equal(await client.invoke('whoAmI'), null);
    dropClient(client);
  });

  test('waitForAuth: a channel subscribed with waitForAuth is only subscribed once the client is authenticated', async () => {
    const { client } = await connectClient(app.port);
    const before = (await client.invoke('stats')).subscriptions;
    const priv = client.subscribe('members', { waitForAuth: true });
    const privItems = record(priv);
    const pub = record(await subscribed(client, 'lobby'));
    assert.equal(priv.state, 'pending');
    assert.equal((await client.invoke('stats')).subscriptions, before + 1, 'the waitForAuth channel was subscribed');
    await client.invoke('publish', { channel: 'members', data: 'too early' });
    await client.invoke('publish', { channel: 'lobby', data: 'sentinel' });
    await pub.until(1, 5_000, 'the sentinel');
    assert.deepEqual(privItems.items, []);

    const subscribedNow = priv.listener('subscribe').once();
    await client.invoke('login', { user: 'nina' });
    await within(5_000, 'the waitForAuth channel to be subscribed after login', subscribedNow);
    assert.equal(priv.state, 'subscribed');
    assert.equal((await client.invoke('stats')).subscriptions, before + 2);
    await client.invoke('publish', { channel: 'members', data: 'welcome' });
    await privItems.until(1, 5_000, 'the message on the waitForAuth channel');
    assert.deepEqual(privItems.items, ['welcome']);
    dropClient(client);
  });

  test('a payload with its own exp keeps it (the default expiry is not applied)', async () => {
    const exp = nowSeconds() + 5_000;
    const { client } = await connectClient(app.port);
    await client.invoke('login', { user: 'olga', exp });
    await authenticated(client);
    const me = await client.invoke('whoAmI');
    assert.equal(me.exp, exp);
    assert.equal(typeof me.iat, 'number');
    assert.deepEqual(client.authToken, me);
    assert.deepEqual(jwt.verify(client.signedAuthToken, KEY), me);
    dropClient(client);
  });

  test('tokens from the user\'s own login service (jsonwebtoken, HS256, --auth-key) are accepted: stored, by #authenticate, and without exp', async () => {
    const token = jwt.sign({ sub: 'user-17', roles: ['admin'] }, KEY, { algorithm: 'HS256', expiresIn: '1h' });
    const payload = jwt.verify(token, KEY);
    const { client, status } = await connectClient(app.port, { authEngine: memoryAuthEngine(token) });
    assert.equal(status.isAuthenticated, true);
    assert.equal(status.authError, undefined);
    assert.equal(client.authState, 'authenticated');
    assert.deepEqual(client.authToken, payload);
    assert.deepEqual(await client.invoke('whoAmI'), payload);
    dropClient(client);

    const { client: later } = await connectClient(app.port);
    assert.deepEqual(await later.authenticate(token), { isAuthenticated: true, authError: null });
    assert.deepEqual(await later.invoke('whoAmI'), payload);
    dropClient(later);

    // no exp at all (and no iat): accepted as it is
    const forever = jwt.sign({ sub: 'forever' }, KEY, { algorithm: 'HS256', noTimestamp: true });
    const { raw, status: st } = await handshakenRaw(app.port, { authToken: forever });
    assert.equal(st.isAuthenticated, true);
    assert.equal(st.authError, undefined);
    assert.deepEqual((await raw.invoke('whoAmI')).packet.data, { sub: 'forever' });
    raw.close();
  });

  test('a token that expires while the socket is open is removed at its next packet: #removeAuthToken, whoAmI null', async () => {
    const exp = nowSeconds() + 2;
    const { raw } = await loggedInRaw(app.port, { user: 'pete', exp });
    assert.equal((await raw.invoke('whoAmI')).packet.data.exp, exp);
    // expired by any reading (seconds or milliseconds)
    await waitFor(() => Date.now() >= exp * 1000 + 1_000, 5_000, 'the token to expire');
    const m = await raw.invoke('whoAmI');
    assert.equal(m.packet.data, null);
    const rm = await raw.take(isEvent('#removeAuthToken'), 2_000, 'the #removeAuthToken of the expired token');
    assert.deepEqual(rm.packet, { event: '#removeAuthToken' });
    raw.close();
  });
});

describe('token expiry noticed on a pong', () => {
  after(cleanup); // every client, raw socket and app of this suite
  let app;
  before(async () => {
    app = await startApp({ name: 'auth-pong', authKey: KEY, pingInterval: 300 });
  });

  test('a socket that sends nothing but pongs loses its expired token: #removeAuthToken (raw and real client)', async () => {
    const exp = nowSeconds() + 2;
    const { raw } = await loggedInRaw(app.port, { user: 'quinn', exp });
    const engine = memoryAuthEngine();
    const client = createClient(app.port, { authEngine: engine });
    await within(5_000, 'connect', client.listener('connect').once());
    const deauths = record(client.listener('deauthenticate'));
    await client.invoke('login', { user: 'rita', exp });
    await authenticated(client);

    const deadline = exp * 1000 + 1_000 + 2_000 - Date.now(); // expired, then a few pings
    const rm = await raw.take(isEvent('#removeAuthToken'), Math.max(deadline, 1_000),
      'the #removeAuthToken sent without any packet from the client');
    assert.ok(Date.now() >= exp * 1000, 'the token was removed before it expired');
    assert.deepEqual(rm.packet, { event: '#removeAuthToken' });
    assert.ok(raw.pings > 0);
    await deauths.until(1, 2_000, 'the real client to be deauthenticated');
    assert.equal(client.authState, 'unauthenticated');
    await waitFor(() => engine.token === null, 2_000, 'the client to remove its stored token');
    assert.equal((await raw.invoke('whoAmI')).packet.data, null);
    assert.equal(await client.invoke('whoAmI'), null);
    dropClient(client);
    raw.close();
  });
});

// A guard against a silly mistake in the suite itself: the bad tokens are bad.
test('the test tokens are what they claim to be', () => {
  for (const [what, token] of badTokens()) {
    assert.throws(() => jwt.verify(token, KEY), undefined, what);
  }
  assert.ok(jwt.verify(signToken({ a: 1 }, KEY), KEY));
});
