import { buildAppWithSenders, ROUTE_TEST_ENV, type SenderTestApp } from './support/app';
import { childEnv } from './support/env';
import { runTs } from './support/process';
import { enrollTotp } from './support/two-factor';
import { createUser } from './support/users';
import { waitFor } from './support/wait';

describe('npm run cli -- user:mfa-reset', () => {
  let s: SenderTestApp;
  let env: Record<string, string>;
  beforeAll(async () => {
    s = await buildAppWithSenders(__filename, 'AC' + 'c'.repeat(32));
    env = childEnv(s.t, { ...ROUTE_TEST_ENV, SMTP_URL: s.smtp.url });
  });
  afterAll(() => s.close());

  const reset = async (email: string, admin: string, code: string) => {
    const p = runTs('src/cli.ts', env, ['user:mfa-reset', '--email', email, '--admin', admin]);
    p.child.stdin?.end(code + '\n');
    return { code: await p.exited, out: p.stdout(), err: p.stderr() };
  };
  const audited = async (action: string, actorId: string) =>
    (await s.t.container.deps.protection.audit.list({ page: 1, limit: 50, action, actorId })).items;

  it('when an admin gives a wrong code or a non-admin tries, then nothing is reset and the refusal is audited', async () => {
    const admin = await enrollTotp(s, 'admin1@mfa-cli.example', 'admin');
    const target = await enrollTotp(s, 'target1@mfa-cli.example', 'user');
    const wrong = await reset('target1@mfa-cli.example', 'admin1@mfa-cli.example', '000000');
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/not a valid authenticator or backup code/);
    const manager = await createUser(s.t, 'manager1@mfa-cli.example', 'manager');
    const notAdmin = await reset('target1@mfa-cli.example', 'manager1@mfa-cli.example', '123456');
    expect(notAdmin.code).toBe(1);
    expect(notAdmin.err).toMatch(/does not hold user:mfa-reset:any/);

    const user = await s.t.container.deps.identity.users.get(target.userId);
    expect(user.mfa.methods).toEqual(['totp']);
    expect((await audited('mfa.reset-by-admin', admin.userId)).map((e) => [e.outcome, e.details])).toEqual([
      ['denied', { reason: 'second-factor', via: 'cli' }],
    ]);
    expect((await audited('mfa.reset-by-admin', manager)).map((e) => e.outcome)).toEqual(['denied']);
  }, 120_000);

  it("when an admin proves their own second factor with a backup code, then the user's factors are cleared, audited and the user is told", async () => {
    const admin = await enrollTotp(s, 'admin2@mfa-cli.example', 'admin');
    const target = await enrollTotp(s, 'target2@mfa-cli.example', 'user');
    const backupCode = (admin.enabled.body.backupCodes as string[])[0];
    const ok = await reset('target2@mfa-cli.example', 'admin2@mfa-cli.example', backupCode);
    expect(ok.err).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.out).toContain(`second factors of target2@mfa-cli.example (${target.userId}) reset`);
    expect(ok.out + ok.err).not.toContain(backupCode);

    const user = await s.t.container.deps.identity.users.get(target.userId);
    expect(user.mfa.methods).toEqual([]);
    expect(user.mfa.enrollmentRequired).toBe(true);
    const entries = await audited('mfa.reset-by-admin', admin.userId);
    expect(entries.map((e) => [e.outcome, e.resourceId])).toEqual([['succeeded', target.userId]]);
    await waitFor(
      () => s.smtp.messages.some((m) => m.to.includes('target2@mfa-cli.example') && /was reset/.test(m.raw)),
      10_000,
      'the reset notice',
    );
    // The backup code is spent: the same code cannot authorise a second reset.
    const again = await reset('target2@mfa-cli.example', 'admin2@mfa-cli.example', backupCode);
    expect(again.code).toBe(1);
  }, 120_000);
});
