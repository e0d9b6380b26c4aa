/**
 * The Provider contract suite: what every provider (local processes, Kubernetes)
 * must do, checked with real requests to the replicas it reports. A provider's test
 * file calls {@link providerContract} with a harness that makes functions runnable on
 * it (uploaded and built for the local provider; a code ConfigMap and a simulated
 * kubelet for Kubernetes). Like hono's common.case tests: one behaviour, every backend.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { packDirectory } from '../src/archive/index.js';
import type { BuildService } from '../src/build/index.js';
import { canWatchReplicas, KssError, parseFunctionSpec, type FunctionSpec, type Provider } from '../src/core/index.js';
import type { CodeStore } from '../src/store/index.js';
import { eventually, writeFunction } from './helpers.js';

export interface ProviderHarness {
  provider: Provider;
  /** A Node function answering with `source`'s default export, ready to deploy on this provider. */
  nodeFunction(name: string, source: string, extra?: Record<string, unknown>): Promise<FunctionSpec>;
  close(): Promise<void>;
}

/** `nodeFunction` for harnesses that run gateway builds: upload to `code`, build with `builds`. */
export function builtNodeFunction(code: CodeStore, builds: BuildService): ProviderHarness['nodeFunction'] {
  return async (name, source, extra = {}) => {
    const src = writeFunction({ 'handler.js': source });
    try {
      const { digest } = await code.put(await packDirectory(src));
      const spec = parseFunctionSpec({ service: name, runtime: 'node', code: digest, ...extra });
      await builds.ensureBuilt(spec);
      return spec;
    } finally {
      rmSync(src, { recursive: true, force: true });
    }
  };
}

const reply = (text: string) => `export default () => ${JSON.stringify(text)};\n`;

/** `STATUS BODY` of GET / on a replica, or `unreachable` (a replica stopping as the check runs). */
async function answer(origin: string): Promise<string> {
  try {
    const res = await fetch(`${origin}/`, { signal: AbortSignal.timeout(5000) });
    return `${res.status} ${await res.text()}`;
  } catch {
    return 'unreachable';
  }
}

/** Waits until `provider` resolves exactly `n` endpoints of `spec` (all answering). */
async function endpoints(provider: Provider, spec: FunctionSpec, n: number, what: string, timeoutMs = 20_000) {
  const ref = { name: spec.service, namespace: spec.namespace };
  await eventually(() => provider.resolve(ref).length === n, timeoutMs, what);
  return provider.resolve(ref);
}

