import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuMillis, memoryBytes, parseQuantity } from './quantity.js';

test('memory quantities in every suffix', () => {
  assert.equal(memoryBytes('128Mi'), 134_217_728);
  assert.equal(memoryBytes('1Gi'), 1_073_741_824);
  assert.equal(memoryBytes('1G'), 1_000_000_000);
  assert.equal(memoryBytes('64k'), 64_000);
  assert.equal(memoryBytes('1e6'), 1_000_000);
  assert.equal(memoryBytes('1.5Mi'), 1_572_864);
  assert.equal(memoryBytes('100'), 100);
  assert.equal(memoryBytes('0.5'), 1, 'fractions of a byte round up');
});

test('cpu quantities to millicores', () => {
  assert.equal(cpuMillis('500m'), 500);
  assert.equal(cpuMillis('2'), 2000);
  assert.equal(cpuMillis('0.1'), 100);
  assert.equal(cpuMillis('1.5'), 1500);
  assert.equal(cpuMillis('250000u'), 250);
  assert.equal(cpuMillis('0.0001'), 1, 'rounds up to 1m');
});

test('what is not a quantity is undefined', () => {
  for (const bad of ['', 'abc', '12 Mi', '-1', 'Mi', '1MiB', '1mi', '1..2', '0x10', '1e', 'Infinity', '1e400']) {
    assert.equal(parseQuantity(bad), undefined, bad);
  }
});
