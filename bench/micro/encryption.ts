/**
 * Field encryption (EncryptionService encrypt+decrypt with AAD) against Node's raw
 * AES-256-GCM on the same payload, alternating rounds, medians. Target: >= 70% of raw.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { EncryptionService } from '../../src/services/encryption/encryption.service';
import { StaticKeyProvider } from '../../src/services/encryption/keyring';
import { PasswordHasher } from '../../src/services/encryption/password-hasher';
import { createLogger } from '../../src/lib/logger';
import { emit } from '../support/child-json';
import type { Row } from '../support/report';

function opsPerSecond(fn: () => void, minMs: number): number {
  for (let i = 0; i < 2000; i++) fn();
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

const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

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
  const aadText = aad.toString();
  const rows: Row[] = [];
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
    const service = (): void => {
      svc.decrypt(svc.encrypt(text, aadText), aadText);
    };
    const rawOps: number[] = [];
    const svcOps: number[] = [];
    for (let i = 0; i < 5; i++) {
      rawOps.push(opsPerSecond(raw, 500));
      svcOps.push(opsPerSecond(service, 500));
    }
    const ratio = med(svcOps) / med(rawOps);
    rows.push({
      scenario: 'encryption',
      subject: `field encrypt+decrypt, ${size} B`,
      rate: med(svcOps),
      unit: 'ops/s',
      baseline: med(rawOps),
      baselineSubject: 'raw AES-256-GCM',
      ratio,
      target: '>= 70% of raw',
      pass: ratio >= 0.7,
      note: 'median of 5 alternating rounds',
    });
  }
  emit(rows);
}

void main();
