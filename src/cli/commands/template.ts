/** `kss template list`: the languages `kss new --lang` knows. */
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandContext, type GlobalOptions } from '../context.js';
import { table } from '../output.js';
import { runtimeForLang } from '../stack-file.js';
import { availableTemplates, TEMPLATES_DIR } from './new.js';

export function templateCommands(program: Command): void {
  program
    .command('template')
    .description('function templates')
    .command('list')
    .description('list the templates `kss new --lang` can use')
    .action((_opts: unknown, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      const items = availableTemplates().map((lang) => {
        const readme = join(TEMPLATES_DIR, lang, 'README.md');
        const description = existsSync(readme) ? (readFileSync(readme, 'utf8').split('\n').find((l) => l.trim() && !l.startsWith('#')) ?? '') : '';
        return { lang, runtime: runtimeForLang(lang) ?? lang, description: description.trim() };
      });
      ctx.out.result(items, () => ctx.out.line(table(['LANG', 'RUNTIME', 'DESCRIPTION'], items.map((t) => [t.lang, t.runtime, t.description]))));
    });
}
