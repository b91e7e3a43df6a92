import type { HealthEndpoint } from '../../../config';
import { errorText, round2, type HealthCheck, type Measurement } from '../types';

/**
 * One configured HTTP dependency: answers with the expected status within its timeout
 * (`warn` once slower than its warn limit, `fail` past the timeout or on another status).
 */
export class EndpointCheck implements HealthCheck {
  readonly component: string;
  readonly primaryMeasurement = 'responseTime';
  readonly componentType = 'http' as const;
  readonly onError = 'fail' as const;
  readonly selfTimed = true;

  constructor(private readonly endpoint: HealthEndpoint) {
    this.component = `endpoint.${endpoint.name}`;
  }

  /** The endpoint's own timeout bounds the probe; the sampler's timeout is not applied on top. */
  async run(): Promise<Measurement[]> {
    const { url, expectedStatus, timeoutMs, warnMs } = this.endpoint;
    const started = performance.now();
    const base = {
      component: this.component,
      measurement: 'responseTime',
      componentType: this.componentType,
      observedUnit: 'ms',
    };
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, timeoutMs);
    try {
      const res = await fetch(url, { signal: abort.signal, redirect: 'manual' });
      await res.arrayBuffer();
      const ms = performance.now() - started;
      if (res.status !== expectedStatus)
        return [
          {
            ...base,
            observedValue: round2(ms),
            status: 'fail',
            output: `answered ${res.status}, expected ${expectedStatus}`,
            details: { url },
          },
        ];
      return [
        {
          ...base,
          observedValue: round2(ms),
          status: ms >= warnMs ? 'warn' : 'pass',
          output: ms >= warnMs ? `slower than ${warnMs} ms` : undefined,
          details: { url },
        },
      ];
    } catch (err) {
      const ms = performance.now() - started;
      return [
        {
          ...base,
          observedValue: round2(ms),
          status: 'fail',
          output: timedOut ? `no answer within ${timeoutMs} ms` : errorText(err),
          details: { url },
        },
      ];
    } finally {
      clearTimeout(timer);
    }
  }
}
