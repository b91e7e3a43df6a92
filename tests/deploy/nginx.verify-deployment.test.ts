import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../scripts/local-services';
import { childEnv, testNamespace } from '../support/env';
import { ROOT, runTs, type RunningProcess } from '../support/process';
import { waitFor } from '../support/wait';
import { oathtool } from '../support/two-factor';
import { gradeHeaders, type HeaderSet } from '../../scripts/lib/observatory-score';

/**
 * The whole edge as deployed: the real server process in production mode behind Debian's
 * nginx running the repo's deploy/nginx/erp-backend.conf (only ports, paths and certificate
 * locations replaced), with a CA and certificate made here, checked by
 * scripts/verify-deployment.sh exactly as the deployment guide runs it.
 */

const REPO_CONF = path.join(ROOT, 'deploy/nginx/erp-backend.conf');
const SCRIPT = path.join(ROOT, 'scripts/verify-deployment.sh');
const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find((p) => existsSync(p));
const CHECKS = [
  'http-redirect',
  'tls-1.0-refused',
  'tls-1.1-refused',
  'tls-1.2-accepted',
  'tls-1.3-accepted',
  'hsts',
  'csp',
  'nosniff',
  'frame-protection',
  'referrer-policy',
  'corp',
  'server-version',
  'health-live',
  'health-ready',
  'health-anonymous',
  'login',
  'rate-limit',
];

interface Replacement {
  from: string;
  to: string;
  /** How often `from` occurs in the repo file: a changed file fails here instead of testing something else. */
  times: number;
}

