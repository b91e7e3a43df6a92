import { AppError } from '../../lib/errors';

/** 400 for a refused registration (the caller is signed in), 401 for a refused sign-in. */
export type CeremonyStatus = 400 | 401 | 403;

const REFUSALS = {
  'passkey-origin-mismatch': {
    title: 'Passkey Origin Mismatch',
    detail: 'The passkey ceremony ran on a page whose origin is not an allowed frontend of this service.',
  },
  'passkey-rp-id-mismatch': {
    title: 'Passkey RP ID Mismatch',
    detail: 'The authenticator signed for a different relying party (RP ID) than this service.',
  },
  'passkey-user-verification-missing': {
    title: 'User Verification Required',
    detail: 'The authenticator did not verify the user (PIN, fingerprint or face); it is required here.',
  },
  'passkey-challenge-unknown': {
    title: 'Unknown Passkey Challenge',
    detail: 'This response answers no challenge issued for this account and sign-in; request new options.',
  },
  'passkey-challenge-expired': {
    title: 'Passkey Challenge Expired',
    detail: 'The passkey challenge has expired; request new options and try again.',
  },
  'passkey-challenge-used': {
    title: 'Passkey Challenge Already Used',
    detail: 'This passkey challenge was already answered; each one works once. Request new options.',
  },
  'passkey-counter-regression': {
    title: 'Passkey Counter Regression',
    detail:
      'The passkey signature counter did not increase: the authenticator may have been copied. The sign-in was refused and security was alerted.',
  },
  'passkey-unknown-credential': {
    title: 'Unknown Passkey',
    detail: 'This passkey is not registered to the account signing in.',
  },
  'passkey-invalid': {
    title: 'Invalid Passkey Response',
    detail: 'The passkey response could not be verified.',
  },
  'passwordless-not-allowed': {
    title: 'Passwordless Sign-In Not Allowed',
    detail: 'Passwordless sign-in is not enabled for this account.',
  },
} as const;

export type PasskeyRefusal = keyof typeof REFUSALS;

export function passkeyRefused(code: PasskeyRefusal, status: CeremonyStatus, detail?: string): AppError {
  return new AppError({ code, status, title: REFUSALS[code].title, detail: detail ?? REFUSALS[code].detail });
}

/**
 * @simplewebauthn/server reports every failed check as a plain Error with a message; the
 * client gets a problem naming which check failed (never the library's text, which
 * echoes input values).
 */
export function refusalFromLibrary(err: unknown, status: CeremonyStatus): AppError {
  if (err instanceof AppError) return err;
  const message = err instanceof Error ? err.message : '';
  if (/origin/i.test(message)) return passkeyRefused('passkey-origin-mismatch', status);
  if (/RP ID/i.test(message)) return passkeyRefused('passkey-rp-id-mismatch', status);
  if (/user verification required|user could not be verified/i.test(message))
    return passkeyRefused('passkey-user-verification-missing', status);
  if (/challenge/i.test(message)) return passkeyRefused('passkey-challenge-unknown', status);
  return passkeyRefused('passkey-invalid', status);
}
