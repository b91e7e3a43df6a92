import { verifyTotp } from '../../../src/services/two-factor-auth/two-factor-auth.service';

/** RFC 6238 Appendix B, SHA-1 rows: seed "12345678901234567890", 8 digits, 30-second steps. */
const RFC6238_SHA1 = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
] as const;

describe('verifyTotp (the path user codes take)', () => {
  it.each(RFC6238_SHA1)('when T = %i, then %s is accepted at its own step only', (t, code) => {
    const at = new Date(t * 1000);
    const res = verifyTotp({ secret: '12345678901234567890', encoding: 'ascii', code, at, digits: 8, window: 0 });
    expect(res).toEqual({ ok: true, step: Math.floor(t / 30) });
    expect(
      verifyTotp({
        secret: '12345678901234567890',
        encoding: 'ascii',
        code,
        at: new Date((t + 90) * 1000),
        digits: 8,
        window: 1,
      }).ok,
    ).toBe(false);
  });

  it('when a code is one step early or late, then it is accepted; two steps, refused', () => {
    const [t, code] = RFC6238_SHA1[3];
    const base = { secret: '12345678901234567890', encoding: 'ascii' as const, code, digits: 8 };
    expect(verifyTotp({ ...base, at: new Date((t + 30) * 1000) }).ok).toBe(true);
    expect(verifyTotp({ ...base, at: new Date((t - 30) * 1000) }).ok).toBe(true);
    expect(verifyTotp({ ...base, at: new Date((t + 61) * 1000) }).ok).toBe(false);
  });

  it('when the step was already used, then the same code is a replay', () => {
    const [t, code] = RFC6238_SHA1[2];
    const step = Math.floor(t / 30);
    expect(
      verifyTotp({
        secret: '12345678901234567890',
        encoding: 'ascii',
        code,
        digits: 8,
        at: new Date(t * 1000),
        lastUsedStep: step,
      }),
    ).toEqual({ ok: false, replay: true });
  });

  it('when the code is not all digits or the wrong length, then it is refused without computing', () => {
    expect(verifyTotp({ secret: 'JBSWY3DPEHPK3PXP', code: '12a456', at: new Date() }).ok).toBe(false);
    expect(verifyTotp({ secret: 'JBSWY3DPEHPK3PXP', code: '1234567', at: new Date() }).ok).toBe(false);
  });
});
