import { dictionary } from '@zxcvbn-ts/language-common';
import { AppError } from '../../lib/errors';
import { MAX_PASSWORD_LENGTH } from '../encryption/password-hasher';

export const MIN_PASSWORD_LENGTH = 12;

/** The ~49,000 most common breached passwords (zxcvbn-ts's list), lower-cased, loaded once. */
const COMMON = new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
export const COMMON_PASSWORD_COUNT = COMMON.size;

/**
 * NIST SP 800-63B style: length 12–128, any characters, no composition rules, and not a
 * known breached password (nor the user's own email or name). Throws a 400 saying why.
 */
export function assertAcceptablePassword(password: string, context: { email?: string; name?: string } = {}): void {
  const length = [...password].length;
  const reject = (why: string): never => {
    throw AppError.validation(why, [{ path: 'body.password', message: why }]);
  };
  if (length < MIN_PASSWORD_LENGTH) reject(`The password must be at least ${MIN_PASSWORD_LENGTH} characters long.`);
  if (length > MAX_PASSWORD_LENGTH) reject(`The password must be at most ${MAX_PASSWORD_LENGTH} characters long.`);
  const lower = password.toLowerCase();
  if (COMMON.has(lower)) reject('This password appears in lists of commonly used, breached passwords; choose another.');
  if (/^(.)\1+$/.test(password)) reject('The password must not be one character repeated.');
  for (const v of [context.email, context.email?.split('@')[0], context.name]) {
    if (v && v.length >= 4 && lower === v.toLowerCase()) reject('The password must not be your email address or name.');
  }
}
