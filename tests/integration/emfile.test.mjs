// emfile.test.mjs: a reactor out of file descriptors (EMFILE on accept) backs
// off and counts instead of spinning, keeps serving the connections it has,
// and accepts again once descriptors are free.
//
//   SLUICED=build/release/broker/sluiced node --test tests/integration/emfile.test.mjs
//
// sluiced runs under `ulimit -n 64`; 120 raw TCP connections exhaust it.
// sluiced only: the reference server is not under test here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { TARGET, connectTcp, nextMessage, openWs, sleep, startServer } from './lib.mjs';

// CPU seconds (user + system) the process has used, from /proc/<pid>/stat.
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks
}

test('out of descriptors: accept backs off, counts, and recovers',
  { skip: TARGET === 'ref' && 'sluiced only', timeout: 60_000 }, async (t) => {
    const srv = await startServer({ name: 'emfile', reactors: 1, workers: 1, fileLimit: 64 });
    const held = [];
    try {
      const early = await openWs(srv.url); // a client from before the shortage
      for (let i = 0; i < 120; i++) {
        const s = await connectTcp(srv.port); // the kernel queues what sluiced cannot accept
        s.on('error', () => {});
        held.push(s);
      }
      await sleep(300);
      const before = cpuSeconds(srv.pid);
      await sleep(1000);
      const used = cpuSeconds(srv.pid) - before;
      t.diagnostic(`CPU used in 1 s while out of descriptors: ${used.toFixed(2)} s`);
      assert.ok(used < 0.3, `sluiced spun on EMFILE: ${used.toFixed(2)} CPU s in 1 s`);

      early.send('still here'); // the connections it had are served
      assert.equal((await nextMessage(early)).data.toString(), 'still here');

      for (const s of held) s.destroy();
      held.length = 0;
      await sleep(500); // sluiced closes the dead ones and frees their descriptors
      const late = await openWs(srv.url);
      late.send('after');
      assert.equal((await nextMessage(late)).data.toString(), 'after');

      const { code } = await srv.stop('SIGTERM');
      assert.equal(code, 0);
      const m = /(\d+) refused or failed accepts/.exec(srv.output());
      assert.ok(m && Number(m[1]) > 0, `EMFILE was not counted:\n${srv.output()}`);
      t.diagnostic(`refused or failed accepts: ${m[1]}`);
    } finally {
      for (const s of held) s.destroy();
      await srv.kill();
    }
  });
