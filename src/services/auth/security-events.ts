import { createHash } from 'node:crypto';
import type { Logger } from '../../lib/logger';
import type { RedisClient } from '../../lib/redis';
import type { AuditTrail } from '../audit/audit-trail';

/** A refused credential (forged, expired, revoked token; unknown or revoked API key). Never carries the credential. */
export interface SecurityEvent {
  type: 'auth.denied';
  /** The problem code the caller got: invalid-token, session-revoked, invalid-api-key. */
  reason: string;
  credential: 'bearer' | 'api-key';
  ip: string | null;
  method: string;
  /** Without the query string (it may hold credentials). */
  path: string;
  at: Date;
  /** Denials with this reason from this address in the current window, this one included (0: not counted, Redis down). */
  countInWindow: number;
  /** Whether this one went to the audit trail: the first of each window per address and reason. */
  audited: boolean;
}

export type SecurityEventListener = (event: SecurityEvent) => void;

export interface SecurityEventsDeps {
  redis: RedisClient;
  audit: AuditTrail;
  logger: Logger;
  /** Told of every event, throttled or not (the AlertService feeds from here). Must not throw. */
  onSecurityEvent?: SecurityEventListener;
  now?: () => Date;
}

/** One audit entry per source address and reason per window: an attacker cannot flood the trail. */
export const SECURITY_EVENT_WINDOW_SECONDS = 60;

/**
 * Security events below the level of permissions (authorize() audits those): refused
 * credentials. Every event reaches the listener; the audit trail gets the first per
 * address and reason per minute, counted in Redis so every process shares the budget.
 */
export class SecurityEvents {
  private readonly now: () => Date;

  constructor(private readonly deps: SecurityEventsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async authDenied(e: Pick<SecurityEvent, 'reason' | 'credential' | 'ip' | 'method' | 'path'>): Promise<void> {
    const countInWindow = await this.count(e.reason, e.ip);
    const event: SecurityEvent = { type: 'auth.denied', ...e, at: this.now(), countInWindow, audited: false };
    if (countInWindow === 1) {
      try {
        await this.deps.audit.record({
          action: 'auth.denied',
          outcome: 'denied',
          actorId: null,
          actorRole: null,
          ip: e.ip,
          details: {
            reason: e.reason,
            credential: e.credential,
            method: e.method,
            path: e.path,
            throttle: `first per address and reason per ${SECURITY_EVENT_WINDOW_SECONDS} s`,
          },
        });
        event.audited = true;
      } catch (err) {
        // The caller still gets its 401; a failed audit append must not turn it into a 500.
        this.deps.logger.error({ err: { message: (err as Error).message } }, 'auth.denied not audited');
      }
    }
    try {
      this.deps.onSecurityEvent?.(event);
    } catch (err) {
      this.deps.logger.error({ err: { message: (err as Error).message } }, 'security event listener failed');
    }
  }

  /** This window's count for the address and reason; 0 when Redis cannot count (then nothing is audited). */
  private async count(reason: string, ip: string | null): Promise<number> {
    const source = createHash('sha256')
      .update(ip ?? 'unknown')
      .digest('base64url')
      .slice(0, 22);
    const key = `sec:auth-denied:${reason}:${source}`;
    try {
      // SET NX starts the window with its expiry; INCR keeps it. One transaction: no key without a TTL.
      const res = await this.deps.redis
        .multi()
        .set(key, '0', 'EX', SECURITY_EVENT_WINDOW_SECONDS, 'NX')
        .incr(key)
        .exec();
      const n = res?.[1]?.[1];
      return typeof n === 'number' ? n : 0;
    } catch (err) {
      this.deps.logger.warn({ err: { message: (err as Error).message } }, 'security event not counted (Redis)');
      return 0;
    }
  }
}
