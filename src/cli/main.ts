/** The `kss` command line. One file per command under ./commands. */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { deployCommand } from './commands/deploy.js';
import { invokeCommand } from './commands/invoke.js';
import { listCommand } from './commands/list.js';
import { newCommand } from './commands/new.js';
import { removeCommand } from './commands/remove.js';
import { upCommand } from './commands/up.js';
import { loginCommands } from './commands/login.js';
import { tokenCommands } from './commands/token.js';
import { buildCommand } from './commands/build.js';
import { templateCommands } from './commands/template.js';
import { logsCommand } from './commands/logs.js';
import { scaleCommand } from './commands/scale.js';
import { secretCommands } from './commands/secret.js';
import { doctorCommand } from './commands/doctor.js';
import { callsCommands } from './commands/calls.js';
import { triggersCommand } from './commands/triggers.js';
import { revisionsCommand } from './commands/revisions.js';
import { trafficCommand } from './commands/traffic.js';
import { rollbackCommand } from './commands/rollback.js';
import { EXIT_USAGE, reportError } from './output.js';

export function buildProgram(): Command {
  const program = new Command('kss')
    .description('Kube-Serverless: functions on this machine or on Kubernetes, with the OpenFaaS API')
    .version(VERSION)
    .option('-g, --gateway <url>', 'gateway URL (env KSS_GATEWAY; default http://127.0.0.1:8080)')
    .option('--json', 'print results as JSON for scripts')
    .showHelpAfterError('(run `kss --help` for usage)')
    .exitOverride();
  upCommand(program);
  newCommand(program);
  buildCommand(program);
  deployCommand(program);
  listCommand(program);
  invokeCommand(program);
  removeCommand(program);
  loginCommands(program);
  tokenCommands(program);
  templateCommands(program);
  logsCommand(program);
  scaleCommand(program);
  secretCommands(program);
  doctorCommand(program);
  callsCommands(program);
  triggersCommand(program);
  revisionsCommand(program);
  trafficCommand(program);
  rollbackCommand(program);
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  program.commands.forEach(override);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    // A command that reports and fails without throwing (`kss doctor` finding gaps) sets process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    return reportError(err, Boolean(program.opts().json));
  }
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
