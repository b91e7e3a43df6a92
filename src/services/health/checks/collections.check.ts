import { withTimeout, type Database } from '../../../lib/database';
import type { HealthCheck, Measurement } from '../types';

/** An index a registered model declares: its collection and key pattern. */
export interface ExpectedIndex {
  collection: string;
  key: Record<string, unknown>;
  name: string;
}

/** The collections and indexes the registered mongoose models declare (what syncIndexes would create). */
export function expectedIndexes(database: Database): { collections: string[]; indexes: ExpectedIndex[] } {
  const collections = new Set<string>();
  const indexes: ExpectedIndex[] = [];
  for (const model of Object.values(database.connection.models)) {
    const collection = model.collection.collectionName;
    collections.add(collection);
    for (const [key, options] of model.schema.indexes()) {
      const name =
        typeof options?.name === 'string'
          ? options.name
          : Object.entries(key)
              .map(([f, d]) => `${f}_${String(d)}`)
              .join('_');
      indexes.push({ collection, key: key as Record<string, unknown>, name });
    }
  }
  return { collections: [...collections].sort(), indexes };
}

const samePattern = (a: Record<string, unknown>, b: Record<string, unknown>): boolean =>
  JSON.stringify(Object.entries(a).map(([k, v]) => [k, Number(v) || v])) ===
  JSON.stringify(Object.entries(b).map(([k, v]) => [k, Number(v) || v]));

/**
 * MongoDB contents: every collection and index the models declare is present (a missing
 * index is a slow query waiting to happen), plus document counts and sizes from
 * dbStats/collStats for the admin view.
 */
export class CollectionsCheck implements HealthCheck {
  readonly component = 'mongodb';
  readonly primaryMeasurement = 'collections';
  readonly componentType = 'datastore' as const;
  readonly onError = 'warn' as const;

  constructor(private readonly deps: { database: Database }) {}

  async run(timeoutMs: number): Promise<Measurement[]> {
    return withTimeout(this.inspect(), timeoutMs, 'mongodb collection inspection');
  }

  private async inspect(): Promise<Measurement[]> {
    const db = this.deps.database.db();
    const expected = expectedIndexes(this.deps.database);
    const stats = await this.deps.database.stats();
    const present = new Set(stats.perCollection.map((c) => c.name));
    const missingCollections = expected.collections.filter((c) => !present.has(c));
    const missingIndexes: Array<{ collection: string; name: string; key: Record<string, unknown> }> = [];
    for (const collection of expected.collections) {
      const wanted = expected.indexes.filter((i) => i.collection === collection);
      if (!wanted.length) continue;
      const actual = present.has(collection)
        ? ((await db.collection(collection).listIndexes().toArray()) as Array<{ key: Record<string, unknown> }>)
        : [];
      for (const w of wanted)
        if (!actual.some((a) => samePattern(a.key, w.key)))
          missingIndexes.push({ collection, name: w.name, key: w.key });
    }
    const problems = [
      ...missingCollections.map((c) => `collection ${c} is missing`),
      ...missingIndexes.map((i) => `index ${i.collection}.${i.name} is missing`),
    ];
    return [
      {
        component: this.component,
        measurement: 'collections',
        componentType: this.componentType,
        observedValue: expected.collections.length - missingCollections.length,
        observedUnit: 'collections',
        status: problems.length ? 'warn' : 'pass',
        output: problems.length ? problems.join('; ') : undefined,
        details: {
          expected: expected.collections.length,
          missingCollections,
          missingIndexes,
          perCollection: stats.perCollection,
        },
      },
      {
        component: this.component,
        measurement: 'dataSize',
        componentType: this.componentType,
        observedValue: stats.dataSizeBytes,
        observedUnit: 'bytes',
        status: 'pass',
        details: {
          db: stats.db,
          objects: stats.objects,
          storageSizeBytes: stats.storageSizeBytes,
          indexSizeBytes: stats.indexSizeBytes,
        },
      },
    ];
  }
}
