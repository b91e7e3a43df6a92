/**
 * Writes .env.example from the zod schema in src/config/schema.ts (descriptions and
 * defaults), so the documented keys cannot drift from the parsed ones.
 * `--check` exits 1 when the file on disk is out of date (run by the test suite).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ENV_EXAMPLES, envSchema } from '../src/config/schema';

function defaultOf(schema: z.ZodType): string | undefined {
  const parsed = schema.safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return undefined;
  // Show the raw env form: the string default before transforms.
  let inner: z.ZodType = schema;
  for (let i = 0; i < 6; i++) {
    const def = (
      inner as unknown as {
        _zod: { def: { type: string; defaultValue?: unknown; innerType?: z.ZodType; in?: z.ZodType } };
      }
    )._zod.def;
    if (def.type === 'default') return String(def.defaultValue);
    const next = def.innerType ?? def.in;
    if (!next) break;
    inner = next;
  }
  return String(parsed.data);
}

export function renderEnvExample(): string {
  const lines = [
    '# erp-backend configuration. Generated from src/config/schema.ts by `npx tsx scripts/gen-env-example.ts`; do not edit by hand.',
    '# Every key is optional in development and test; production refuses to start without the ones marked required.',
    '',
  ];
  for (const [name, schema] of Object.entries(envSchema.shape) as Array<[keyof typeof ENV_EXAMPLES, z.ZodType]>) {
    const def = defaultOf(schema);
    lines.push(`# ${schema.description ?? ''}${def !== undefined ? ` Default: ${def === '' ? '(empty)' : def}.` : ''}`);
    // Keys without a default stay commented out, so a copied file never sets an example value by accident.
    const example = ENV_EXAMPLES[name];
    lines.push(def !== undefined ? `${name}=${def}` : `# ${name}=${example ?? ''}`);
    lines.push('');
  }
  return lines.join('\n');
}

const target = path.resolve(__dirname, '../.env.example');
if (require.main === module) {
  const rendered = renderEnvExample();
  if (process.argv.includes('--check')) {
    const current = readFileSync(target, 'utf8');
    if (current !== rendered) {
      console.error('.env.example is out of date: run `npx tsx scripts/gen-env-example.ts`');
      process.exit(1);
    }
  } else {
    writeFileSync(target, rendered);
  }
}
