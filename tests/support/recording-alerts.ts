import type { AlertInput, AlertKey, AlertRaiser, RaisedAlert } from '../../src/services/alerts/alert-raiser';

/**
 * Records raised and resolved alerts, for unit tests of a raiser (backups, health) that
 * are not about delivery. Tests of the alert path itself use the real AlertService.
 */
export class RecordingAlerts implements AlertRaiser {
  readonly raised: AlertInput[] = [];
  readonly resolved: Array<AlertKey & { note?: string }> = [];
  private readonly open = new Map<string, number>();

  async raise(input: AlertInput): Promise<RaisedAlert> {
    this.raised.push(input);
    const fingerprint = `${input.source}|${input.kind}|${input.subject ?? ''}`;
    const occurrences = (this.open.get(fingerprint) ?? 0) + 1;
    this.open.set(fingerprint, occurrences);
    return { id: `recorded-${this.raised.length}`, fingerprint, created: occurrences === 1, occurrences };
  }

  async resolveByKey(key: AlertKey, note?: string): Promise<boolean> {
    const fingerprint = `${key.source}|${key.kind}|${key.subject ?? ''}`;
    const wasOpen = this.open.delete(fingerprint);
    if (wasOpen) this.resolved.push({ ...key, note });
    return wasOpen;
  }
}
