import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import { systemClock } from '../../core/clock.js';
import type { FunctionSpec } from '../../core/index.js';
import type { IsolatedStart, ReplicaIsolation } from './isolation.js';
import { DEFAULT_REPLICA_OPTIONS, Replica } from './replica.js';

const spec = { service: 'slow-start', namespace: 'openfaas-fn', image: '', runtime: 'exec' } as unknown as FunctionSpec;

/** A process that never gets ready (it only waits), so nothing but stop() ends it. */
const launchForever = () => ({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], env: {} });

test('stop() while the sandbox is still being prepared: the process started afterwards is not left running and stop() resolves', async () => {
  // Fault injection: isolate() resolves only when the test says, so stop() lands in the
  // window between "no child yet" and the spawn (what a busy host does to a real sandbox).
  let released = 0;
  let finishIsolate!: () => void;
  let isolateCalled!: () => void;
  const called = new Promise<void>((r) => (isolateCalled = r));
  const isolation = {
    isolate: async (_spec, _artifact, _instance, launch) => {
      isolateCalled();
      await new Promise<void>((r) => (finishIsolate = r));
      const start: IsolatedStart = {
        command: launch.command,
        args: launch.args,
        env: {},
        fds: [],
        attach: () => {},
        settle: () => {},
        usage: () => undefined,
        exitReason: () => undefined,
        stopTargets: (pid) => [pid],
        release: () => {
          released++;
        },
      };
      return start;
    },
  } as ReplicaIsolation;
  const replica = new Replica({
    spec,
    artifact: { dir: tmpdir() },
    launcher: launchForever,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    options: { ...DEFAULT_REPLICA_OPTIONS, graceMs: 60_000 },
    onChange: () => {},
    isolation,
  });
  await called;
  const stopped = replica.stop();
  finishIsolate();
  // Without the fix this never resolves (the test runner's timeout would end the file).
  const outcome = await Promise.race([stopped.then(() => 'stopped'), new Promise((r) => setTimeout(r, 20_000, 'still waiting').unref())]);
  assert.equal(outcome, 'stopped');
  assert.equal(replica.info().pid, undefined, 'no process of the replica is running');
  assert.equal(replica.state, 'stopping');
  assert.equal(released, 1, 'the sandbox was released');
});
