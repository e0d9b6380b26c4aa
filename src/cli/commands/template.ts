/** `kss template list`: the languages `kss new --lang` knows. */
import type { Command } from 'commander';
import { commandContext, type GlobalOptions } from '../context.js';
import { table } from '../output.js';
import { runtimeForLang } from '../stack-file.js';
import { availableTemplates, templateDescription } from '../../build/templates.js';

export function templateCommands(program: Command): void {
  program
    .command('template')
    .description('function templates')
    .command('list')
    .description('list the templates `kss new --lang` can use')
    .action((_opts: unknown, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const items = availableTemplates().map((lang) => {
        return { lang, runtime: runtimeForLang(lang) ?? lang, description: templateDescription(lang) };
      });
      ctx.out.result(items, () => ctx.out.line(table(['LANG', 'RUNTIME', 'DESCRIPTION'], items.map((t) => [t.lang, t.runtime, t.description]))));
    });
}
