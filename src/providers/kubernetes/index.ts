/** The Kubernetes provider: Function resources reconciled into Deployments, Services and HPAs. */
import { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';

export { KubernetesProvider, FIELD_MANAGER, type KubernetesProviderOptions } from './kubernetes-provider.js';
export * from './function-resource.js';
export * from './manifests.js';
export * from './leader-election.js';

/**
 * The cluster to talk to: `file` when given; inside a pod, its service account
 * (in-cluster config); otherwise the user's kubeconfig (`$KUBECONFIG` or ~/.kube/config),
 * as kubectl does.
 */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) {
    if (!existsSync(file)) throw new Error(`--kubeconfig: ${file} does not exist`);
    kc.loadFromFile(file);
  } else if (process.env.KUBERNETES_SERVICE_HOST && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()) throw new Error('no Kubernetes cluster configured: pass --kubeconfig FILE, set KUBECONFIG, or run the gateway in a pod');
  return kc;
}
