import { hostname } from 'node:os';
import type { SecurityAlert } from '../auth/auth.service';
import type { SecurityEvent } from '../auth/security-events';
import type { ChainVerification } from '../audit/audit-trail';
import type { AlertInput, AlertKey } from './alert-raiser';

/** What the sources need from the alert service: fire-and-forget raise and resolve (listeners cannot wait). */
export interface BackgroundRaiser {
  raiseInBackground(input: AlertInput): void;
  resolveInBackground(key: AlertKey, note?: string): void;
}

/** Refused credentials from one address and reason within a minute that look like an attack, not a typo. */
export const DENIAL_BURST = 50;

export const REDIS_DOWN: AlertKey = { source: 'system', kind: 'redis.down', subject: 'redis' };

/**
 * Turns the signals the rest of the application already detects into alerts: one place that
 * decides severity, title and fingerprint of each, so their deduplication is consistent.
 */
export class AlertSources {
  constructor(private readonly raiser: BackgroundRaiser) {}

  redisDown(origin: string, err: Error): void {
    this.raiser.raiseInBackground({
      ...REDIS_DOWN,
      severity: 'critical',
      title: 'Redis is unreachable',
      message: `Redis stopped answering (${origin}): rate limits fail open or closed per tier, sessions cannot be revoked quickly and lockouts are not shared.`,
      details: { origin, error: err.message.slice(0, 200) },
    });
  }

  redisUp(): void {
    this.raiser.resolveInBackground(REDIS_DOWN, 'Redis answers again');
  }

  /** Lockouts and guessing spikes detected by the AuthService. */
  securityAlert(alert: SecurityAlert): void {
    const titles: Record<SecurityAlert['kind'], string> = {
      'password-guessing': 'Password guessing against an account',
      'second-factor-lockout': 'A sign-in was locked after failed second-factor codes',
      'account-second-factor-cap': 'An account reached the cap of failed second-factor codes',
    };
    this.raiser.raiseInBackground({
      source: 'security',
      kind: `auth.${alert.kind}`,
      subject: alert.userId ?? undefined,
      severity: alert.kind === 'second-factor-lockout' ? 'warning' : 'error',
      title: titles[alert.kind],
      message: `${titles[alert.kind]}${alert.userId ? ` (user ${alert.userId})` : ''}.`,
      details: { ...alert.details },
    });
  }

  refreshTokenReuse(e: { userId: string; sessionId: string }): void {
    this.raiser.raiseInBackground({
      source: 'security',
      kind: 'auth.refresh-token-reuse',
      subject: e.userId,
      severity: 'error',
      title: 'A refresh token was used twice',
      message: `A refresh token of user ${e.userId} was presented again after it had been used: a stolen copy or a replay. The session was ended.`,
      details: { sessionId: e.sessionId },
    });
  }

  /** An address refused for too many failed passwords over any accounts: password spraying. */
  passwordSpraying(address: string): void {
    this.raiser.raiseInBackground({
      source: 'security',
      kind: 'auth.password-spraying',
      subject: address,
      severity: 'error',
      title: 'Password spraying from one address',
      message: `The address ${address} failed too many passwords across accounts and is refused for now.`,
      details: { address },
    });
  }

  /** Refused credentials: one event is noise, a burst from one address is an attack. */
  securityEvent(e: SecurityEvent): void {
    if (e.type !== 'auth.denied' || e.countInWindow !== DENIAL_BURST) return;
    this.raiser.raiseInBackground({
      source: 'security',
      kind: 'auth.denied-burst',
      subject: `${e.reason}:${e.ip ?? 'unknown'}`,
      severity: 'warning',
      title: 'Burst of refused credentials',
      message: `${DENIAL_BURST} requests with refused credentials (${e.reason}) from ${e.ip ?? 'an unknown address'} within a minute.`,
      details: { reason: e.reason, credential: e.credential ?? null, ip: e.ip },
    });
  }

  auditChainBroken(v: ChainVerification): void {
    this.raiser.raiseInBackground({
      source: 'security',
      kind: 'audit.chain-broken',
      subject: 'audit-trail',
      severity: 'critical',
      title: 'The audit trail failed verification',
      message: `Audit chain verification found a break at entry ${v.breakAt?.seq ?? '?'} (${v.breakAt?.reason ?? 'unknown'}): entries may have been edited, removed or forged.`,
      details: { checked: v.checked, headSeq: v.headSeq, breakAt: v.breakAt ?? null },
    });
  }

  jobsFailedToStart(err: Error): void {
    this.raiser.raiseInBackground({
      source: 'system',
      kind: 'process.jobs-failed',
      subject: hostname(),
      severity: 'critical',
      title: 'A process failed to start its jobs',
      message: `Process ${process.pid} could not start its scheduled jobs or the alert delivery worker: ${err.message.slice(0, 300)}`,
      details: { pid: process.pid },
    });
  }
}
