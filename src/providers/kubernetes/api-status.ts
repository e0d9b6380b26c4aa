/** The one reading of a Kubernetes API failure's HTTP status, for every caller of @kubernetes/client-node. */

/** The HTTP status of a client-node failure (ApiException.code, or statusCode), if any. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown; statusCode?: unknown })?.code ?? (err as { statusCode?: unknown })?.statusCode;
  return typeof code === 'number' ? code : undefined;
}
