import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CliError, EXIT_USAGE } from './output.js';
import { parseTrafficArgs } from './traffic-args.js';

function usage(args: string[], message: RegExp): void {
  assert.throws(() => parseTrafficArgs(args, 'hello'), (e: unknown) => e instanceof CliError && e.exitCode === EXIT_USAGE && message.test(e.message), args.join(' '));
}

test('rN=W pairs summing to 100 become weights; a trailing % and a 0 share are fine', () => {
  assert.deepEqual(parseTrafficArgs(['r3=90', 'r4=10']), { r3: 90, r4: 10 });
  assert.deepEqual(parseTrafficArgs(['r12=100']), { r12: 100 });
  assert.deepEqual(parseTrafficArgs(['r1=50%', 'r2=50%', 'r3=0']), { r1: 50, r2: 50, r3: 0 });
});

test('weights that do not add up to 100 say by how much, with an example', () => {
  usage(['r3=90'], /add up to 90, not 100 \(10 more to give\).*kss traffic hello r3=90 r4=10/);
  usage(['r3=90', 'r4=20'], /add up to 110, not 100 \(10 too many\)/);
  usage(['r3=0'], /add up to 0/);
});

test('malformed arguments name what is wrong and how to write it', () => {
  usage([], /give the split as revision=percent pairs/);
  usage(['r3'], /"r3" is not revision=percent/);
  usage(['r3:90'], /"r3:90" is not revision=percent/);
  usage(['3=100'], /"3" is not a revision: revisions are named r1, r2, … \(`kss revisions hello` lists them\)/);
  usage(['r0=100'], /"r0" is not a revision/);
  usage(['latest=100'], /"latest" is not a revision/);
  usage(['r3=50.5', 'r4=49.5'], /r3: "50.5" is not a whole percentage from 0 to 100/);
  usage(['r3=-10', 'r4=110'], /r3: "-10" is not a whole percentage/);
  usage(['r3=', 'r4=100'], /r3: "" is not a whole percentage/);
  usage(['r3=abc'], /r3: "abc" is not a whole percentage/);
  usage(['r3=150'], /r3: 150 is more than 100/);
  usage(['r3=50', 'r3=50'], /r3 is given twice/);
});
