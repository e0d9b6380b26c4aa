import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeastInFlightBalancer } from './balancer.js';

const eps = [
  { id: 'a', origin: 'http://a' },
  { id: 'b', origin: 'http://b' },
  { id: 'c', origin: 'http://c' },
];

test('sequential requests rotate across replicas', () => {
  const lb = new LeastInFlightBalancer();
  const picked = [];
  for (let i = 0; i < 6; i++) {
    const { endpoint, release } = lb.acquire(eps);
    picked.push(endpoint.id);
    release();
  }
  assert.deepEqual(picked, ['a', 'b', 'c', 'a', 'b', 'c']);
});

test('concurrent requests go to the least loaded replica', () => {
  const lb = new LeastInFlightBalancer();
  const held = [lb.acquire(eps), lb.acquire(eps), lb.acquire(eps), lb.acquire(eps)];
  assert.deepEqual(held.slice(0, 3).map((h) => h.endpoint.id).sort(), ['a', 'b', 'c']);
  held[1]!.release();
  held[2]!.release();
  const load = eps.map((e) => lb.inFlight(e.id));
  const next = lb.acquire(eps);
  assert.equal(load[eps.indexOf(next.endpoint)], 0);
  held[1]!.release();
  assert.ok(lb.inFlight('a') >= 0 && lb.inFlight('b') >= 0 && lb.inFlight('c') >= 0);
});
