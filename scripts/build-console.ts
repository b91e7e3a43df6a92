/**
 * Builds the operations console (console/src) into static files: one hashed script, one
 * hashed stylesheet and an index.html that references both with Subresource Integrity.
 * `npm run build` writes dist/console; tests build into a temporary directory.
 *
 *   npx tsx scripts/build-console.ts [outDir]
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const ROOT = path.resolve(__dirname, '..');
export const CONSOLE_ENTRY = path.join(ROOT, 'console/src/main.ts');
/** Where the server looks for the files by default (CONSOLE_DIR). */
export const DEFAULT_CONSOLE_OUT = path.join(ROOT, 'dist/console');
/** URL path the assets are served under (the console router mounts dist/console/assets here). */
const ASSET_URL = '/console/assets';

export interface ConsoleBuild {
  outDir: string;
  script: { file: string; integrity: string };
  style: { file: string; integrity: string };
}

const sri = (bytes: Buffer): string => `sha384-${createHash('sha384').update(bytes).digest('base64')}`;

const escapeAttr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');

/** The page shell: no inline script or style (the console CSP forbids both); main.ts renders the rest. */
function indexHtml(b: ConsoleBuild): string {
  const asset = (f: string) => escapeAttr(`${ASSET_URL}/${f}`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Operations console</title>
<link rel="stylesheet" href="${asset(b.style.file)}" integrity="${b.style.integrity}" crossorigin="anonymous">
<script src="${asset(b.script.file)}" integrity="${b.script.integrity}" crossorigin="anonymous" defer></script>
</head>
<body>
<noscript>The operations console needs JavaScript.</noscript>
<div id="app"></div>
</body>
</html>
`;
}

export async function buildConsole(outDir = DEFAULT_CONSOLE_OUT): Promise<ConsoleBuild> {
  const assets = path.join(outDir, 'assets');
  await fs.rm(outDir, { recursive: true, force: true });
  await fs.mkdir(assets, { recursive: true });
  const result = await build({
    entryPoints: { console: CONSOLE_ENTRY },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['chrome120', 'firefox120'],
    minify: true,
    legalComments: 'none',
    entryNames: '[name]-[hash]',
    outdir: assets,
    metafile: true,
    write: true,
    logLevel: 'silent',
    tsconfig: path.join(ROOT, 'console/tsconfig.json'),
  });
  const outputs = Object.keys(result.metafile.outputs).map((f) => path.resolve(ROOT, f));
  const pick = async (ext: string) => {
    const file = outputs.find((f) => f.endsWith(ext));
    if (!file) throw new Error(`console build produced no ${ext} file`);
    return { file: path.basename(file), integrity: sri(await fs.readFile(file)) };
  };
  const out: ConsoleBuild = { outDir, script: await pick('.js'), style: await pick('.css') };
  await fs.writeFile(path.join(outDir, 'index.html'), indexHtml(out));
  return out;
}

if (require.main === module) {
  const target = process.argv[2] ? path.resolve(process.argv[2]) : DEFAULT_CONSOLE_OUT;
  buildConsole(target).then(
    (b) =>
      console.log(
        `console built in ${path.relative(process.cwd(), b.outDir) || '.'}: ${b.script.file}, ${b.style.file}`,
      ),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
