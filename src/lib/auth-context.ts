import type { Response } from 'express';
import { AppError } from './errors';

/**
 * Who is calling, as established by the authentication middleware (a user's access
 * token or an API key). Stored on `res.locals.auth`; read through these helpers only.
 */
export interface AuthContext {
  kind: 'user' | 'apiKey';
  /** The user, or for an API key its owner. */
  userId: string;
  role: string;
  /** Department the user belongs to (scope for managers); null when none. */
  department: string | null;
  /** Session id (JWT `sid`) for user tokens. */
  sessionId?: string;
  /** True when the session passed a second factor. */
  mfa: boolean;
  /** The session may only enroll a second factor (2FA is required and missing). */
  enrollmentOnly: boolean;
  /** For API keys: its id and the permissions it was limited to. */
  apiKeyId?: string;
  scopes?: string[];
}

export function getAuth(res: Response): AuthContext | undefined {
  return res.locals.auth as AuthContext | undefined;
}

export function setAuth(res: Response, auth: AuthContext): void {
  res.locals.auth = auth;
}

/** The caller, or a 401 problem when the request is anonymous. */
export function requireAuth(res: Response): AuthContext {
  const auth = getAuth(res);
  if (!auth) throw AppError.unauthorized();
  return auth;
}
