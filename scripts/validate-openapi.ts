/**
 * Validates an OpenAPI document (docs/openapi.json unless a path is given) with
 * @apidevtools/swagger-parser, a validator independent of the generator. Exits 1 with the
 * validator's message when it is not a valid OpenAPI 3.1 document. Run by scripts/test.sh and
 * tests/lib/openapi.coverage.test.ts (a separate process: swagger-parser's dependencies are
 * ES modules, which jest's CommonJS runtime cannot load).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';

async function main(): Promise<void> {
  const file = path.resolve(process.argv[2] ?? path.join(__dirname, '../docs/openapi.json'));
  const document = JSON.parse(readFileSync(file, 'utf8')) as Parameters<typeof SwaggerParser.validate>[0];
  try {
    const api = await SwaggerParser.validate(document);
    const operations = Object.values(api.paths ?? {}).reduce((n, item) => n + Object.keys(item ?? {}).length, 0);
    console.log(
      `${path.relative(process.cwd(), file)}: valid OpenAPI ${String((api as { openapi?: string }).openapi)}, ${operations} operations`,
    );
  } catch (err) {
    console.error(`${path.relative(process.cwd(), file)}: invalid: ${(err as Error).message}`);
    process.exit(1);
  }
}

void main();
