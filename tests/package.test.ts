import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { builtinModules } from 'node:module';

const ROOT = path.resolve(__dirname, '..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function filesUnder(dir: string, ext: RegExp): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    if (statSync(path.join(ROOT, rel)).isDirectory()) return filesUnder(rel, ext);
    return ext.test(name) ? [rel] : [];
  });
}

const read = (rel: string): string => readFileSync(path.join(ROOT, rel), 'utf8');

/** Package names a file imports or requires (`pkg`, `@scope/pkg`, ignoring subpaths and node: builtins). */
function importsOf(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(
    /(?:\bfrom\s*|\brequire\(\s*|\bimport\(\s*|^\s*import\s+)['"]([^'"./\s,][^'"\s,]*)['"]/gm,
  )) {
    const spec = m[1];
    if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
    const parts = spec.split('/');
    names.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
  }
  return names;
}

const union = (files: string[]): Set<string> => new Set(files.flatMap((f) => [...importsOf(read(f))]));

describe('package.json dependencies', () => {
  const sourceImports = union(filesUnder('src', /\.ts$/));
  const everyImport = union([
    ...filesUnder('src', /\.ts$/),
    ...filesUnder('tests', /\.ts$/),
    ...filesUnder('scripts', /\.ts$/),
    ...filesUnder('bench', /\.ts$/),
    // The operations console's browser code (bundled by esbuild at build time).
    ...filesUnder('console', /\.ts$/),
    ...['eslint.config.js', 'jest.config.js', 'ecosystem.config.js'],
  ]);
  // Tools run by name: npm scripts, shell scripts, jest's transform, the Dockerfile.
  const toolText = [
    Object.values(pkg.scripts).join('\n'),
    ...filesUnder('scripts', /\.sh$/).map(read),
    read('jest.config.js'),
    read('Dockerfile'),
    // Tests that run a package's binary by path (e.g. the PM2 cluster test).
    ...filesUnder('tests', /\.ts$/)
      .map(read)
      .flatMap((text) => [...text.matchAll(/node_modules\/\.bin\/[\w.-]+/g)].map((m) => m[0])),
  ].join('\n');

  const binsOf = (name: string): string[] => {
    const manifest = JSON.parse(read(path.join('node_modules', name, 'package.json'))) as {
      bin?: string | Record<string, string>;
    };
    if (typeof manifest.bin === 'string') return [name.split('/').pop()!];
    return Object.keys(manifest.bin ?? {});
  };
  const isUsed = (name: string): boolean => {
    if (everyImport.has(name)) return true;
    const typesOf = /^@types\/(.+)$/.exec(name)?.[1];
    // @types/node and @types/jest type the runtime and the test globals; the others type a package in use.
    if (typesOf) return typesOf === 'node' || typesOf === 'jest' || isUsed(typesOf.replace(/^(.+)__(.+)$/, '@$1/$2'));
    return [name, ...binsOf(name)].some((tool) => new RegExp(`(^|[\\s'"/])${tool}([\\s'"]|$)`, 'm').test(toolText));
  };

  it('when a package is listed, then the code, tests, scripts or tooling use it (no dead weight in installs and audits)', () => {
    const all = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)];
    expect(all.filter((name) => !isUsed(name))).toEqual([]);
  });

  it('when src/ imports a package, then it is a production dependency (the image installs --omit=dev)', () => {
    expect([...sourceImports].filter((name) => !(name in pkg.dependencies))).toEqual([]);
    expect(Object.keys(pkg.dependencies).filter((name) => !sourceImports.has(name))).toEqual([]);
  });

  it('when Redis is needed, then it is a real server: no in-process emulation is installed', () => {
    const all = { ...pkg.dependencies, ...pkg.devDependencies };
    expect(Object.keys(all).filter((name) => /redis-mock|ioredis-mock|redis-memory/.test(name))).toEqual([]);
  });
});