export function providerContract(label: string, makeHarness: () => Promise<ProviderHarness>): void {
  describe(`provider contract: ${label}`, () => {
    let h: ProviderHarness;
    before(async () => {
      h = await makeHarness();
    });
    after(async () => {
      await h?.close();
    });

    test('deploy: a ready endpoint answers; get and list report it, other namespaces do not', async () => {
      const spec = await h.nodeFunction('contract-hello', reply('hello v1'));
      await h.provider.deploy(spec);
      const [ep] = await endpoints(h.provider, spec, 1, 'one ready endpoint');
      assert.equal(await answer(ep!.origin), '200 hello v1');
      const ref = { name: spec.service, namespace: spec.namespace };
      const status = await h.provider.get(ref);
      assert.ok(status);
      assert.deepEqual([status.replicas, status.availableReplicas], [1, 1]);
      assert.ok(status.instances.some((i) => i.id === ep!.id && i.state === 'ready'), 'the endpoint is one of the instances, ready');
      assert.ok((await h.provider.list()).some((s) => s.ref.name === spec.service));
      assert.ok((await h.provider.list(spec.namespace)).some((s) => s.ref.name === spec.service));
      assert.ok(!(await h.provider.list('contract-other-ns')).some((s) => s.ref.name === spec.service));
      await h.provider.remove(ref);
    });

    test('update: the new code serves, and some endpoint answers throughout the rollover', async () => {
      const v1 = await h.nodeFunction('contract-roll', reply('v1'));
      await h.provider.deploy(v1);
      await endpoints(h.provider, v1, 1, 'v1 ready');
      const ref = { name: v1.service, namespace: v1.namespace };
      const v2 = await h.nodeFunction('contract-roll', reply('v2'));
      let gaps = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          if (h.provider.resolve(ref).length === 0) gaps++;
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await h.provider.update(v2);
      await eventually(async () => {
        const eps = h.provider.resolve(ref);
        if (eps.length !== 1) return false;
        return (await answer(eps[0]!.origin)) === '200 v2';
      }, 20_000, 'v2 serving alone');
      sampling = false;
      await sampler;
      assert.equal(gaps, 0, 'never zero ready endpoints during an update');
      await h.provider.remove(ref);
    });

    test('scale: up to 2 distinct replicas, down to 0 (none resolved), and back', async () => {
      const spec = await h.nodeFunction('contract-scale', reply('scaled'));
      await h.provider.deploy(spec);
      await endpoints(h.provider, spec, 1, 'one replica');
      const ref = { name: spec.service, namespace: spec.namespace };
      await h.provider.scale(ref, 2);
      const two = await endpoints(h.provider, spec, 2, 'two replicas');
      assert.equal(new Set(two.map((e) => e.origin)).size, 2);
      assert.equal(new Set(two.map((e) => e.id)).size, 2);
      for (const e of two) assert.equal(await answer(e.origin), '200 scaled');
      assert.equal((await h.provider.get(ref))?.replicas, 2);
      await h.provider.scale(ref, 0);
      await endpoints(h.provider, spec, 0, 'zero replicas');
      await eventually(async () => (await h.provider.get(ref))?.availableReplicas === 0, 10_000, 'none available');
      assert.equal((await h.provider.get(ref))?.replicas, 0);
      await h.provider.scale(ref, 1);
      const [back] = await endpoints(h.provider, spec, 1, 'back to one');
      assert.equal(await answer(back!.origin), '200 scaled');
      await h.provider.remove(ref);
    });

    test('remove: nothing resolved, get undefined, not listed; removing again or an unknown function is fine', async () => {
      const spec = await h.nodeFunction('contract-bye', reply('bye'));
      await h.provider.deploy(spec);
      const [ep] = await endpoints(h.provider, spec, 1, 'ready');
      const ref = { name: spec.service, namespace: spec.namespace };
      await h.provider.remove(ref);
      await endpoints(h.provider, spec, 0, 'no endpoints after remove');
      assert.equal(await h.provider.get(ref), undefined);
      assert.ok(!(await h.provider.list()).some((s) => s.ref.name === spec.service));
      await eventually(async () => {
        try {
          await fetch(`${ep!.origin}/`, { signal: AbortSignal.timeout(500) });
          return false;
        } catch {
          return true;
        }
      }, 15_000, 'the replica stopped answering');
      await h.provider.remove(ref);
      await h.provider.remove({ name: 'contract-never-deployed', namespace: spec.namespace });
    });

    test('scaling an unknown function is KSS_FUNCTION_NOT_FOUND', async () => {
      await assert.rejects(h.provider.scale({ name: 'contract-missing', namespace: 'openfaas-fn' }, 1), (err: KssError) => err.code === 'KSS_FUNCTION_NOT_FOUND');
    });

    test('watchers hear when a function gets its first ready endpoint', async (t) => {
      if (!canWatchReplicas(h.provider)) return t.skip('this provider does not announce replica changes');
      const spec = await h.nodeFunction('contract-watch', reply('watched'));
      const heard: string[] = [];
      const stop = h.provider.onReplicasChanged((ref) => heard.push(ref.name));
      try {
        await h.provider.deploy(spec);
        await endpoints(h.provider, spec, 1, 'ready');
        await eventually(() => heard.includes(spec.service), 5_000, 'a change event');
      } finally {
        stop();
        await h.provider.remove({ name: spec.service, namespace: spec.namespace });
      }
    });
  });
}
