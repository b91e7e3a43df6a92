/**
 * Top self-time functions of a V8 .cpuprofile (from `node --cpu-prof`), and the same grouped by
 * package/file: `npx tsx bench/profile/top.ts <file.cpuprofile> [n]`.
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
const n = Number(process.argv[3] ?? 30);
const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((x) => [x.id, x]));
const selfTime = new Map<number, number>();
prof.samples.forEach((id, i) => selfTime.set(id, (selfTime.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const total = [...selfTime.values()].reduce((a, b) => a + b, 0);
const byFn = new Map<string, number>();
const byFile = new Map<string, number>();
for (const [id, t] of selfTime) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const short = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(src|bench)\//, '$1/');
  const key = `${functionName || '(anon)'} ${short}:${lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + t);
  const group = url.includes('node_modules/')
    ? url.replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, '$1')
    : url
      ? short
      : functionName;
  byFile.set(group, (byFile.get(group) ?? 0) + t);
}
const show = (m: Map<string, number>, k: number): void => {
  for (const [key, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, k))
    console.log(`${((t / total) * 100).toFixed(1).padStart(5)}%  ${key}`);
};
console.log(`total ${(total / 1e6).toFixed(1)} s sampled`);
console.log('--- by function');
show(byFn, n);
console.log('--- by package / file');
show(byFile, n);
