/**
 * `kss traffic NAME r3=90 r4=10`: the weights as typed, checked before anything is
 * sent, with a message that says how to write them.
 */
import { isKssError } from '../core/index.js';
import { parseTraffic } from '../core/revision.js';
import { CliError, EXIT_USAGE } from './output.js';

const ARG = /^(r[1-9][0-9]{0,8})=([0-9]{1,3})%?$/;

/**
 * Parses `r3=90 r4=10` (a trailing `%` is allowed) into `{ r3: 90, r4: 10 }`: each
 * argument `rN=W`, W a whole number from 0 to 100, each revision once, summing to 100.
 * Throws a usage {@link CliError} naming the argument that is wrong.
 */
export function parseTrafficArgs(args: readonly string[], name = 'NAME'): Record<string, number> {
  const example = `e.g. \`kss traffic ${name} r3=90 r4=10\``;
  if (args.length === 0) throw new CliError(`give the split as revision=percent pairs, ${example}`, EXIT_USAGE);
  const weights: Record<string, number> = {};
  for (const arg of args) {
    const m = ARG.exec(arg.trim());
    if (!m) {
      const [rev, weight] = arg.split('=');
      if (weight === undefined) throw new CliError(`"${arg}" is not revision=percent; ${example} (\`kss revisions ${name}\` lists the revisions)`, EXIT_USAGE);
      if (!/^r[1-9][0-9]{0,8}$/.test(rev!.trim())) throw new CliError(`"${rev}" is not a revision: revisions are named r1, r2, … (\`kss revisions ${name}\` lists them)`, EXIT_USAGE);
      throw new CliError(`${rev}: "${weight}" is not a whole percentage from 0 to 100; ${example}`, EXIT_USAGE);
    }
    const [, rev, w] = m as unknown as [string, string, string];
    const percent = Number(w);
    if (percent > 100) throw new CliError(`${rev}: ${percent} is more than 100; ${example}`, EXIT_USAGE);
    if (rev in weights) throw new CliError(`${rev} is given twice; name each revision once`, EXIT_USAGE);
    weights[rev] = percent;
  }
  const sum = Object.values(weights).reduce((a, b) => a + b, 0);
  if (sum !== 100) {
    const rest = 100 - sum;
    const hint = rest > 0 ? `${rest} more to give` : `${-rest} too many`;
    throw new CliError(`the weights add up to ${sum}, not 100 (${hint}); ${example}`, EXIT_USAGE);
  }
  // The gateway's own rules, so what passes here is what it accepts.
  try {
    parseTraffic(weights);
  } catch (err) {
    if (isKssError(err)) throw new CliError(err.message, EXIT_USAGE);
    throw err;
  }
  return weights;
}
