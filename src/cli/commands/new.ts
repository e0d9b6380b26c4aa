/** `kss new NAME --lang LANG`: writes a function folder from a template and adds it to stack.yml. */
import type { Command } from 'commander';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve, relative } from 'node:path';
import { isMap, parseDocument, type YAMLMap } from 'yaml';
import { assertValidName } from '../../core/index.js';
import { DEFAULT_GATEWAY, type GlobalOptions, commandContext } from '../context.js';
import { CliError, EXIT_USAGE } from '../output.js';
import { runtimeForLang } from '../stack-file.js';
import { availableTemplates, TEMPLATE_FIELDS_FILE, templateFields, TEMPLATES_DIR } from '../../build/templates.js';

export { availableTemplates, TEMPLATES_DIR };

export function newCommand(program: Command): void {
  program
    .command('new')
    .description('create a function from a template and add it to a stack file')
    .argument('<name>', 'function name (lower-case letters, digits and -)')
    .requiredOption('-l, --lang <lang>', `template language (${availableTemplates().join(', ')})`)
    .option('-f, --file <stack>', 'stack file to create or add to', 'stack.yml')
    .action((name: string, opts: { lang: string; file: string }, cmd: Command) => {
      const ctx = commandContext(cmd.optsWithGlobals<GlobalOptions>());
      try {
        assertValidName(name, 'name');
      } catch (err) {
        throw new CliError((err as Error).message, EXIT_USAGE);
      }
      const templates = availableTemplates();
      if (!templates.includes(opts.lang)) throw new CliError(`--lang: no template "${opts.lang}"; available: ${templates.join(', ')}`, EXIT_USAGE);
      const dir = resolve(name);
      if (existsSync(dir)) throw new CliError(`${relative(process.cwd(), dir) || dir} already exists; pick another name or remove it`);
      const stackPath = resolve(opts.file);
      const stackText = existsSync(stackPath) ? readFileSync(stackPath, 'utf8') : undefined;
      const doc = parseDocument(stackText ?? `version: 1.0\nprovider:\n  name: openfaas\n  gateway: ${DEFAULT_GATEWAY}\nfunctions: {}\n`);
      if (doc.errors.length) throw new CliError(`${opts.file}: not valid YAML (${doc.errors[0]!.message.split('\n')[0]}); fix it or use --file`);
      if (doc.hasIn(['functions', name])) throw new CliError(`${opts.file} already has a function "${name}"`);

      const source = join(TEMPLATES_DIR, opts.lang);
      mkdirSync(dir, { recursive: true });
      const written: string[] = [];
      for (const file of readdirSync(source)) {
        // A template's README describes it for `kss template list`; it is not part of the function.
        if (file === 'README.md') continue;
        // template.yml holds extra stack.yml fields for the function (e.g. `fprocess:`); it is not part of it either.
        if (file === TEMPLATE_FIELDS_FILE) continue;
        // The executable bit survives (an exec template's handler.sh).
        writeFileSync(join(dir, file), readFileSync(join(source, file), 'utf8').replaceAll('{{name}}', name), { mode: statSync(join(source, file)).mode & 0o755 });
        written.push(join(relative(process.cwd(), dir), file));
      }
      if (!isMap(doc.get('functions'))) doc.set('functions', doc.createNode({}));
      // Block style, as faas-cli writes stack files (`functions: {}` would otherwise stay inline).
      (doc.get('functions') as YAMLMap).flow = false;
      const handler = `./${relative(resolve(stackPath, '..'), dir) || name}`;
      doc.setIn(['functions', name], doc.createNode({ lang: runtimeForLang(opts.lang) ?? opts.lang, handler, ...templateFields(opts.lang, name) }));
      writeFileSync(stackPath, doc.toString());
      ctx.out.result({ name, lang: opts.lang, files: written, stack: opts.file }, () => {
        for (const f of written) ctx.out.line(`created ${f}`);
        ctx.out.line(`${stackText === undefined ? 'created' : 'updated'} ${opts.file}`);
        ctx.out.line();
        ctx.out.line(`Next: kss deploy -f ${opts.file}`);
      });
    });
}
