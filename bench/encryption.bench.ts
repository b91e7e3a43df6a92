/**
 * Field encryption throughput against Node's raw AES-256-GCM on the same payload, and
 * API-key verification cost against bcrypt. Target: the service keeps >= 70% of the raw
 * rate. Run: `npm run bench` or `node --import tsx bench/encryption.bench.ts`.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import jwt from 'jsonwebtoken';
import { EncryptionService } from '../src/services/encryption/encryption.service';
import { StaticKeyProvider } from '../src/services/encryption/keyring';
import { PasswordHasher } from '../src/services/encryption/password-hasher';
import { ApiKeyService } from '../src/services/api-keys/api-key.service';
import { createLogger } from '../src/lib/logger';

function opsPerSecond(fn: () => void, minMs = 1500): number {
  for (let i = 0; i < 2000; i++) fn(); // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  }
  return (n / elapsed) * 1000;
}

/** Median of several rounds, alternating the two contenders so drift on a shared machine hits both. */
function compare(a: () => void, b: () => void, rounds = 5): [number, number] {
  const ra: number[] = [];
  const rb: number[] = [];
  for (let i = 0; i < rounds; i++) {
    ra.push(opsPerSecond(a, 600));
    rb.push(opsPerSecond(b, 600));
  }
  const med = (xs: number[]): number => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  return [med(ra), med(rb)];
}

async function main(): Promise<void> {
  const keyBytes = randomBytes(32);
  const svc = new EncryptionService({
    keyProvider: new StaticKeyProvider([{ id: 'k1', key: keyBytes }], 'k1'),
    blindIndexKey: randomBytes(32),
    passwords: new PasswordHasher(12),
    logger: createLogger({ level: 'silent' }),
  });
  await svc.init();
  const key = createSecretKey(keyBytes);
  const aad = Buffer.from('employees/65f1c0ffee/bankAccount');

  let ok = true;
  for (const size of [64, 1024]) {
    const text = 'x'.repeat(size);
    const payload = Buffer.from(text);
    const raw = (): void => {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.setAAD(aad);
      const ct = Buffer.concat([c.update(payload), c.final()]);
      const tag = c.getAuthTag();
      const d = createDecipheriv('aes-256-gcm', key, iv);
      d.setAAD(aad);
      d.setAuthTag(tag);
      Buffer.concat([d.update(ct), d.final()]);
    };
    const aadText = aad.toString();
    const service = (): void => {
      svc.decrypt(svc.encrypt(text, aadText), aadText);
    };
    const [rawOps, svcOps] = compare(raw, service);
    const ratio = svcOps / rawOps;
    ok &&= ratio >= 0.7;
    console.log(
      `field encrypt+decrypt ${String(size).padStart(4)} B: service ${svcOps.toFixed(0)} ops/s, raw crypto ${rawOps.toFixed(0)} ops/s, ratio ${(ratio * 100).toFixed(1)}% (target >= 70%) ${ratio >= 0.7 ? 'PASS' : 'FAIL'}`,
    );
  }

  const apiKeys = new ApiKeyService({
    keys: undefined as never, // the CPU check below touches no database
    audit: undefined as never,
    claims: undefined as never,
    writer: undefined as never,
    secret: randomBytes(32),
    grantsOf: async () => new Set<string>(),
  });
  const presented = `erp_AbCdEfGhIjKl_${randomBytes(32).toString('base64url')}`;
  const stored = apiKeys.hashForStorage(presented);
  const verifyOps = opsPerSecond(() => {
    if (!apiKeys.matchesHash(presented, stored)) throw new Error('mismatch');
  });
  const bcryptHash = await bcrypt.hash(presented, 12);
  const t0 = performance.now();
  await bcrypt.compare(presented, bcryptHash);
  const bcryptMs = performance.now() - t0;
  console.log(
    `API-key verification (HMAC-SHA256 + constant-time compare): ${verifyOps.toFixed(0)} ops/s (${(1e6 / verifyOps).toFixed(2)} µs each); one bcrypt cost-12 compare: ${bcryptMs.toFixed(0)} ms (${((bcryptMs * 1000 * verifyOps) / 1e6).toFixed(0)}x slower)`,
  );

  // JWT verification: jsonwebtoken with a raw string secret re-imports the key on every
  // call; the TokenService keeps a prepared KeyObject.
  const jwtSecret = randomBytes(32).toString('hex');
  const token = jwt.sign({ sub: 'u1', sid: 's1' }, jwtSecret, {
    algorithm: 'HS256',
    expiresIn: 900,
    issuer: 'erp',
    audience: 'erp-api',
  });
  const verifyOpts = { algorithms: ['HS256' as const], issuer: 'erp', audience: 'erp-api' };
  const jwtKey = createSecretKey(Buffer.from(jwtSecret));
  const [withKeyObject, withString] = compare(
    () => void jwt.verify(token, jwtKey, verifyOpts),
    () => void jwt.verify(token, jwtSecret, verifyOpts),
  );
  console.log(
    `JWT HS256 verification: KeyObject ${withKeyObject.toFixed(0)} ops/s vs string secret ${withString.toFixed(0)} ops/s (${(withKeyObject / withString).toFixed(1)}x)`,
  );
  if (!ok) process.exitCode = 1;
}

void main();
