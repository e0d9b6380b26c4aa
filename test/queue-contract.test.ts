/** Every call-queue backend passes the same contract (test/queue-contract.ts). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { openSqliteQueue } from '../src/queue/sqlite-queue.js';
import { destroyJetStreamQueue, openJetStreamQueue } from '../src/queue/jetstream-queue.js';
import { natsForTests } from './nats-helper.js';
import { queueContract } from './queue-contract.js';

queueContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kss-queue-'));
  const file = join(dir, 'queue.db');
  return {
    queue: openSqliteQueue({ file }),
    reopen: async () => openSqliteQueue({ file }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

const nats = await natsForTests();
if (nats.url === undefined) {
  test('call queue contract: jetstream', { skip: nats.skip }, () => {});
} else {
  const servers = nats.url;
  after(() => nats.stop());
  queueContract('jetstream', async () => {
    // A bucket of its own per test, deleted after it.
    const prefix = `kss-test-${process.pid}-${randomBytes(4).toString('hex')}`;
    return {
      queue: await openJetStreamQueue({ servers, prefix }),
      reopen: () => openJetStreamQueue({ servers, prefix }),
      cleanup: () => destroyJetStreamQueue({ servers, prefix }),
    };
  });
}
