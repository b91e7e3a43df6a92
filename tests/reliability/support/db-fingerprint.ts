import { createHash } from 'node:crypto';
import type { TestApp } from '../../support/app';

/**
 * Collections a refused request may legitimately write to: the record of the refusal itself
 * (audit trail, security alerts raised by bursts of refused credentials) and what background
 * jobs write on their own schedule (leases, health samples). Everything else must be byte for
 * byte unchanged by a rejected request.
 */
export const REFUSAL_RECORD_COLLECTIONS: ReadonlySet<string> = new Set([
  'audit_events',
  'audit_counters',
  'alerts',
  'alert_occurrences',
  'alert_deliveries',
  'health_samples',
  'job_leases',
]);

/**
 * One SHA-256 per collection of the test database (all documents in _id order), except the
 * refusal-record collections: compare two fingerprints to prove nothing was written.
 */
export async function dbFingerprint(t: TestApp): Promise<Record<string, string>> {
  const db = t.container.database.db();
  const names = (await db.listCollections({}, { nameOnly: true }).toArray())
    .map((c) => c.name)
    .filter((n) => !REFUSAL_RECORD_COLLECTIONS.has(n) && !n.startsWith('system.'))
    .sort();
  // Claims of the versioned writer are taken for alerts too (background updates): only the
  // claims on business records count.
  const filterOf = (name: string) =>
    name === 'version_claims' ? { collectionName: { $nin: [...REFUSAL_RECORD_COLLECTIONS] } } : {};
  const hashes = await Promise.all(
    names.map(async (name) => {
      const docs = await db.collection(name).find(filterOf(name)).sort({ _id: 1 }).toArray();
      return `${docs.length}:${createHash('sha256').update(JSON.stringify(docs)).digest('hex')}`;
    }),
  );
  return Object.fromEntries(names.map((name, i) => [name, hashes[i]]));
}
