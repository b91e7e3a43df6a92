import { runTs } from '../support/process';

describe('scripts/observatory-grade.ts usage', () => {
  it('when the URL is not https or --min is not a grade, then it exits 2 naming the problem', async () => {
    const plain = runTs('scripts/observatory-grade.ts', {}, ['http://127.0.0.1/']);
    expect(await plain.exited).toBe(2);
    expect(plain.stderr()).toContain('the URL must start with https://');
    const badMin = runTs('scripts/observatory-grade.ts', {}, ['--min', 'A++', 'https://127.0.0.1/']);
    expect(await badMin.exited).toBe(2);
    expect(badMin.stderr()).toContain('--min must be one of A+ A A- B+ B B- C+ C C- D+ D D- F');
  }, 60_000);

  it('when nothing answers on the HTTPS URL, then it exits 2 instead of grading', async () => {
    const down = runTs('scripts/observatory-grade.ts', {}, ['https://127.0.0.1:9/']);
    expect(await down.exited).toBe(2);
    expect(down.stderr()).toMatch(/^observatory-grade: .*ECONNREFUSED/m);
    expect(down.stdout()).toBe('');
  }, 60_000);
});
