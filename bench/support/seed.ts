/**
 * Seeds a benchmark database through the real services, with the same configuration (and
 * secrets) as the app under test: staff and a manager of one department, 2FA sessions and
 * their access tokens (what a completed second-factor login yields, as tests/support/users.ts
 * mfaSession does, through the shared mfaAccessToken), and 10,000 invoices.
 */
import { randomUUID } from 'node:crypto';
import speakeasy from 'speakeasy';
import { loadConfig } from '../../src/config';
import { createContainer, type Container } from '../../src/container';
import { createLogger } from '../../src/lib/logger';
import { mfaAccessToken } from '../../tests/support/session-token';
import type { Fixture } from './workload';

export const PASSWORD = 'tangerine-harbour-73-quietly';
const DEPARTMENT = 'finance';

export interface SeedOptions {
  staff: number;
  invoices: number;
  /** Staff accounts (of `staff`) that sign in with the password during the load. */
  logins: number;
}

export const DEFAULT_SEED: SeedOptions = { staff: 20, invoices: 10_000, logins: 20 };

/**
 * Enrolls an authenticator app through TwoFactorAuthService, as a manager must in production
 * (MFA_REQUIRED_ROLES): the app reads the enrollment state of every request's session facts,
 * so a token of an unenrolled manager is refused with 403 mfa-enrollment-required.
 */
async function enrollTotp(c: Container, userId: string): Promise<void> {
  const load = async () => (await c.models.User.findById(userId).lean())!;
  const { secret } = await c.deps.identity.twoFactor.setupTotp(await load());
  await c.deps.identity.twoFactor.enableTotp(await load(), speakeasy.totp({ secret, encoding: 'base32' }));
}

/** Seeds the database the app env names; returns the fixture for the load process. */
export async function seed(env: Record<string, string>, opts: SeedOptions = DEFAULT_SEED): Promise<Fixture> {
  const config = loadConfig(env);
  const c = createContainer(config, createLogger({ level: 'warn' }));
  await c.start();
  try {
    const users = c.deps.identity.users;
    const manager = await users.create(
      {
        email: 'manager@bench.test',
        name: 'Bench Manager',
        role: 'manager',
        department: DEPARTMENT,
        password: PASSWORD,
      },
      null,
    );
    const staff = await Promise.all(
      Array.from({ length: opts.staff }, (_, i) =>
        users.create(
          {
            email: `staff${i}@bench.test`,
            name: `Staff ${i}`,
            role: 'user',
            department: DEPARTMENT,
            password: PASSWORD,
          },
          null,
        ),
      ),
    );
    await enrollTotp(c, manager.id);
    const userTokens = await Promise.all(staff.map((u) => mfaAccessToken(c, u.id)));
    const managerToken = await mfaAccessToken(c, manager.id);

    const ids: string[] = [];
    const statuses = ['draft', 'approved', 'paid'] as const;
    for (let i = 0; i < opts.invoices; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, opts.invoices - i) }, (_, j) => {
        const n = i + j;
        const id = randomUUID();
        ids.push(id);
        return {
          _id: id,
          number: `INV-${String(n).padStart(6, '0')}`,
          customer: `Customer ${n % 500}`,
          amount: 100 + ((n * 7919) % 1_000_000),
          currency: n % 5 === 0 ? 'USD' : 'EUR',
          status: statuses[n % 3],
          department: DEPARTMENT,
          createdBy: staff[n % staff.length]!.id,
          version: 0,
        };
      });
      await c.models.Invoice.insertMany(batch);
    }
    return {
      userTokens,
      managerToken,
      invoiceIds: ids.filter((_, i) => i % Math.max(1, Math.floor(ids.length / 1000)) === 0),
      department: DEPARTMENT,
      loginEmails: staff.slice(0, opts.logins).map((u) => u.email),
      password: PASSWORD,
      invoiceCount: opts.invoices,
    };
  } finally {
    await c.stop();
  }
}

/** Drops the benchmark database (through a short-lived container on the same config). */
export async function dropDatabase(env: Record<string, string>): Promise<void> {
  const c = createContainer(
    loadConfig({ ...env, MONGODB_SYNC_INDEXES_ON_BOOT: 'false' }),
    createLogger({ level: 'silent' }),
  );
  await c.database.connect();
  try {
    await c.database.connection.dropDatabase();
  } finally {
    await c.database.close();
    c.redis.disconnect();
  }
}
