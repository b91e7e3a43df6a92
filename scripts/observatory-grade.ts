/**
 * Grades a deployment's security headers by the MDN HTTP Observatory rules, offline:
 *
 *   npx tsx scripts/observatory-grade.ts [--min A+] [--cacert ca.pem] [--http-url http://host] https://host/
 *
 * Fetches `GET https://host/` (following redirects on the same origin, TLS verified) and the first
 * answer of `GET http://host/` (the redirect test), prints each test's result and modifier, the
 * score and the grade. Exit 1 when the grade is below --min, 2 on bad usage or an unreachable host.
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import { GRADES, gradeAtLeast, gradeHeaders, type HeaderSet } from './lib/observatory-score';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
}

function get(url: URL, ca: Buffer | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { method: 'GET', headers: { 'User-Agent': 'erp-backend observatory-grade' }, timeout: 10_000 };
    const req =
      url.protocol === 'https:'
        ? https.request(url, { ...options, ca, rejectUnauthorized: true })
        : http.request(url, options);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error(`${url.href}: no answer in 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** The final answer of a URL, following at most 5 redirects. */
async function finalAnswer(url: URL, ca: Buffer | undefined): Promise<Answer> {
  let current = url;
  for (let hop = 0; hop < 6; hop++) {
    const answer = await get(current, ca);
    const location = answer.headers.location;
    if (answer.status < 300 || answer.status >= 400 || !location) return answer;
    current = new URL(location, current);
  }
  throw new Error(`${url.href}: more than 5 redirects`);
}

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: observatory-grade.ts [--min ${GRADES.join('|')}] [--cacert FILE] [--http-url URL] https://host/\n`,
  );
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  let min: string | undefined;
  let ca: Buffer | undefined;
  let httpUrl: string | undefined;
  let target: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--min') min = argv[++i];
    else if (arg === '--cacert') ca = readFileSync(argv[++i] ?? usage('--cacert needs a file'));
    else if (arg === '--http-url') httpUrl = argv[++i];
    else if (arg.startsWith('--')) usage(`unknown option ${arg}`);
    else target = arg;
  }
  if (!target?.startsWith('https://')) usage('the URL must start with https://');
  if (min !== undefined && !GRADES.includes(min)) usage(`--min must be one of ${GRADES.join(' ')}`);
  const url = new URL(target);
  const plain = new URL(httpUrl ?? `http://${url.hostname}/`);
  plain.pathname = url.pathname;
  plain.search = url.search;

  const secure = await finalAnswer(url, ca);
  // Nothing listening on plain HTTP is the Observatory's "redirection not needed".
  const first = await get(plain, undefined).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ECONNREFUSED') return null;
    throw err;
  });
  const result = gradeHeaders({
    https: secure.headers as HeaderSet,
    http: first && { status: first.status, headers: first.headers as HeaderSet },
    host: url.hostname,
  });
  for (const t of result.tests)
    process.stdout.write(
      `${t.pass ? 'PASS' : 'FAIL'} ${t.test}: ${t.result} (${t.modifier > 0 ? '+' : ''}${t.modifier})\n`,
    );
  process.stdout.write(`score ${result.score}, grade ${result.grade}${min ? ` (minimum ${min})` : ''}\n`);
  return min !== undefined && !gradeAtLeast(result.grade, min) ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`observatory-grade: ${err.message}\n`);
    process.exit(2);
  },
);
