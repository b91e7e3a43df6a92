import type { BackupKind } from './backup.types';

/** What retention needs to know of one backup in one location (local directory or S3). */
export interface RetentionCandidate {
  id: string;
  kind: BackupKind;
  finishedAt: Date;
  /** The last verification passed. */
  verified: boolean;
  /** Being written or uploaded right now: never touched. */
  inProgress?: boolean;
  /** S3 Object Lock: cannot be deleted before this. */
  lockedUntil?: Date;
}

export interface RetentionPolicy {
  keepDailyDays: number;
  keepWeeklyWeeks: number;
}

export interface RetentionDecision {
  id: string;
  reason: string;
}

export interface RetentionPlan {
  keep: RetentionDecision[];
  delete: RetentionDecision[];
  /** Expired but kept for a reason (no newer verified backup, being written, locked): reported to operators. */
  skipped: RetentionDecision[];
}

const DAY_MS = 86_400_000;

/** How long a backup of `kind` is kept: weekly ones for weeks, everything else (daily, manual, safety) for days. */
export function keepMsOf(kind: BackupKind, policy: RetentionPolicy): number {
  return kind === 'weekly' ? policy.keepWeeklyWeeks * 7 * DAY_MS : policy.keepDailyDays * DAY_MS;
}

/**
 * Decides which backups of one location may go. Pure: the same input always gives the
 * same plan. An expired backup is deleted only when a newer VERIFIED backup exists (so a
 * stretch of failing verifications never leaves nothing known-good), never while it is
 * being written, and never before its Object Lock retention ends.
 */
export function planRetention(backups: RetentionCandidate[], policy: RetentionPolicy, now: Date): RetentionPlan {
  const plan: RetentionPlan = { keep: [], delete: [], skipped: [] };
  const newestVerified = backups
    .filter((b) => b.verified && !b.inProgress)
    .reduce<number>((max, b) => Math.max(max, b.finishedAt.getTime()), Number.NEGATIVE_INFINITY);
  for (const b of [...backups].sort((x, y) => x.finishedAt.getTime() - y.finishedAt.getTime())) {
    if (b.inProgress) {
      plan.skipped.push({ id: b.id, reason: 'being written' });
      continue;
    }
    const expiresAt = b.finishedAt.getTime() + keepMsOf(b.kind, policy);
    if (expiresAt > now.getTime()) {
      plan.keep.push({ id: b.id, reason: `${b.kind} backup within retention` });
      continue;
    }
    if (!(newestVerified > b.finishedAt.getTime())) {
      plan.skipped.push({ id: b.id, reason: 'expired, but no newer verified backup exists' });
      continue;
    }
    if (b.lockedUntil && b.lockedUntil.getTime() > now.getTime()) {
      plan.skipped.push({ id: b.id, reason: `expired, but object-locked until ${b.lockedUntil.toISOString()}` });
      continue;
    }
    plan.delete.push({ id: b.id, reason: `${b.kind} backup older than its retention` });
  }
  return plan;
}
