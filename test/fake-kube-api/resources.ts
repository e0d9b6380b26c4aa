/**
 * The resource types the fake API server knows: their REST coordinates, whether
 * they are namespaced and which subresources they have, plus the discovery
 * documents (`/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`) that
 * client-node's `KubernetesObjectApi` reads to map a kind to a URL path.
 */

/** One resource type served by the fake API server. */
export interface ResourceDefinition {
  /** API group; `''` for the core group. */
  group: string;
  version: string;
  /** Plural name used in URLs, e.g. `deployments`. */
  plural: string;
  singular: string;
  kind: string;
  /** Kind of the list, e.g. `DeploymentList`. */
  listKind: string;
  namespaced: boolean;
  /** Has a `/status` subresource: main writes ignore `.status`, `/status` writes only change it. */
  status: boolean;
  /** Has a `/scale` subresource (autoscaling/v1 Scale on `spec.replicas`). */
  scale: boolean;
  /** A custom resource: list items carry apiVersion/kind, as the real server does for CRs. */
  custom: boolean;
  shortNames?: string[];
}

/** `apiVersion` string of a resource definition (`v1`, `apps/v1`). */
export function apiVersionOf(def: ResourceDefinition): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

/** `group/version/plural` identifier (`v1/pods` for core) used as a store key. */
export function resourceIdOf(def: ResourceDefinition): string {
  return `${apiVersionOf(def)}/${def.plural}`;
}

function builtin(
  group: string,
  version: string,
  plural: string,
  kind: string,
  extra: Partial<ResourceDefinition> = {},
): ResourceDefinition {
  return {
    group,
    version,
    plural,
    singular: kind.toLowerCase(),
    kind,
    listKind: `${kind}List`,
    namespaced: true,
    status: false,
    scale: false,
    custom: false,
    ...extra,
  };
}

/** The resource types served by default. */
export function defaultResources(): ResourceDefinition[] {
  return [
    builtin('', 'v1', 'namespaces', 'Namespace', { namespaced: false, status: true, shortNames: ['ns'] }),
    builtin('', 'v1', 'configmaps', 'ConfigMap', { shortNames: ['cm'] }),
    builtin('', 'v1', 'secrets', 'Secret'),
    builtin('', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', { status: true, shortNames: ['pvc'] }),
    builtin('', 'v1', 'services', 'Service', { shortNames: ['svc'] }),
    builtin('', 'v1', 'serviceaccounts', 'ServiceAccount', { shortNames: ['sa'] }),
    builtin('', 'v1', 'pods', 'Pod', { status: true, shortNames: ['po'] }),
    builtin('', 'v1', 'events', 'Event', { shortNames: ['ev'] }),
    builtin('apps', 'v1', 'deployments', 'Deployment', { status: true, scale: true, shortNames: ['deploy'] }),
    builtin('apps', 'v1', 'controllerrevisions', 'ControllerRevision'),
    builtin('autoscaling', 'v2', 'horizontalpodautoscalers', 'HorizontalPodAutoscaler', {
      status: true,
      shortNames: ['hpa'],
    }),
    builtin('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice'),
    builtin('coordination.k8s.io', 'v1', 'leases', 'Lease'),
    builtin('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', {
      namespaced: false,
      status: true,
      shortNames: ['crd', 'crds'],
    }),
    {
      group: 'serverless.kube.io',
      version: 'v1',
      plural: 'functions',
      singular: 'function',
      kind: 'Function',
      listKind: 'FunctionList',
      namespaced: true,
      status: true,
      scale: false,
      custom: true,
      shortNames: ['fn'],
    },
  ];
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** The `APIResourceList` for one group/version (main resources first, then subresources). */
export function resourceList(defs: ResourceDefinition[], group: string, version: string): Record<string, unknown> {
  const inVersion = defs.filter((d) => d.group === group && d.version === version);
  const main = inVersion.map((d) => ({
    name: d.plural,
    singularName: d.singular,
    namespaced: d.namespaced,
    kind: d.kind,
    verbs: VERBS,
    ...(d.shortNames ? { shortNames: d.shortNames } : {}),
  }));
  const subresources = inVersion.flatMap((d) => [
    ...(d.status
      ? [{ name: `${d.plural}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] }]
      : []),
    ...(d.scale
      ? [
          {
            name: `${d.plural}/scale`,
            singularName: '',
            namespaced: d.namespaced,
            group: 'autoscaling',
            version: 'v1',
            kind: 'Scale',
            verbs: ['get', 'patch', 'update'],
          },
        ]
      : []),
    ...(d.plural === 'pods' && d.group === ''
      ? [{ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] }]
      : []),
  ]);
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources: [...main, ...subresources],
  };
}

/** The `APIGroup` document for one named group. */
export function apiGroup(defs: ResourceDefinition[], group: string): Record<string, unknown> | undefined {
  const versions = [...new Set(defs.filter((d) => d.group === group).map((d) => d.version))];
  if (versions.length === 0) return undefined;
  const entries = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: entries, preferredVersion: entries[0] };
}

/** The `APIGroupList` document served at `/apis`. */
export function apiGroupList(defs: ResourceDefinition[]): Record<string, unknown> {
  const groups = [...new Set(defs.map((d) => d.group).filter((g) => g !== ''))];
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((g) => {
      const doc = apiGroup(defs, g)!;
      return { name: g, versions: doc.versions, preferredVersion: doc.preferredVersion };
    }),
  };
}

/** The `APIVersions` document served at `/api`. */
export function coreApiVersions(): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:0' }],
  };
}
