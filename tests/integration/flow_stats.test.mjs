// flow_stats.test.mjs: the stats socket (--stats-socket), sluicectl and
// GET /metrics (--metrics-listen), checked against what the test itself did
// to the server: three SocketCluster clients over ws,
//   A subscribed to "a" and "b", B to "a", C to nothing and publishing
//   5 times on "a" and 3 times on "b" (each acked),
// so every figure is known exactly: connections, messages and bytes in,
// messages and bytes out, per socket and per channel. Then the operator's
// actions: `disconnect ID CODE` and `kill channel NAME`.
//
//   SLUICED=build/release/broker/sluiced SLUICECTL=build/release/tools/sluicectl \
//     node --test tests/integration/flow_stats.test.mjs
//
// The answers' formats are broker/stats.c's (the spec: /tmp/notes/stats-spec.md
// at the time of writing, and the README): "key: value" lines, tables with a
// header line and columns separated by runs of spaces, `json` variants, and
// errors starting with "error: ". promtool (Debian package prometheus) checks
// the exposition format; the test is skipped without it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  SKIP, Sc, channelRow, httpGet, info, metricValue, sleep, startFlow, statsCmd, statsJson,
  tempDir, waitFor,
} from './flow-lib.mjs';

const SOCKET_COLS = ['id', 'worker', 'backpressure', 'inbound', 'outbound', 'outbound_bytes',
  'procedures', 'msgs_in', 'msgs_out', 'dropped', 'subs', 'age_s'];
const CHANNEL_COLS = ['name', 'subscribers', 'published', 'fanout', 'delivered', 'dropped', 'backlog'];
const THREAD_COLS = ['thread', 'loops', 'queue', 'conns', 'msgs'];
const INFO_KEYS = ['version', 'pid', 'uptime_s', 'connections', 'channels', 'reactors', 'workers',
  'msgs_in', 'bytes_in', 'msgs_out', 'bytes_out', 'publishes', 'msgs_dropped',
  'slow_consumer_disconnects', 'slow_consumer_drops', 'backpressure_disconnects',
  'rate_limit_disconnects', 'channel_backlog_kills', 'inbound_pauses', 'port', 'metrics_port'];
const STRING_KEYS = new Set(['id', 'name', 'thread', 'kind', 'version']);
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));

// "key: value" lines -> object (numbers where the value is one).
function parseKv(text) {
  assert.ok(text.endsWith('\n'), `answer without its final newline: ${JSON.stringify(text)}`);
  const out = {};
  for (const line of text.trimEnd().split('\n')) {
    const m = /^([a-z0-9_]+): (.*)$/.exec(line);
    assert.ok(m, `not a "key: value" line: ${JSON.stringify(line)}`);
    out[m[1]] = STRING_KEYS.has(m[1]) ? m[2] : Number(m[2]);
  }
  return out;
}

// A table: header line of column names, rows of values, runs of spaces
// between. Returns the rows as objects; checks the header holds `cols` in order.
function parseTable(text, cols) {
  assert.ok(text.endsWith('\n'), `answer without its final newline: ${JSON.stringify(text)}`);
  const [head, ...lines] = text.trimEnd().split('\n');
  const names = head.trim().split(/ +/);
  let at = -1;
  for (const c of cols) {
    const k = names.indexOf(c);
    assert.ok(k > at, `column ${c} missing or out of order in the header ${JSON.stringify(head)}`);
    at = k;
  }
  return lines.map((line) => {
    const v = line.trim().split(/ +/);
    assert.equal(v.length, names.length, `row ${JSON.stringify(line)} under ${JSON.stringify(head)}`);
    return Object.fromEntries(names.map((n, k) => [n, STRING_KEYS.has(n) ? v[k] : Number(v[k])]));
  });
}

function sluicectl(args, ms = 15_000) {
  const r = spawnSync(process.env.SLUICECTL, args, { encoding: 'utf8', timeout: ms });
  if (r.error) throw r.error;
  return r;
}

