import {
  invoicePageRequest,
  MIXED_WEIGHTS,
  mixedRequest,
  pickKind,
  requestOf,
  type Fixture,
  type MixKind,
} from '../../bench/support/workload';
import { renderTable } from '../../bench/support/report';
import { parseEnvList } from '../../bench/run';

const fixture: Fixture = {
  userTokens: ['u1', 'u2'],
  managerToken: 'm1',
  invoiceIds: ['a', 'b', 'c'],
  department: 'finance',
  loginEmails: ['staff0@bench.test'],
  password: 'pw',
  invoiceCount: 10_000,
};

/** A deterministic uniform source (LCG), so the checks do not depend on Math.random. */
function seeded(seed = 42): () => number {
  let x = seed;
  return () => {
    x = (x * 1664525 + 1013904223) % 2 ** 32;
    return x / 2 ** 32;
  };
}

describe('bench workload', () => {
  it('when kinds are drawn many times, then each appears in proportion to its weight', () => {
    const rnd = seeded();
    const counts: Partial<Record<MixKind, number>> = {};
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const k = pickKind(MIXED_WEIGHTS, rnd());
      counts[k] = (counts[k] ?? 0) + 1;
    }
    const total = Object.values(MIXED_WEIGHTS).reduce((s, w) => s + w, 0);
    for (const [kind, w] of Object.entries(MIXED_WEIGHTS)) {
      const expected = (w / total) * n;
      expect(Math.abs((counts[kind as MixKind] ?? 0) - expected)).toBeLessThan(Math.max(60, expected * 0.1));
    }
  });

  it('when the edges of the range are drawn, then the first and last kinds come out', () => {
    expect(pickKind(MIXED_WEIGHTS, 0)).toBe('invoice-list');
    expect(pickKind(MIXED_WEIGHTS, 0.999999)).toBe('login');
  });

  it('when a write or login is drawn, then it is a JSON POST the API accepts (unique invoice numbers, own department)', () => {
    const rnd = seeded(7);
    const a = requestOf('invoice-create', fixture, rnd);
    const b = requestOf('invoice-create', fixture, rnd);
    expect(a.method).toBe('POST');
    expect(a.headers['content-type']).toBe('application/json');
    const bodyA = JSON.parse(a.body!) as Record<string, unknown>;
    expect(bodyA).toEqual(expect.objectContaining({ department: 'finance', currency: 'EUR' }));
    expect(bodyA.number).toMatch(/^[A-Za-z0-9-]{1,40}$/);
    expect(bodyA.number).not.toEqual((JSON.parse(b.body!) as Record<string, unknown>).number);
    const login = requestOf('login', fixture, rnd);
    expect(JSON.parse(login.body!)).toEqual({ email: 'staff0@bench.test', password: 'pw' });
  });

  it('when reads are drawn, then they carry the right bearer and stay within the seeded pages', () => {
    const rnd = seeded(3);
    for (let i = 0; i < 1000; i++) {
      const r = mixedRequest(fixture, rnd);
      if (r.path.startsWith('/health')) expect(r.headers.authorization).toBeUndefined();
      else if (r.path !== '/api/v1/auth/login') expect(r.headers.authorization).toMatch(/^Bearer (u1|u2|m1)$/);
      const page = /page=(\d+)/.exec(r.path);
      if (page) expect(Number(page[1])).toBeLessThanOrEqual(50);
      const p = invoicePageRequest(fixture, rnd);
      expect(p.headers.authorization).toBe('Bearer m1');
      const m = /page=(\d+)&limit=50$/.exec(p.path);
      expect(Number(m![1])).toBeGreaterThanOrEqual(1);
      expect(Number(m![1])).toBeLessThanOrEqual(200);
    }
  });
});

describe('bench plumbing', () => {
  it('when BENCH_APP_ENV lists settings, then they become app environment entries', () => {
    expect(parseEnvList('A=1, B = x=y ,,C=')).toEqual({ A: '1', B: 'x=y', C: '' });
    expect(parseEnvList(undefined)).toEqual({});
  });

  it('when rows are rendered, then every row is one table line with its ratio and verdict', () => {
    const text = renderTable([
      {
        scenario: 's',
        subject: 'x',
        rate: 1234.4,
        unit: 'req/s',
        baseline: 2000,
        ratio: 0.61722,
        target: '>= 60%',
        pass: true,
      },
      { scenario: 't', subject: 'y', note: 'n' },
    ]);
    const lines = text.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[2]).toContain('1,234 req/s');
    expect(lines[2]).toContain('61.7%');
    expect(lines[2]).toContain('PASS');
    expect(lines[3]).toContain('info');
  });
});
