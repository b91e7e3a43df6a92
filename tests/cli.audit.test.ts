import { buildTestApp, type TestApp } from './support/app';
import { childEnv, testNamespace } from './support/env';
import { runTs } from './support/process';

/** audit:verify and help, as an operator runs them: a real CLI process on the app's database and Redis. */
describe('operator CLI: help and audit:verify', () => {
  const ns = testNamespace(__filename);
  const env = childEnv(ns);
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp(__filename, { MONGODB_URI: env.MONGODB_URI, REDIS_KEY_PREFIX: env.REDIS_KEY_PREFIX });
  });
  afterAll(() => t.close());

  const cli = async (...args: string[]) => {
    const p = runTs('src/cli.ts', env, args);
    return { code: await p.exited, out: p.stdout(), err: p.stderr() };
  };

  it('when asked for help (--help, help, -h or nothing), then usage goes to stdout and it exits 0; an unknown command exits 2', async () => {
    for (const args of [['--help'], ['help'], ['-h'], []]) {
      const res = await cli(...args);
      expect(res.code).toBe(0);
      expect(res.out).toMatch(/^usage: cli <command>/);
      expect(res.out).toContain('audit:verify');
      expect(res.err).toBe('');
    }
    const unknown = await cli('audit:nope');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown command "audit:nope"/);
  }, 120_000);

  it('when the chain is intact, then audit:verify exits 0; once its tail is cut (counter rewound too), it exits 1 with a one-line reason', async () => {
    for (let i = 0; i < 6; i++)
      await t.container.deps.protection.audit.record({ action: 'test.cli', outcome: 'succeeded' });
    const ok = await cli('audit:verify');
    expect(ok.code).toBe(0);
    expect(ok.out.trim()).toBe('audit trail intact: 6 entries verified, head at seq 6');

    const db = t.container.database.db();
    await db.collection('audit_events').deleteMany({ seq: { $gt: 4 } });
    await db
      .collection<{ _id: string; seq: number }>('audit_counters')
      .updateOne({ _id: 'audit' }, { $set: { seq: 4 } });
    const cut = await cli('audit:verify');
    expect(cut.code).toBe(1);
    expect(cut.out).toBe('');
    // stderr also carries the JSON log lines; the operator's message is the one plain line.
    const lines = cut.err.split('\n').filter((l) => l && !l.startsWith('{'));
    expect(lines).toEqual(['audit:verify: audit trail broken at seq 5: truncated (4 entries verified)']);
  }, 120_000);
});
