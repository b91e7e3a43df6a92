import type { Limits } from '../../../config';
import { round2, statusOf, type HealthCheck, type Measurement } from '../types';

/** Age of the last verified backup (BackupRestoreService tells when that was). */
export class BackupCheck implements HealthCheck {
  readonly component = 'backups';
  readonly primaryMeasurement = 'age';
  readonly componentType = 'component' as const;
  readonly onError = 'warn' as const;

  constructor(
    private readonly deps: { lastVerifiedBackupAt: () => Promise<Date | null>; ageHours: Limits; now: () => Date },
  ) {}

  async run(): Promise<Measurement[]> {
    const at = await this.deps.lastVerifiedBackupAt();
    const base = {
      component: this.component,
      measurement: 'age',
      componentType: this.componentType,
    };
    if (!at) return [{ ...base, status: 'warn', output: 'no verified backup exists yet' }];
    const hours = (this.deps.now().getTime() - at.getTime()) / 3_600_000;
    return [
      {
        ...base,
        observedValue: round2(hours),
        observedUnit: 'h',
        status: statusOf(hours, this.deps.ageHours),
        details: { lastVerifiedAt: at.toISOString() },
      },
    ];
  }
}