describe('the stats socket, sluicectl and /metrics', { skip: SKIP, timeout: 120_000 }, () => {
  let srv;
  let A, B, C;
  const N_A = 5; // publishes on "a"
  const N_B = 3; // publishes on "b"
  const clients = () => [A, B, C];

  before(async () => {
    srv = await startFlow({
      name: 'flow_stats', metrics: true,
      args: ['--reactors', '2', '--workers', '2', '--send-timeout', '60000'],
    });
    A = await Sc.connect(srv.url);
    B = await Sc.connect(srv.url);
    C = await Sc.connect(srv.url);
    await A.subscribe('a');
    await A.subscribe('b');
    await B.subscribe('a');
    for (let k = 0; k < N_A; k++) await C.publish('a', { k }, true);
    for (let k = 0; k < N_B; k++) await C.publish('b', { k }, true);
    await waitFor('every delivery', async () =>
      A.publications.length === N_A + N_B && B.publications.length === N_A);
  });
  after(() => srv && srv.kill());

  test('the socket file has mode 0600 (the default), or --stats-socket-mode', async () => {
    assert.equal(statSync(srv.stats).mode & 0o777, 0o600);
    assert.ok(statSync(srv.stats).isSocket());
    const other = await startFlow({ name: 'flow_stats_mode', args: ['--stats-socket-mode', '0660'] });
    try {
      assert.equal(statSync(other.stats).mode & 0o777, 0o660);
      assert.equal((await other.stop()).code, 0);
      assert.ok(!existsSync(other.stats), 'the socket file is left behind at exit');
    } finally {
      await other.kill();
    }
  });

  test('show info: text and json, the totals of what the clients did', async () => {
    const text = parseKv(await statsCmd(srv, 'show info'));
    const json = await info(srv);
    for (const k of INFO_KEYS) {
      assert.ok(k in text, `show info has no ${k}`);
      assert.ok(k in json, `show info json has no ${k}`);
    }
    assert.deepEqual(Object.keys(json), Object.keys(text), 'the same keys, in the same order');
    assert.equal(typeof json.version, 'string');
    for (const k of INFO_KEYS) {
      if (k !== 'version') assert.equal(typeof json[k], 'number', `${k} is not a number`);
    }
    const sentMsgs = clients().reduce((n, c) => n + c.sentMsgs, 0);
    const sentBytes = clients().reduce((n, c) => n + c.sentBytes, 0);
    // every frame the clients got: 3 handshake replies, 3 subscribe acks,
    // 8 publish acks, 13 deliveries
    const outMsgs = 3 + 3 + (N_A + N_B) + (2 * N_A + N_B);
    // the kernel took every byte the clients read (the HTTP 101 included)
    const outBytes = clients().reduce((n, c) => n + c.ws._socket.bytesRead, 0);
    const expect = {
      pid: srv.pid, connections: 3, channels: 2, reactors: 2, workers: 2,
      msgs_in: sentMsgs, bytes_in: sentBytes, msgs_out: outMsgs, bytes_out: outBytes,
      publishes: N_A + N_B, msgs_dropped: 0, slow_consumer_disconnects: 0, slow_consumer_drops: 0,
      backpressure_disconnects: 0, rate_limit_disconnects: 0, channel_backlog_kills: 0,
      inbound_pauses: 0, port: srv.port, metrics_port: srv.metricsPort,
    };
    console.log(`show info json: ${JSON.stringify(json)}`);
    for (const src of [text, json]) {
      for (const [k, v] of Object.entries(expect)) assert.equal(src[k], v, `show info ${k}`);
      assert.ok(src.uptime_s >= 0 && src.uptime_s < 120);
    }
    assert.equal(sentMsgs, 3 + 3 + N_A + N_B);
    assert.match(await statsCmd(srv, 'show info extra'), /^error: /);
  });

  test('show sockets: the three ids, their subscriptions and messages; sort and limit', async () => {
    const want = {
      [A.id]: { subs: 2, msgs_in: A.sentMsgs, msgs_out: 1 + 2 + N_A + N_B },
      [B.id]: { subs: 1, msgs_in: B.sentMsgs, msgs_out: 1 + 1 + N_A },
      [C.id]: { subs: 0, msgs_in: C.sentMsgs, msgs_out: 1 + N_A + N_B },
    };
    const text = parseTable(await statsCmd(srv, 'show sockets'), SOCKET_COLS);
    const json = await statsJson(srv, 'show sockets json');
    assert.ok(Array.isArray(json));
    for (const rows of [text, json]) {
      assert.deepEqual(rows.map((r) => r.id).sort(), Object.keys(want).sort());
      for (const r of rows) {
        for (const c of SOCKET_COLS) assert.ok(c in r, `no ${c} in ${JSON.stringify(r)}`);
        for (const [k, v] of Object.entries(want[r.id])) assert.equal(r[k], v, `${r.id} ${k}`);
        for (const k of ['backpressure', 'inbound', 'outbound', 'outbound_bytes', 'procedures', 'dropped']) {
          assert.equal(r[k], 0, `${r.id} ${k}`);
        }
        assert.ok(r.worker === 0 || r.worker === 1, `worker ${r.worker}`);
        assert.ok(r.age_s >= 0 && r.age_s < 120);
      }
    }
    // the same figures either way (age_s may tick between the two)
    const strip = (rows) => rows.map(({ age_s: _, ...r }) => r).sort((x, y) => (x.id < y.id ? -1 : 1));
    assert.deepEqual(strip(text), strip(json));

    // sort is descending; limit cuts
    const byIn = await statsJson(srv, 'show sockets sort msgs_in json');
    assert.deepEqual(byIn.map((r) => r.id), [C.id, A.id, B.id]);
    assert.deepEqual((await statsJson(srv, 'show sockets sort subs limit 1 json')).map((r) => r.id), [A.id]);
    const two = parseTable(await statsCmd(srv, 'show sockets sort msgs_out limit 2'), SOCKET_COLS);
    assert.deepEqual(two.map((r) => r.id), [A.id, C.id]);
    assert.deepEqual(await statsJson(srv, 'show sockets limit 0 json'), []);
    const bad = await statsCmd(srv, 'show sockets sort nosuch');
    assert.match(bad, /^error: /);
    for (const c of SOCKET_COLS.slice(1)) assert.ok(bad.includes(c), `the error lists ${c}: ${bad}`);
    assert.match(await statsCmd(srv, 'show sockets limit many'), /^error: /);
    assert.match(await statsCmd(srv, 'show sockets sideways'), /^error: /);
  });

  test('show socket ID: text and json', async () => {
    const text = parseKv(await statsCmd(srv, `show socket ${A.id}`));
    const json = await statsJson(srv, `show socket ${A.id} json`);
    for (const src of [text, json]) {
      assert.deepEqual(Object.keys(src), SOCKET_COLS.filter((c) => c in src));
      for (const c of SOCKET_COLS) assert.ok(c in src, `show socket has no ${c}`);
      assert.equal(src.id, A.id);
      assert.equal(src.subs, 2);
      assert.equal(src.msgs_in, A.sentMsgs);
      assert.equal(src.msgs_out, 1 + 2 + N_A + N_B);
    }
    assert.equal((await statsJson(srv, `show socket ${C.id} json`)).subs, 0);
    assert.match(await statsCmd(srv, 'show socket nosuch'), /^error: /);
    assert.match(await statsCmd(srv, `show socket ${A.id}zz`), /^error: /);
    assert.match(await statsCmd(srv, 'show socket'), /^error: /);
    assert.match(await statsCmd(srv, `show socket ${A.id} yaml`), /^error: /);
  });

  test('show channels: subscribers, published, fanout, delivered; sort and limit', async () => {
    const want = {
      a: { subscribers: 2, published: N_A, fanout: 2 * N_A, delivered: 2 * N_A, dropped: 0, backlog: 0 },
      b: { subscribers: 1, published: N_B, fanout: N_B, delivered: N_B, dropped: 0, backlog: 0 },
    };
    const text = parseTable(await statsCmd(srv, 'show channels'), CHANNEL_COLS);
    const json = await statsJson(srv, 'show channels json');
    for (const rows of [text, json]) {
      assert.deepEqual(rows.map((r) => r.name).sort(), ['a', 'b']);
      for (const r of rows) {
        for (const [k, v] of Object.entries(want[r.name])) assert.equal(r[k], v, `channel ${r.name} ${k}`);
      }
    }
    assert.deepEqual((await statsJson(srv, 'show channels sort published json')).map((r) => r.name), ['a', 'b']);
    assert.deepEqual((await statsJson(srv, 'show channels sort fanout limit 1 json')).map((r) => r.name), ['a']);
    assert.equal(parseTable(await statsCmd(srv, 'show channels limit 1'), CHANNEL_COLS).length, 1);
    assert.match(await statsCmd(srv, 'show channels sort name'), /^error: /);
  });

  test('show threads: reactor-0.. and worker-0.. rows', async () => {
    const text = parseTable(await statsCmd(srv, 'show threads'), THREAD_COLS);
    const json = await statsJson(srv, 'show threads json');
    const i = await info(srv);
    for (const rows of [text, json]) {
      assert.deepEqual(rows.map((r) => r.thread), ['reactor-0', 'reactor-1', 'worker-0', 'worker-1']);
      const reactors = rows.filter((r) => r.thread.startsWith('reactor-'));
      const workers = rows.filter((r) => r.thread.startsWith('worker-'));
      assert.equal(reactors.reduce((n, r) => n + r.conns, 0), 3, 'the reactors hold the 3 connections');
      assert.equal(reactors.reduce((n, r) => n + r.msgs, 0), i.msgs_in, 'the reactors read msgs_in');
      assert.equal(workers.reduce((n, r) => n + r.msgs, 0), i.msgs_in, 'the workers handled msgs_in');
      for (const r of rows) assert.ok(r.loops > 0, `${r.thread} never looped`);
    }
    assert.match(await statsCmd(srv, 'show threads please'), /^error: /);
  });

  test('help lists every command; unknown commands are errors', async () => {
    const help = await statsCmd(srv, 'help');
    for (const cmd of ['help', 'show info', 'show sockets', 'show socket ID', 'show channels',
      'show threads', 'disconnect ID', 'kill channel NAME']) {
      assert.ok(help.includes(cmd), `help does not list "${cmd}":\n${help}`);
    }
    assert.equal(await statsCmd(srv, ''), help, 'an empty line is help');
    for (const line of ['frobnicate', 'show', 'show nothing', 'kill', 'kill channel', 'kill socket x']) {
      const ans = await statsCmd(srv, line);
      assert.match(ans, /^error: .*\n$/, `"${line}" -> ${JSON.stringify(ans)}`);
    }
  });

  test('sluicectl: one command, its errors, and top', { skip: !process.env.SLUICECTL && 'SLUICECTL is not set' },
    async () => {
      const r = sluicectl(['-s', srv.stats, 'show', 'info']);
      assert.equal(r.status, 0, r.stderr);
      const kv = parseKv(r.stdout);
      assert.equal(kv.connections, 3);
      assert.equal(kv.publishes, N_A + N_B);
      assert.equal(kv.pid, srv.pid);

      const j = sluicectl(['-s', srv.stats, 'show', 'socket', B.id, 'json']);
      assert.equal(j.status, 0, j.stderr);
      assert.equal(JSON.parse(j.stdout).subs, 1);

      const bad = sluicectl(['-s', srv.stats, 'frobnicate']);
      assert.equal(bad.status, 1);
      assert.match(bad.stderr + bad.stdout, /error: /);
      const gone = sluicectl(['-s', path.join(tempDir(), 'nothing.sock'), 'show', 'info']);
      assert.equal(gone.status, 2);

      const top = sluicectl(['-s', srv.stats, 'top', '-n', '2', '-i', '0.3']);
      console.log(`sluicectl top -n 2 -i 0.3 (exit ${top.status}):\n${top.stdout}${top.stderr}`);
      assert.equal(top.status, 0, top.stderr);
      const out = top.stdout;
      assert.equal(out.match(/^totals$/gm)?.length, 2, 'two refreshes, each with its totals');
      assert.match(out, /connections 3\b/);
      for (const k of ['msgs_in', 'msgs_out', 'bytes_in', 'bytes_out', 'msgs_dropped', 'publishes',
        'slow_consumer_disconnects', 'channel_backlog_kills', 'inbound_pauses']) {
        assert.match(out, new RegExp(`^  ${k} \\d+`, 'm'), `top shows no ${k}`);
      }
      assert.match(out, new RegExp(`^  publishes ${N_A + N_B}\\b`, 'm'));
      assert.match(out, /most congested sockets\nid +worker +backpressure/);
      assert.match(out, /most congested channels\nname +subscribers +published/);
      for (const id of [A.id, B.id, C.id]) assert.ok(out.includes(id), `top does not show ${id}`);
    });

  test('GET /metrics: Prometheus text that promtool accepts, matching show info', async () => {
    const m = await httpGet(srv.metricsPort, '/metrics');
    const i = await info(srv);
    assert.equal(m.status, 200);
    assert.match(m.headers['content-type'], /^text\/plain; version=0\.0\.4(;|$)/);
    assert.ok(m.body.endsWith('\n'));
    const types = [...m.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, n, t]) => [n, t]);
    assert.ok(types.length >= 10);
    for (const [n, t] of types) {
      assert.ok(['counter', 'gauge'].includes(t), `${n}: type ${t}`);
      if (t === 'counter') assert.match(n, /_total$/, `counter ${n} does not end in _total`);
    }
    const pairs = {
      sluice_publishes_total: i.publishes, sluice_received_messages_total: i.msgs_in,
      sluice_received_bytes_total: i.bytes_in, sluice_sent_messages_total: i.msgs_out,
      sluice_dropped_messages_total: i.msgs_dropped, sluice_connections: i.connections,
      sluice_channels: i.channels, sluice_inbound_pauses_total: i.inbound_pauses,
      'sluice_limit_hits_total{limit="slow_consumer_disconnect"}': i.slow_consumer_disconnects,
      'sluice_limit_hits_total{limit="slow_consumer_drop"}': i.slow_consumer_drops,
      'sluice_limit_hits_total{limit="backpressure_disconnect"}': i.backpressure_disconnects,
      'sluice_limit_hits_total{limit="rate_limit_disconnect"}': i.rate_limit_disconnects,
      'sluice_limit_hits_total{limit="channel_backlog_kill"}': i.channel_backlog_kills,
      'sluice_reactor_loops_total{reactor="0"}': undefined,
      'sluice_worker_messages_total{worker="1"}': undefined,
    };
    for (const [series, v] of Object.entries(pairs)) {
      const got = metricValue(m.body, series);
      assert.ok(got !== undefined, `no ${series} in /metrics`);
      if (v !== undefined) assert.equal(got, v, series);
    }
    assert.equal(metricValue(m.body, 'sluice_sent_bytes_total') >= i.bytes_out, true);

    if (PROMTOOL) {
      const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: m.body, encoding: 'utf8', timeout: 10_000 });
      console.log(`promtool check metrics: exit ${r.status}, output: ${JSON.stringify(r.stdout + r.stderr)}`);
      assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
      assert.equal((r.stdout + r.stderr).trim(), '', 'promtool has lint remarks');
    } else {
      console.log('promtool not found (apt-get install prometheus): the format check is skipped');
    }

    const other = await httpGet(srv.metricsPort, '/other');
    assert.equal(other.status, 404);
    assert.equal((await httpGet(srv.metricsPort, '/metrics?x=1')).status, 200);
  });

  test('kill channel NAME drops its backlog: "ok: dropped N"; the subscriber stays', async () => {
    const before = await channelRow(srv, 'a');
    const droppedBefore = (await info(srv)).msgs_dropped;
    const a0 = A.publications.length;
    const b0 = B.publications.length;
    const pad = 'y'.repeat(1000);
    let sent = 0;
    B.pause(); // B's queue for "a" fills; A reads on
    try {
      // until the kernel's buffers are full and a backlog stays (below the
      // outbound ring of 1024, which would cut B off)
      const backlog = await waitFor('a backlog on channel "a" that stays', async () => {
        for (let k = 0; k < 50; k++, sent++) C.publish('a', { k: sent, p: pad });
        await C.publish('a', { k: sent++, p: pad }, true);
        if ((await channelRow(srv, 'a')).backlog < 200) return false;
        await sleep(200);
        const r = await channelRow(srv, 'a');
        return r.backlog >= 200 && r;
      }, 20_000, 1);
      const ans = await statsCmd(srv, 'kill channel a');
      const m = /^ok: dropped (\d+)\n$/.exec(ans);
      assert.ok(m, `kill channel a -> ${JSON.stringify(ans)}`);
      const n = Number(m[1]);
      // what is being written stays (B does not read): the frames of the
      // send in flight; the rest is dropped within a loop turn
      await waitFor('the kill to act', async () => (await channelRow(srv, 'a')).dropped > before.dropped);
      await sleep(200);
      const after = await channelRow(srv, 'a');
      assert.ok(after.backlog < backlog.backlog / 2, `backlog ${after.backlog} left after the kill`);
      console.log(`kill channel a: ${sent} publishes, backlog ${backlog.backlog} before, answer ` +
        `"${ans.trim()}", after ${JSON.stringify(after)}`);
      assert.ok(n >= 200, `the answer says ${n} dropped, the backlog was ${backlog.backlog}`);
      const dropped = after.dropped - before.dropped;
      assert.ok(dropped > 0 && dropped <= n, `channel dropped ${dropped}, answer ${n}`);
      assert.equal(after.published - before.published, sent);
      assert.equal(after.fanout, after.delivered + after.dropped + after.backlog);
      assert.equal(after.subscribers, 2, 'the subscribers stay subscribed');
      B.resume();
      await waitFor(`B to get what was not dropped (${sent - dropped})`,
        async () => B.publications.length - b0 === sent - dropped, 10_000);
      const drained = await waitFor('the backlog to drain', async () => {
        const r = await channelRow(srv, 'a');
        return r.backlog === 0 && r;
      });
      assert.equal(drained.dropped - before.dropped, dropped, 'more dropped after the kill');
      assert.equal(drained.fanout, drained.delivered + drained.dropped);
      await waitFor(`A to get everything (${sent})`, async () => A.publications.length - a0 === sent);
      const i = await info(srv);
      assert.equal(i.msgs_dropped - droppedBefore, dropped, 'msgs_dropped counts the killed copies');
      assert.equal(i.channel_backlog_kills, 0, 'an operator kill is not a limit hit');
      assert.ok(B.open && A.open);
      assert.match(await statsCmd(srv, 'kill channel nosuch'), /^error: /);
    } finally {
      B.resume();
    }
  });

  test('disconnect ID CODE closes that socket with CODE; the others stay', async () => {
    const closing = C.waitClosed(5_000);
    assert.equal(await statsCmd(srv, `disconnect ${C.id} 4321`), 'ok\n');
    const { code } = await closing;
    assert.equal(code, 4321);
    assert.ok(A.open && B.open);
    await A.publish('b', { after: 'disconnect' }, true);
    await waitFor('the connection count', async () => (await info(srv)).connections === 2);
    const ids = (await statsJson(srv, 'show sockets json')).map((r) => r.id).sort();
    assert.deepEqual(ids, [A.id, B.id].sort());
    assert.match(await statsCmd(srv, `disconnect ${C.id}`), /^error: /, 'a closed socket');
    assert.match(await statsCmd(srv, `disconnect ${A.id} 999`), /^error: /, 'a bad code');
    assert.match(await statsCmd(srv, `disconnect ${A.id} 5000`), /^error: /, 'a bad code');
    assert.match(await statsCmd(srv, 'disconnect nosuch'), /^error: /);
    assert.match(await statsCmd(srv, 'disconnect'), /^error: /);
    assert.ok(A.open && B.open);
    // the default code is 1000
    const b = B.waitClosed(5_000);
    assert.equal(await statsCmd(srv, `disconnect ${B.id}`), 'ok\n');
    assert.equal((await b).code, 1000);
    await A.close();
    assert.equal((await srv.stop()).code, 0);
    assert.ok(!existsSync(srv.stats), 'the socket file is left behind at exit');
  });
});
