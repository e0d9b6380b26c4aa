/**
 * Kubernetes resource quantities (`128Mi`, `1G`, `500m`, `0.5`, `1e3`), as a pod's
 * `limits`/`requests` take them, turned into the numbers a cgroup wants: bytes of
 * memory and millicores of CPU. The grammar is Kubernetes' (apimachinery
 * `resource.Quantity`): a decimal number, then a binary suffix (Ki…Ei), a decimal
 * suffix (n, u, m, k, M, G, T, P, E) or a decimal exponent (`e3`, `E-2`).
 */

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const GRAMMAR = /^([+]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

/** The quantity's value in base units, or undefined when it is not a quantity. */
export function parseQuantity(text: string): number | undefined {
  const m = GRAMMAR.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const suffix = m[2] ?? '';
  let value: number;
  if (suffix in BINARY) value = n * BINARY[suffix]!;
  else if (suffix in DECIMAL) value = n * DECIMAL[suffix]!;
  else value = n * 10 ** Number(suffix.slice(1));
  return Number.isFinite(value) ? value : undefined;
}

/** Bytes of a memory quantity, rounded up as Kubernetes does (`128Mi` → 134217728). */
export function memoryBytes(text: string): number | undefined {
  const v = parseQuantity(text);
  return v === undefined ? undefined : Math.ceil(v);
}

/** Millicores of a CPU quantity (`500m` → 500, `2` → 2000, `0.1` → 100), rounded up to 1m. */
export function cpuMillis(text: string): number | undefined {
  const v = parseQuantity(text);
  return v === undefined ? undefined : Math.ceil(Math.round(v * 1e6) / 1e3);
}
