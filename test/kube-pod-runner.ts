/**
 * What a node of a real cluster would do with our function pods, done here with
 * local processes: read the pod's container env, fetch the code ConfigMaps it mounts
 * (as the kubelet would project them into one folder), concatenate the parts in name
 * order and unpack the archive (as the runtime image's entrypoint does,
 * deploy/docker/code-entrypoint.sh), and start our Node runtime on a
 * free loopback port. Used as the fake cluster's `startReplica`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { extractArchive } from '../src/archive/index.js';
import { NODE_COMMAND } from '../src/providers/local/index.js';
import { freePort } from '../src/providers/local/ports.js';
import type { FakeKubeApi, ReplicaHandle } from './fake-kube-api/index.js';

interface PodLike {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    containers?: Array<{ image?: string; env?: Array<{ name: string; value?: string }>; volumeMounts?: Array<{ name: string; mountPath: string }> }>;
    volumes?: Array<{ name: string; configMap?: { name: string }; projected?: { sources?: Array<{ configMap?: { name: string; items?: Array<{ key: string; path: string }> } }> } }>;
  };
}

/** Starts one pod's replica; rejects (the fake kubelet retries with backoff) when it cannot. */
export async function runPod(api: FakeKubeApi, rawPod: unknown): Promise<ReplicaHandle> {
  const pod = rawPod as PodLike;
  const container = pod.spec?.containers?.[0];
  if (!container) throw new Error('pod without a container');
  if (!/runtime-node/.test(container.image ?? '')) throw new Error(`this test kubelet runs only the node runtime image, not ${container.image}`);
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  const podDir = mkdtempSync(join(tmpdir(), 'kss-pod-'));
  // extractArchive leaves an existing folder alone (callers are content-addressed): a fresh path inside.
  const dir = join(podDir, 'function');
  const archivePath = env.KSS_CODE_ARCHIVE;
  const partsDir = env.KSS_CODE_PARTS_DIR;
  if (partsDir) {
    // The kubelet's projection: every item of every ConfigMap source as a file in the mount.
    const mount = container.volumeMounts?.find((m) => m.mountPath === partsDir);
    const volume = pod.spec?.volumes?.find((v) => v.name === mount?.name);
    if (!volume?.projected?.sources) throw new Error(`no projected volume mounted at ${partsDir}`);
    const files = new Map<string, Buffer>();
    for (const source of volume.projected.sources) {
      if (!source.configMap) continue;
      const cm = api.get('configmaps', pod.metadata?.namespace, source.configMap.name) as { binaryData?: Record<string, string> } | undefined;
      // A missing ConfigMap keeps the pod from starting (ContainerCreating): the fake kubelet retries.
      if (!cm) throw new Error(`ConfigMap ${source.configMap.name} not found`);
      for (const item of source.configMap.items ?? Object.keys(cm.binaryData ?? {}).map((key) => ({ key, path: key }))) {
        const data = cm.binaryData?.[item.key];
        if (data === undefined) throw new Error(`ConfigMap ${source.configMap.name} has no key ${item.key}`);
        files.set(item.path, Buffer.from(data, 'base64'));
      }
    }
    // The entrypoint: the parts in name order, exactly KSS_CODE_PARTS of them.
    const parts = [...files.keys()].filter((f) => f.startsWith('code.tar.gz.part-')).sort();
    if (String(parts.length) !== env.KSS_CODE_PARTS) throw new Error(`${partsDir} has ${parts.length} code parts, KSS_CODE_PARTS says ${env.KSS_CODE_PARTS}`);
    await extractArchive(Buffer.concat(parts.map((f) => files.get(f)!)), dir);
  } else if (archivePath) {
    const mount = container.volumeMounts?.find((m) => m.mountPath === dirname(archivePath));
    const volume = pod.spec?.volumes?.find((v) => v.name === mount?.name);
    if (!volume?.configMap) throw new Error(`no ConfigMap volume mounted at ${dirname(archivePath)}`);
    const cm = api.get('configmaps', pod.metadata?.namespace, volume.configMap.name) as { binaryData?: Record<string, string> } | undefined;
    const data = cm?.binaryData?.[archivePath.slice(dirname(archivePath).length + 1)];
    if (!data) throw new Error(`ConfigMap ${volume.configMap.name} has no ${archivePath}`);
    await extractArchive(Buffer.from(data, 'base64'), dir);
  } else {
    mkdirSync(dir);
  }
  const port = await freePort();
  const child = spawn(NODE_COMMAND.command, [...NODE_COMMAND.args], {
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', KSS_CODE_DIR: dir, KSS_PARENT_PIPE: '1' },
    stdio: ['pipe', 'ignore', process.env.KSS_POD_DEBUG ? 'inherit' : 'ignore'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Ready when /ready answers, as the readiness probe would see it.
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ready`);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(podDir, { recursive: true, force: true });
      throw new Error(`replica of ${pod.metadata?.name} did not become ready`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    ip: '127.0.0.1',
    port,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
      rmSync(podDir, { recursive: true, force: true });
    },
  };
}
