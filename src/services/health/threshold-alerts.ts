import type { AlertRaiser } from '../alerts/alert-raiser';
import type { Logger } from '../../lib/logger';
import { withTimeout } from '../../lib/database';
import type { Recommendation } from './recommendations';
import { keyOf, type HealthStatus, type Measurement } from './types';

interface CheckState {
  /** The status alerts were last based on. */
  confirmed: HealthStatus;
  candidate: HealthStatus;
  streak: number;
}

/**
 * Turns sampled statuses into alerts: a check that holds a new status for `holdSamples`
 * consecutive samples raises (warn/fail) or resolves (pass) its alert, keyed by the check,
 * so a flapping check never alerts and one incident is one alert.
 */
export class ThresholdAlerts {
  private readonly states = new Map<string, CheckState>();

  constructor(
    private readonly deps: { alerts?: AlertRaiser; holdSamples: number; timeoutMs: number; logger: Logger },
  ) {}

  async observe(measurements: Measurement[], recommendations: Recommendation[]): Promise<void> {
    for (const m of measurements) {
      const key = keyOf(m);
      const state = this.states.get(key) ?? { confirmed: 'pass', candidate: 'pass', streak: 0 };
      this.states.set(key, state);
      if (m.status === state.confirmed) {
        state.candidate = m.status;
        state.streak = 0;
        continue;
      }
      state.streak = m.status === state.candidate ? state.streak + 1 : 1;
      state.candidate = m.status;
      if (state.streak < this.deps.holdSamples) continue;
      // Confirmed only once the alert store took it: a failed raise is retried on the next sample.
      if (
        await this.transition(
          m,
          recommendations.filter((r) => r.checks.includes(key)),
        )
      ) {
        state.confirmed = m.status;
        state.streak = 0;
      }
    }
  }

  private async transition(m: Measurement, advice: Recommendation[]): Promise<boolean> {
    const alerts = this.deps.alerts;
    if (!alerts) return true;
    const key = { source: 'health' as const, kind: 'health.threshold', subject: keyOf(m) };
    const value =
      m.observedValue === undefined ? '' : ` (${m.observedValue}${m.observedUnit ? ' ' + m.observedUnit : ''})`;
    try {
      if (m.status === 'pass') {
        await withTimeout(
          alerts.resolveByKey(key, `${keyOf(m)} is back to pass${value}`),
          this.deps.timeoutMs,
          'resolving a health alert',
        );
        return true;
      }
      const raising = alerts.raise({
        ...key,
        severity: m.status === 'fail' ? 'critical' : 'warning',
        title: `Health check ${keyOf(m)} is ${m.status}${value}`,
        message: [m.output, ...advice.map((a) => a.advice)].filter(Boolean).join('\n') || `${keyOf(m)} is ${m.status}`,
        details: {
          check: keyOf(m),
          status: m.status,
          observedValue: m.observedValue,
          observedUnit: m.observedUnit,
          recommendations: advice.map((a) => a.advice),
        },
      });
      await withTimeout(raising, this.deps.timeoutMs, 'raising a health alert');
      return true;
    } catch (err) {
      // Alert storage may be the thing that is down; the next transition tries again.
      this.deps.logger.error({ err, check: keyOf(m) }, 'health alert could not be raised or resolved');
      return false;
    }
  }
}