/** The repo file with each replacement applied exactly `times` times. */
function render(conf: string, replacements: Replacement[]): string {
  let out = conf;
  for (const r of replacements) {
    const found = out.split(r.from).length - 1;
    if (found !== r.times)
      throw new Error(`expected ${r.times} × ${JSON.stringify(r.from)} in the config, found ${found}`);
    out = out.split(r.from).join(r.to);
  }
  return out;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A throwaway CA and a server certificate for 127.0.0.1 signed by it. */
function makeCertificates(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=erp-backend test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  openssl(['req', '-new', ...ec, '-keyout', 'privkey.pem', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
  writeFileSync(
    path.join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'server.ext',
      '-out',
      'cert.pem',
    ],
    dir,
  );
  writeFileSync(path.join(dir, 'fullchain.pem'), readFileSync(path.join(dir, 'cert.pem')));
  writeFileSync(path.join(dir, 'chain.pem'), readFileSync(path.join(dir, 'ca.pem')));
}

interface Nginx {
  child: ChildProcess;
  httpPort: number;
  httpsPort: number;
  errorLog: () => string;
  stop: () => Promise<void>;
}

/** nginx in its own prefix directory (pid, logs, temp files), in the foreground, as a child of this test. */
async function startNginx(
  dir: string,
  siteConf: (ports: { httpPort: number; httpsPort: number }) => string,
): Promise<Nginx> {
  if (!NGINX) throw new Error('nginx not installed: run scripts/ensure-test-tools.sh (Debian nginx-light)');
  mkdirSync(path.join(dir, 'logs'), { recursive: true });
  chmodSync(dir, 0o755);
  const httpPort = await freePort();
  const httpsPort = await freePort();
  writeFileSync(path.join(dir, 'erp-backend.conf'), siteConf({ httpPort, httpsPort }));
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${path.join(dir, 'tmp', t)};`)
    .join('\n');
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    [
      'worker_processes 1;',
      `pid ${path.join(dir, 'nginx.pid')};`,
      `error_log ${path.join(dir, 'logs/error.log')} warn;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${path.join(dir, 'logs/access.log')};`,
      temp,
      // As Debian's /etc/nginx/nginx.conf includes sites-enabled/*: inside http { }.
      `  include ${path.join(dir, 'erp-backend.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const args = ['-p', dir, '-e', path.join(dir, 'logs/error.log'), '-c', path.join(dir, 'nginx.conf')];
  execFileSync(NGINX, [...args, '-t'], { stdio: 'pipe' });
  const child = spawn(NGINX, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const errorLog = () => {
    try {
      return readFileSync(path.join(dir, 'logs/error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const accepts = (port: number) =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  await waitFor(
    async () => child.exitCode !== null || ((await accepts(httpPort)) && (await accepts(httpsPort))),
    30_000,
    'nginx to listen',
  );
  if (child.exitCode !== null) throw new Error(`nginx exited: ${errorLog()}`);
  return {
    child,
    httpPort,
    httpsPort,
    errorLog,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGQUIT');
      await exited;
    },
  };
}

function runVerify(
  baseUrl: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, ...args, baseUrl], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

/** The headers the app sets on every answer (docs/SECURITY_HEADERS.md), as nginx must copy them onto its own. */
const EDGE_HEADERS = {
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};
const edgeHeaders = (headers: IncomingHttpHeaders): Record<string, unknown> =>
  Object.fromEntries(Object.keys(EDGE_HEADERS).map((name) => [name, headers[name]]));

const lineOf = (out: string, check: string): string =>
  out.split('\n').find((l) => l.startsWith(`PASS ${check}:`) || l.startsWith(`FAIL ${check}:`)) ??
  `(no line for ${check})`;

describe('deployment behind the repo nginx config (scripts/verify-deployment.sh)', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'erp-nginx-'));
  // Run as root, nginx's workers are `nobody`: they must reach their temp directories (request bodies).
  chmodSync(tmp, 0o755);
  const tls = path.join(tmp, 'tls');
  const adminEmail = 'ops-admin@erp.example.com';
  const adminPassword = `Verify-${randomBytes(9).toString('base64url')}`;
  let app: RunningProcess | undefined;
  let appPort = 0;
  let appEnv: Record<string, string> = {};
  let good: Nginx;
  const nginxes: Nginx[] = [];
  const loginEnv = { VERIFY_LOGIN_EMAIL: adminEmail, VERIFY_LOGIN_PASSWORD: adminPassword };
  const repoConf = readFileSync(REPO_CONF, 'utf8');

  const httpsRequest = (
    port: number,
    method: string,
    urlPath: string,
    json?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> =>
    new Promise((resolve, reject) => {
      const body = json === undefined ? undefined : JSON.stringify(json);
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          method,
          path: urlPath,
          ca: readFileSync(path.join(tls, 'ca.pem')),
          headers: {
            ...extraHeaders,
            ...(body ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {}),
          },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  /** The repo file with only the site-specific values (ports, paths, certificates) replaced. */
  const siteReplacements = (ports: { httpPort: number; httpsPort: number }, acme: string): Replacement[] => [
    { from: 'listen 80;', to: `listen 127.0.0.1:${ports.httpPort};`, times: 1 },
    { from: 'listen [::]:80;', to: '', times: 1 },
    { from: 'listen 443 ssl http2;', to: `listen 127.0.0.1:${ports.httpsPort} ssl http2;`, times: 1 },
    { from: 'listen [::]:443 ssl http2;', to: '', times: 1 },
    { from: '/etc/letsencrypt/live/erp.example.com/', to: `${tls}/`, times: 4 },
    { from: 'server 127.0.0.1:3000;', to: `server 127.0.0.1:${appPort};`, times: 1 },
    { from: 'root /var/www/letsencrypt;', to: `root ${acme};`, times: 1 },
  ];

  beforeAll(async () => {
    makeCertificates(tls);
    appPort = await freePort();
    const key = () => randomBytes(32).toString('base64');
    appEnv = childEnv(testNamespace(__filename), {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(appPort),
      TRUST_PROXY: '1',
      LOG_LEVEL: 'info',
      JWT_SECRET: randomBytes(32).toString('hex'),
      ENCRYPTION_KEYS: `k1:${key()}`,
      BLIND_INDEX_KEY: key(),
      AUDIT_HMAC_KEYS: `a1:${key()}`,
      // Nothing is mailed in these checks; the address only satisfies production's requirement.
      SMTP_URL: 'smtp://127.0.0.1:9/',
      BCRYPT_COST: '10',
      BOOTSTRAP_ADMIN_EMAIL: adminEmail,
      BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
      BACKUP_DIR: path.join(tmp, 'backups'),
      BACKUP_ENABLED: 'false',
      // Frequent keep-alive comments on the alert stream: proof that nginx passes them at once.
      ALERT_STREAM_HEARTBEAT_MS: '200',
    });
    app = runTs('src/server.ts', appEnv);
    const listening = (): boolean => app!.stdout().includes('erp-backend listening') || app!.child.exitCode !== null;
    await waitFor(listening, 120_000, 'the server to listen');
    if (app.child.exitCode !== null) throw new Error(`server exited: ${app.stderr()}${app.stdout()}`);
    good = await startNginx(path.join(tmp, 'nginx-good'), (ports) =>
      render(repoConf, siteReplacements(ports, path.join(tmp, 'acme'))),
    );
    nginxes.push(good);
  }, 180_000);

  afterAll(async () => {
    for (const n of nginxes) await n.stop();
    if (app && app.child.exitCode === null) {
      app.child.kill('SIGTERM');
      await app.exited;
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('when the app runs behind the repo nginx config, then every post-deployment check passes', async () => {
    const nginx = good;
    const { code, out } = await runVerify(
      `https://127.0.0.1:${nginx.httpsPort}`,
      ['--cacert', path.join(tls, 'ca.pem'), '--http-url', `http://127.0.0.1:${nginx.httpPort}`],
      loginEnv,
    );
    for (const check of CHECKS) expect(lineOf(out, check)).toMatch(new RegExp(`^PASS ${check.replace('.', '\\.')}:`));
    expect(out).not.toMatch(/^FAIL /m);
    expect(out).toContain(`${CHECKS.length} passed, 0 failed`);
    expect(code).toBe(0);
    // The app's answers came through nginx (its HSTS, not a filled-in one) and the login was a real session.
    expect(lineOf(out, 'hsts')).toContain('max-age=31536000; includeSubDomains');
    expect(lineOf(out, 'login')).toMatch(/-> 200.*session ended \(logout 204\)/);
    expect(lineOf(out, 'rate-limit')).toMatch(/Retry-After: \d+, RateLimit: .*"auth"; r=\d+/);
    expect(nginx.errorLog()).not.toMatch(/\[(emerg|crit)\]/);
  }, 180_000);

  it('when a client forges X-Forwarded-For, then the app (TRUST_PROXY=1) still sees the address nginx saw', async () => {
    const requestId = `xff-${randomBytes(6).toString('hex')}`;
    const answer = await new Promise<{ status: number; echoedId: string | undefined }>((resolve, reject) => {
      https
        .get(
          {
            host: '127.0.0.1',
            port: good.httpsPort,
            path: '/api/v1/no-such-resource',
            ca: readFileSync(path.join(tls, 'ca.pem')),
            headers: { 'X-Forwarded-For': '203.0.113.9, 198.51.100.7', 'X-Request-Id': requestId },
          },
          (res) => {
            res.resume();
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, echoedId: res.headers['x-request-id'] as string }),
            );
          },
        )
        .on('error', reject);
    });
    expect(answer).toEqual({ status: 404, echoedId: requestId });
    const logLine = (): { req: { remoteAddress: string; headers: Record<string, string> } } | undefined => {
      const line = app!
        .stdout()
        .split('\n')
        .find((l) => l.includes(`"requestId":"${requestId}"`) && l.includes('request completed'));
      return line ? JSON.parse(line) : undefined;
    };
    await waitFor(() => logLine() !== undefined, 10_000, 'the access-log line of the request');
    // nginx replaced the forged list with the address it accepted the connection from.
    expect(logLine()!.req.remoteAddress).toBe('127.0.0.1');
    expect(logLine()!.req.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(logLine()!.req.headers['x-forwarded-proto']).toBe('https');
  });

  it('when a body exceeds BODY_LIMIT (100kb), then nginx refuses it first with a 413 problem+json and the security headers', async () => {
    const login = (bytes: number) =>
      httpsRequest(good.httpsPort, 'POST', '/api/v1/auth/login', {
        email: 'someone@example.com',
        password: 'x'.repeat(bytes),
      });
    const refused = await login(150 * 1024);
    expect(refused.status).toBe(413);
    expect(refused.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(refused.body)).toMatchObject({
      type: 'https://erp-backend.dev/problems/payload-too-large',
      status: 413,
    });
    expect(edgeHeaders(refused.headers)).toEqual(EDGE_HEADERS);
    // Just under the limit reaches the app, which answers itself (400: the password is over its 1024 characters).
    const reached = await login(90 * 1024);
    expect(reached.status).toBe(400);
    expect(JSON.parse(reached.body)).toMatchObject({ status: 400, requestId: expect.any(String) });
    expect(reached.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
  });

  it('when the app is unreachable, then nginx answers 502 problem+json with the security headers and the script fails health', async () => {
    const closedPort = await freePort();
    const nginx = await startNginx(path.join(tmp, 'nginx-no-app'), (ports) =>
      render(repoConf, siteReplacements(ports, path.join(tmp, 'acme'))).replace(
        `server 127.0.0.1:${appPort};`,
        `server 127.0.0.1:${closedPort};`,
      ),
    );
    nginxes.push(nginx);
    const down = await httpsRequest(nginx.httpsPort, 'GET', '/health/ready');
    expect(down.status).toBe(502);
    expect(JSON.parse(down.body)).toMatchObject({ type: 'https://erp-backend.dev/problems/bad-gateway', status: 502 });
    expect(edgeHeaders(down.headers)).toEqual(EDGE_HEADERS);
    expect(down.headers['server']).toBe('nginx');

    const { code, out } = await runVerify(
      `https://127.0.0.1:${nginx.httpsPort}`,
      ['--cacert', path.join(tls, 'ca.pem'), '--http-url', `http://127.0.0.1:${nginx.httpPort}`],
      loginEnv,
    );
    expect(code).toBe(1);
    for (const check of ['health-live', 'health-ready', 'health-anonymous', 'login', 'rate-limit'])
      expect(lineOf(out, check)).toMatch(new RegExp(`^FAIL ${check}:`));
    expect(lineOf(out, 'health-ready')).toContain('-> 502');
  });

  it('when an admin opens the alert stream through nginx, then events arrive unbuffered as Server-Sent Events', async () => {
    // Its own admin (created by the CLI), so the bootstrap admin used by the script never enrolls 2FA.
    const email = 'sse-admin@erp.example.com';
    const password = `Stream-${randomBytes(9).toString('base64url')}`;
    const cli = runTs('src/cli.ts', { ...appEnv, LOG_LEVEL: 'warn' }, [
      'user:create',
      '--email',
      email,
      '--role',
      'admin',
    ]);
    cli.child.stdin?.end(`${password}\n`);
    expect(await cli.exited).toBe(0);

    const asJson = (r: { body: string }) => JSON.parse(r.body) as Record<string, string>;
    const withToken = (token: string) => ({ Authorization: `Bearer ${token}` });
    const signedIn = await httpsRequest(good.httpsPort, 'POST', '/api/v1/auth/login', { email, password });
    expect(signedIn.status).toBe(200);
    const enrollToken = asJson(signedIn).accessToken!;
    const setup = await httpsRequest(
      good.httpsPort,
      'POST',
      '/api/v1/auth/2fa/totp/setup',
      { password },
      withToken(enrollToken),
    );
    expect(setup.status).toBe(200);
    const code = oathtool(asJson(setup).secret!, new Date());
    const enabled = await httpsRequest(
      good.httpsPort,
      'POST',
      '/api/v1/auth/2fa/totp/enable',
      { code },
      withToken(enrollToken),
    );
    expect(enabled.status).toBe(200);
    const token = asJson(enabled).accessToken!;

    const opened = Date.now();
    const stream = await new Promise<{ status: number; type: string | undefined; first: string; afterMs: number }>(
      (resolve, reject) => {
        const req = https.get(
          {
            host: '127.0.0.1',
            port: good.httpsPort,
            path: '/api/v1/alerts/stream',
            ca: readFileSync(path.join(tls, 'ca.pem')),
            headers: { ...withToken(token), Accept: 'text/event-stream' },
          },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => {
              text += d.toString();
              // Two heartbeats: more than one chunk went through without waiting for a buffer to fill.
              if (text.split(': hb').length > 2) {
                resolve({
                  status: res.statusCode ?? 0,
                  type: res.headers['content-type'],
                  first: text,
                  afterMs: Date.now() - opened,
                });
                req.destroy();
              }
            });
          },
        );
        req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      },
    );
    expect(stream.status).toBe(200);
    expect(stream.type).toMatch(/^text\/event-stream/);
    expect(stream.first).toContain(': hb\n\n');
    // Buffered, 5-byte heartbeats every 200 ms would take minutes to fill nginx's buffers.
    expect(stream.afterMs).toBeLessThan(20_000);
  });

  it('when the repo file is wrongly loosened, then the script names each broken check and exits 1', async () => {
    const nginx = await startNginx(path.join(tmp, 'nginx-bad'), (ports) =>
      render(render(repoConf, siteReplacements(ports, path.join(tmp, 'acme'))), [
        // Version leak, no HSTS at all, old TLS allowed, no redirect (plain HTTP proxied).
        { from: 'server_tokens off;', to: 'server_tokens on;', times: 2 },
        {
          from: 'add_header Strict-Transport-Security $erp_hsts always;',
          to: 'proxy_hide_header Strict-Transport-Security;',
          times: 1,
        },
        { from: 'ssl_protocols TLSv1.2 TLSv1.3;', to: 'ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;', times: 1 },
        { from: 'ssl_ciphers ECDHE-', to: 'ssl_ciphers DEFAULT:@SECLEVEL=0:ECDHE-', times: 1 },
        { from: 'return 301 https://$host$request_uri;', to: 'proxy_pass http://erp_backend;', times: 1 },
      ]),
    );
    nginxes.push(nginx);

    const { code, out } = await runVerify(
      `https://127.0.0.1:${nginx.httpsPort}`,
      ['--cacert', path.join(tls, 'ca.pem'), '--http-url', `http://127.0.0.1:${nginx.httpPort}`],
      loginEnv,
    );
    expect(code).toBe(1);
    for (const broken of ['http-redirect', 'tls-1.0-refused', 'tls-1.1-refused', 'hsts', 'server-version'])
      expect(lineOf(out, broken)).toMatch(new RegExp(`^FAIL ${broken.replace('.', '\\.')}:`));
    expect(lineOf(out, 'server-version')).toMatch(/Server: 'nginx\/\d/);
    expect(lineOf(out, 'tls-1.0-refused')).toContain('completed a TLS 1.0 handshake');
    // What still holds is still reported as passing: each check stands on its own.
    for (const fine of ['tls-1.2-accepted', 'csp', 'health-ready', 'login', 'rate-limit'])
      expect(lineOf(out, fine)).toMatch(new RegExp(`^PASS ${fine.replace('.', '\\.')}:`));
    expect(out).toContain('5 failed');
  }, 180_000);

  /** The first answer of plain `GET http://127.0.0.1:port/path` (the Observatory's redirect test). */
  const httpFirstAnswer = (port: number, urlPath: string): Promise<{ status: number; headers: HeaderSet }> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        })
        .on('error', reject);
    });

  /** MDN HTTP Observatory grade of one path through an nginx (scripts/lib/observatory-score.ts). */
  const observatory = async (nginx: Nginx, urlPath: string) => {
    const secure = await httpsRequest(nginx.httpsPort, 'GET', urlPath);
    const plain = await httpFirstAnswer(nginx.httpPort, urlPath);
    return { secure, grade: gradeHeaders({ https: secure.headers, http: plain, host: '127.0.0.1' }) };
  };
  const resultOf = (grade: ReturnType<typeof gradeHeaders>, test: string) =>
    grade.tests.find((t) => t.test === test)?.result;

  it('when the app runs behind the repo nginx config, then the root and an API route grade A+ on the MDN HTTP Observatory rules', async () => {
    // The root (whatever the app answers there) and an API route refusing an anonymous caller.
    for (const urlPath of ['/', '/api/v1/auth/me']) {
      const { secure, grade } = await observatory(good, urlPath);
      if (urlPath !== '/') expect(secure.status).toBe(401);
      expect({ urlPath, failed: grade.tests.filter((t) => !t.pass) }).toEqual({ urlPath, failed: [] });
      expect(resultOf(grade, 'redirection')).toBe('redirection-to-https');
      expect(resultOf(grade, 'strict-transport-security')).toBe('hsts-implemented-max-age-at-least-six-months');
      expect(resultOf(grade, 'content-security-policy')).toBe('csp-implemented-with-no-unsafe-default-src-none');
      expect(resultOf(grade, 'x-frame-options')).toBe('x-frame-options-implemented-via-csp');
      expect(resultOf(grade, 'cross-origin-resource-policy')).toBe('corp-implemented-with-same-origin');
      expect(grade.score).toBeGreaterThanOrEqual(100);
      expect(grade.grade).toBe('A+');
      expect(secure.headers['server']).toBe('nginx');
    }

    // The command-line grader as an operator runs it: exit 0 with --min A+.
    const cli = runTs('scripts/observatory-grade.ts', {}, [
      '--min',
      'A+',
      '--cacert',
      path.join(tls, 'ca.pem'),
      '--http-url',
      `http://127.0.0.1:${good.httpPort}`,
      `https://127.0.0.1:${good.httpsPort}/`,
    ]);
    const code = await cli.exited;
    expect({ code, err: cli.stderr() }).toEqual({ code: 0, err: '' });
    expect(cli.stdout()).toMatch(
      /^PASS strict-transport-security: hsts-implemented-max-age-at-least-six-months \(0\)$/m,
    );
    expect(cli.stdout()).toMatch(/^score \d{3}, grade A\+ \(minimum A\+\)$/m);
  }, 60_000);

  it('when the repo file is loosened (no HSTS, an unsafe-inline CSP, no redirect), then the grade drops by the documented modifiers', async () => {
    const nginx = await startNginx(path.join(tmp, 'nginx-loose'), (ports) =>
      render(render(repoConf, siteReplacements(ports, path.join(tmp, 'acme'))), [
        {
          from: 'add_header Strict-Transport-Security $erp_hsts always;',
          to: [
            'proxy_hide_header Strict-Transport-Security;',
            'proxy_hide_header Content-Security-Policy;',
            `add_header Content-Security-Policy "default-src 'self'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'" always;`,
          ].join('\n    '),
          times: 1,
        },
        { from: 'return 301 https://$host$request_uri;', to: 'proxy_pass http://erp_backend;', times: 1 },
      ]),
    );
    nginxes.push(nginx);
    const { grade } = await observatory(nginx, '/api/v1/auth/me');
    expect(grade.tests.filter((t) => !t.pass).map((t) => [t.test, t.result, t.modifier])).toEqual([
      ['content-security-policy', 'csp-implemented-with-unsafe-inline', -20],
      ['redirection', 'redirection-missing', -20],
      ['strict-transport-security', 'hsts-not-implemented', -20],
    ]);
    // 100 - 60 = 40: below 90 the bonuses (frame-ancestors, referrer policy, CORP) do not count.
    expect(grade.score).toBe(40);
    expect(grade.grade).toBe('D+');

    const cli = runTs('scripts/observatory-grade.ts', {}, [
      '--min',
      'A+',
      '--cacert',
      path.join(tls, 'ca.pem'),
      '--http-url',
      `http://127.0.0.1:${nginx.httpPort}`,
      `https://127.0.0.1:${nginx.httpsPort}/api/v1/auth/me`,
    ]);
    expect(await cli.exited).toBe(1);
    expect(cli.stdout()).toContain('score 40, grade D+ (minimum A+)');
  }, 60_000);

  it('when pointed at the app directly or without credentials, then it fails instead of passing vacuously', async () => {
    // The app itself over plain HTTP: the script refuses a non-HTTPS base URL outright.
    const plain = await runVerify(`http://127.0.0.1:${appPort}`, [], loginEnv);
    expect(plain.code).toBe(2);
    expect(plain.out).toContain('BASE_URL must start with https://');

    // Through the good nginx but with nothing to sign in with: the login check fails, the rest pass.
    const nginx = good;
    const { code, out } = await runVerify(
      `https://127.0.0.1:${nginx.httpsPort}`,
      ['--cacert', path.join(tls, 'ca.pem'), '--http-url', `http://127.0.0.1:${nginx.httpPort}`],
      {},
    );
    expect(code).toBe(1);
    expect(lineOf(out, 'login')).toMatch(/^FAIL login: set VERIFY_LOGIN_EMAIL/);
    expect(out).toContain(`${CHECKS.length - 1} passed, 1 failed`);

    // Without the test CA the certificate is not trusted: nothing over HTTPS passes.
    const untrusted = await runVerify(`https://127.0.0.1:${nginx.httpsPort}`, [], loginEnv);
    expect(untrusted.code).toBe(1);
    expect(lineOf(untrusted.out, 'health-live')).toMatch(/^FAIL /);
    expect(lineOf(untrusted.out, 'tls-1.2-accepted')).toMatch(/^FAIL /);
  }, 180_000);
});
