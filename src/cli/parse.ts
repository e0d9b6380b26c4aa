import { CliError, EXIT_USAGE } from './output.js';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, ki: 1024, kib: 1024, m: 1e6, mb: 1e6, mi: 1024 ** 2, mib: 1024 ** 2, g: 1e9, gb: 1e9, gi: 1024 ** 3, gib: 1024 ** 3 };

/** Parses `10Mi`, `512k`, `1048576` into bytes. */
export function parseByteSize(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value.trim());
  const mult = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || mult === undefined || Number(m[1]) <= 0) throw new CliError(`${flag}: "${value}" is not a size such as 10Mi or 1048576`, EXIT_USAGE);
  return Math.floor(Number(m[1]) * mult);
}

/** Parses `--header k=v` / `k: v` pairs. */
export function parsePairs(values: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const m = /^([^=:]+)[=:]\s?(.*)$/.exec(v);
    if (!m) throw new CliError(`${flag}: "${v}" should look like name=value`, EXIT_USAGE);
    out[m[1]!.trim()] = m[2]!;
  }
  return out;
}

/** Collects repeated options into an array (commander helper). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
