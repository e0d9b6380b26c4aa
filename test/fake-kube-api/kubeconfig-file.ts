/** A kubeconfig file (kubectl's format) for a fake API server, as a user would have one on disk. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { FakeKubeApi } from './server.js';

/** Writes it to a new temporary folder and returns its path (for `--kubeconfig`). */
export function writeKubeconfigFile(api: FakeKubeApi): string {
  const o = api.kubeConfigOptions();
  const file = join(mkdtempSync(join(tmpdir(), 'kss-kubeconfig-')), 'config');
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: o.clusters.map((c) => ({ name: c.name, cluster: { server: c.server, 'insecure-skip-tls-verify': true } })),
      users: o.users.map((u) => ({ name: u.name, user: { token: (u as { token?: string }).token ?? 'test' } })),
      contexts: o.contexts.map((c) => ({ name: c.name, context: { cluster: c.cluster, user: c.user } })),
      'current-context': o.currentContext,
    }),
  );
  return file;
}
