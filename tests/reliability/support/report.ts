import { appendFileSync } from 'node:fs';

/**
 * Appends a scenario's measured figures (one JSON line) to $RELIABILITY_REPORT when set, so
 * the last results in docs/RELIABILITY.md come from a run, not from memory. Silent otherwise.
 */
export function recordFigures(scenario: string, figures: Record<string, unknown>): void {
  const file = process.env.RELIABILITY_REPORT;
  if (!file) return;
  appendFileSync(file, JSON.stringify({ scenario, at: new Date().toISOString(), ...figures }) + '\n');
}
