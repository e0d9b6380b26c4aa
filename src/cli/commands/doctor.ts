/**
 * `kss doctor`: what this machine lets the platform do, and what to install for the
 * rest. It checks the host directly (no gateway needed): the sandbox's needs (root,
 * bubblewrap, setpriv, namespaces, cgroups) and the language toolchains.
 */
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { describeHost, probeHost } from '../../sandbox/index.js';
import { commandContext, type GlobalOptions } from '../context.js';
import { table } from '../output.js';

interface Check {
  check: string;
  ok: boolean;
  detail: string;
  /** What fails without it. */
  needed: string;
}

function version(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? (r.stdout || r.stderr).trim().split('\n')[0] : undefined;
}

/** Every check, in the order printed. */
export function doctorChecks(): Check[] {
  const host = probeHost();
  const needs: Record<string, string> = {
    root: 'isolation and limits (run the gateway as root, as faasd does)',
    bubblewrap: 'isolation (apt-get install bubblewrap)',
    setpriv: 'a uid per function (apt-get install util-linux)',
    namespaces: 'isolation',
    cgroups: 'memory/CPU/pids limits and usage',
    nftables: 'functions without network (kss.network: none; apt-get install nftables)',
  };
  const checks: Check[] = describeHost(host).map((c) => ({ ...c, needed: needs[c.check] ?? '' }));
  const python = version('python3', ['--version']);
  checks.push({ check: 'python3', ok: !!python, detail: python ?? 'not found: apt-get install python3', needed: 'Python functions' });
  const go = version('go', ['version']);
  checks.push({ check: 'go', ok: !!go, detail: go ?? 'not found: apt-get install golang-go', needed: 'Go functions' });
  return checks;
}

export function doctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check what this machine supports: sandbox (namespaces, uid per function, cgroups) and language toolchains')
    .action((_opts: unknown, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const checks = doctorChecks();
      const sandboxOk = checks.filter((c) => ['root', 'bubblewrap', 'setpriv', 'namespaces', 'cgroups'].includes(c.check)).every((c) => c.ok);
      ctx.out.result({ sandbox: sandboxOk ? 'full' : 'partial', checks }, () => {
        ctx.out.line(table(['CHECK', 'OK', 'DETAIL', 'NEEDED FOR'], checks.map((c) => [c.check, c.ok ? 'yes' : 'NO', c.detail, c.needed])));
        ctx.out.line('');
        ctx.out.line(
          sandboxOk
            ? 'Replicas will be isolated: own mount/pid/ipc/uts namespaces, a uid per function, cgroup limits.'
            : 'Replicas will NOT be fully isolated on this machine; install or enable what is marked NO above, then restart `kss up`.',
        );
      });
      if (!checks.every((c) => c.ok)) process.exitCode = 1;
    });
}
