/** The one place errors become HTTP: a full disk is a 507, whoever reported it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDiskFull, toKssError } from './errors.js';

test('SQLITE_FULL, ENOSPC and EDQUOT (also as a cause) are 507 KSS_INSUFFICIENT_STORAGE, not a 500', () => {
  const sqlite = Object.assign(new Error('database or disk is full'), { name: 'SqliteError', code: 'SQLITE_FULL' });
  const fs = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: 'ENOSPC' });
  const wrapped = new Error('could not store the archive', { cause: Object.assign(new Error('quota'), { code: 'EDQUOT' }) });
  for (const err of [sqlite, fs, wrapped]) {
    assert.ok(isDiskFull(err));
    const { error, internal } = toKssError(err);
    assert.equal(internal, false);
    assert.equal(error.code, 'KSS_INSUFFICIENT_STORAGE');
    assert.equal(error.status, 507);
    assert.equal(error.retryAfter, 5);
    assert.doesNotMatch(error.message, /ENOSPC|SQLITE|\//, 'no internals or paths in the message');
  }
  assert.equal(isDiskFull(Object.assign(new Error('x'), { code: 'EACCES' })), false);
  assert.equal(toKssError(new Error('boom')).error.code, 'KSS_INTERNAL');
});
