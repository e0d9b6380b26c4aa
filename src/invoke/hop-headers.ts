/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never
 * forwarded; undici also refuses some of them outright. `expect` is answered by
 * the gateway itself, not passed on.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

/** True for headers that must not cross the proxy. Expects a lower-case name. */
export function isHopByHop(lowerName: string): boolean {
  return HOP_BY_HOP.has(lowerName);
}

/** Copies a raw header list (`[name, value, name, value, …]`) without hop-by-hop headers. */
export function forwardableRawHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (!HOP_BY_HOP.has(name.toLowerCase())) out.push(name, raw[i + 1]!);
  }
  return out;
}

/** Response headers from undici without hop-by-hop ones. */
export function forwardableResponseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v !== undefined && !HOP_BY_HOP.has(name)) out[name] = v;
  }
  return out;
}
