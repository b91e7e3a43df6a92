import { createHash } from 'node:crypto';
import type { Logger } from '../../lib/logger';
import type { RedisClient } from '../../lib/redis';
import type { AuditInput, AuditTrail } from '../audit/audit-trail';
import { currentRequestContext } from '../../lib/request-context';

/**
 * A refused credential (forged, expired, revoked token; unknown or revoked API key; never
 * the credential itself), or a signed-in caller asking for a record that exists outside
 * their scope (answered 404 like a missing one: probing ids of other departments).
 */
export interface SecurityEvent {
  type: 'auth.denied' | 'access.out-of-scope';
  /** The problem code the caller got: invalid-token, session-revoked, invalid-api-key. */
  reason: string;
  /** Refused credentials: which kind was presented. */
  credential?: 'bearer' | 'api-key';
  ip: string | null;
  method: string;
  /** Without the query string (it may hold credentials). */
  path: string;
  /** Out-of-scope reads: the resource and the record asked for, and who asked. */
  resource?: string;
  resourceId?: string;
  actorId?: string;
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
    await this.report({ type: 'auth.denied', ...e }, e.ip, {
      actorId: null,
      actorRole: null,
      ip: e.ip,
      details: { reason: e.reason, credential: e.credential, method: e.method, path: e.path },
    });
  }

  /**
   * A read that missed because the record is outside the caller's scope (it exists). Throttled
   * per caller and resource, so one entry a minute records a probe of many ids; the caller,
   * role, address and request id come from the request context.
   */
  async outOfScope(e: { resource: string; resourceId: string }): Promise<void> {
    const ctx = currentRequestContext();
    await this.report(
      {
        type: 'access.out-of-scope',
        reason: `out-of-scope:${e.resource}`,
        ip: ctx?.ip ?? null,
        method: '',
        path: '',
        actorId: ctx?.userId,
        ...e,
      },
      ctx?.userId ?? ctx?.ip ?? null,
      {
        resource: e.resource,
        resourceId: e.resourceId,
        details: { reason: "outside the caller's record scope (answered 404)" },
      },
    );
  }

  private async report(
    e: Omit<SecurityEvent, 'at' | 'countInWindow' | 'audited'>,
    source: string | null,
    entry: Omit<AuditInput, 'action' | 'outcome'>,
  ): Promise<void> {
    const countInWindow = await this.count(e.reason, source);
    const event: SecurityEvent = { ...e, at: this.now(), countInWindow, audited: false };
    if (countInWindow === 1) {
      try {
        await this.deps.audit.record({
          action: e.type,
          outcome: 'denied',
          ...entry,
          details: { ...entry.details, throttle: `first per source and reason per ${SECURITY_EVENT_WINDOW_SECONDS} s` },
        });
        event.audited = true;
      } catch (err) {
        this.deps.logger.error({ err: { message: (err as Error).message } }, `${e.type} not audited`);
      }
    }
    try {
      this.deps.onSecurityEvent?.(event);
    } catch (err) {
      this.deps.logger.error({ err: { message: (err as Error).message } }, 'security event listener failed');
    }
  }

  /** This window's count for the source and reason; 0 when Redis cannot count (then nothing is audited). */
  private async count(reason: string, source: string | null): Promise<number> {
    const hashed = createHash('sha256')
      .update(source ?? 'unknown')
      .digest('base64url')
      .slice(0, 22);
    const key = `sec:auth-denied:${reason}:${hashed}`;
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
