import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKssError } from './errors.js';
import {
  assertValidVolumes,
  DEFAULT_VOLUME_SIZE,
  MAX_VOLUMES_PER_FUNCTION,
  parseVolumeList,
  volumeEnvName,
  volumeMountPath,
  volumesOf,
  volumeSizeOf,
} from './volume-spec.js';

/** Asserts `f` throws KSS_INVALID_VOLUME (400) with a message matching `message`. */
function rejects(f: () => unknown, message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(isKssError(e), String(e));
    assert.equal(e.code, 'KSS_INVALID_VOLUME');
    assert.equal(e.status, 400);
    assert.match(e.message, message);
    return true;
  });
}

test('a comma-separated list of names, each optionally :ro, in the order given', () => {
  assert.deepEqual(parseVolumeList('readings'), [{ name: 'readings', readOnly: false }]);
  assert.deepEqual(parseVolumeList('readings, models:ro ,x-1'), [
    { name: 'readings', readOnly: false },
    { name: 'models', readOnly: true },
    { name: 'x-1', readOnly: false },
  ]);
  assert.deepEqual(parseVolumeList('a'.repeat(63)), [{ name: 'a'.repeat(63), readOnly: false }]);
  assert.deepEqual(parseVolumeList('0'), [{ name: '0', readOnly: false }]);
});

test('no annotation, an empty one or only spaces: no volumes', () => {
  assert.deepEqual(volumesOf({}), []);
  assert.deepEqual(volumesOf({ annotations: { other: 'x' } }), []);
  assert.deepEqual(volumesOf({ annotations: { 'kss.volume': '' } }), []);
  assert.deepEqual(volumesOf({ annotations: { 'kss.volume': '   ' } }), []);
  assert.deepEqual(volumesOf({ annotations: { 'kss.volume': 'db:ro' } }), [{ name: 'db', readOnly: true }]);
});

test('bad names are refused, naming the field and what is allowed', () => {
  for (const bad of ['Data', 'a_b', '-a', 'a-', 'a.b', 'a b', 'a/b', '..', 'a'.repeat(64), 'é', ':ro']) {
    rejects(() => parseVolumeList(bad), /^annotations\.kss\.volume: .*lower-case letters, digits and '-'.*":ro"/);
  }
});

test('a suffix other than :ro, an empty entry, a volume named twice are refused', () => {
  rejects(() => parseVolumeList('data:rw'), /^annotations\.kss\.volume: "data:rw" has the suffix ":rw"; the only suffix is ":ro"/);
  rejects(() => parseVolumeList('data:'), /the only suffix is ":ro"/);
  rejects(() => parseVolumeList('data:ro:ro'), /the only suffix is ":ro"/);
  rejects(() => parseVolumeList('data:RO'), /the only suffix is ":ro"/);
  rejects(() => parseVolumeList('a,,b'), /has an empty entry/);
  rejects(() => parseVolumeList('a,'), /has an empty entry/);
  rejects(() => parseVolumeList('a,a'), /volume "a" is named twice/);
  rejects(() => parseVolumeList('a,a:ro'), /volume "a" is named twice/);
  const many = Array.from({ length: MAX_VOLUMES_PER_FUNCTION + 1 }, (_, i) => `v${i}`).join(',');
  rejects(() => parseVolumeList(many), new RegExp(`at most ${MAX_VOLUMES_PER_FUNCTION}`));
  assert.equal(parseVolumeList(many.split(',').slice(1).join(',')).length, MAX_VOLUMES_PER_FUNCTION);
});

test('long or hostile input is quoted clipped, never whole', () => {
  const long = `${'x'.repeat(5000)}_`;
  assert.throws(() => parseVolumeList(long), (e: unknown) => isKssError(e) && e.message.length < 600);
});

test('kss.volume.size: a quantity of bytes, default 1Gi', () => {
  assert.equal(volumeSizeOf({}), DEFAULT_VOLUME_SIZE);
  assert.equal(DEFAULT_VOLUME_SIZE, '1Gi');
  assert.equal(volumeSizeOf({ annotations: { 'kss.volume.size': ' 10Gi ' } }), '10Gi');
  assert.equal(volumeSizeOf({ annotations: { 'kss.volume.size': '500M' } }), '500M');
  for (const bad of ['ten', '10 GB', '-1Gi', '0', 'Gi']) {
    rejects(() => volumeSizeOf({ annotations: { 'kss.volume.size': bad } }), /^annotations\.kss\.volume\.size: .* is not a size; use a Kubernetes quantity/);
  }
  rejects(() => assertValidVolumes({ annotations: { 'kss.volume': 'ok', 'kss.volume.size': 'big' } }), /kss\.volume\.size/);
  rejects(() => assertValidVolumes({ annotations: { 'kss.volume': 'Bad' } }), /kss\.volume:/);
});

test('the environment variable and the path a replica sees', () => {
  assert.equal(volumeEnvName('readings'), 'KSS_VOLUME_READINGS');
  assert.equal(volumeEnvName('gas-meter-db'), 'KSS_VOLUME_GAS_METER_DB');
  assert.equal(volumeEnvName('0a'), 'KSS_VOLUME_0A');
  assert.equal(volumeMountPath('models'), '/var/kss/volumes/models');
});
