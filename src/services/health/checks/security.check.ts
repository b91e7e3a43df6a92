import type { Limits } from '../../../config';
import type { AuditEventModel } from '../../../models/audit-event.model';
import { statusOf, type HealthCheck, type Measurement } from '../types';

/** Failed logins recorded in the audit trail (action `auth.login`, outcome `failed`) within a window. */
export class SecurityCheck implements HealthCheck {
  readonly component = 'security';
  readonly primaryMeasurement = 'failedLogins';
  readonly componentType = 'component' as const;
  readonly onError = 'warn' as const;

  constructor(
    private readonly deps: { events: AuditEventModel; windowMinutes: number; limits: Limits; now: () => Date },
  ) {}

  async run(timeoutMs: number): Promise<Measurement[]> {
    const since = new Date(this.deps.now().getTime() - this.deps.windowMinutes * 60_000);
    const count = await this.deps.events
      .countDocuments({ action: 'auth.login', outcome: 'failed', at: { $gte: since } })
      .maxTimeMS(timeoutMs);
    return [
      {
        component: this.component,
        measurement: 'failedLogins',
        componentType: this.componentType,
        observedValue: count,
        observedUnit: `per ${this.deps.windowMinutes} min`,
        status: statusOf(count, this.deps.limits),
      },
    ];
  }
}
