import { assertAcceptablePassword, COMMON_PASSWORD_COUNT } from '../../../src/services/auth/password-policy';

const reason = (pw: string, ctx = {}): string | null => {
  try {
    assertAcceptablePassword(pw, ctx);
    return null;
  } catch (err) {
    return (err as Error & { detail?: string }).detail ?? (err as Error).message;
  }
};

describe('password policy', () => {
  it('when loaded, then the breached-password list has at least 10,000 entries', () => {
    expect(COMMON_PASSWORD_COUNT).toBeGreaterThanOrEqual(10_000);
  });

  it.each(['password1234', 'qwertyuiop123', 'qwerty123456', '1qaz2wsx3edc', 'PASSWORD1234'])(
    'when the password is the common %s, then it is refused and the message says why',
    (pw) => {
      expect(reason(pw)).toMatch(/commonly used, breached passwords/);
    },
  );

  it('when the length is outside 12..128 characters, then the message names the limit', () => {
    expect(reason('elevenchars')).toMatch(/at least 12/);
    expect(reason('a'.repeat(129))).toMatch(/at most 128/);
    expect(reason('é'.repeat(11) + 'x')).toBeNull();
  });

  it('when a long password has no digits, capitals or symbols, then it is accepted (no composition rules)', () => {
    expect(reason('plain lowercase words only')).toBeNull();
  });

  it('when the password is the email address or the name, then it is refused', () => {
    expect(reason('alice.smith@example.com', { email: 'alice.smith@example.com' })).toMatch(/email address or name/);
    expect(reason('zzzzzzzzzzzzzz')).toMatch(/one character repeated/);
  });
});
