/**
 * docs/SCALING.md: every read that decides (sessions, claims, leases, balances) goes to the
 * primary, and every write is acknowledged by a majority (src/lib/database.ts sets
 * `w: 'majority'`). A connection string that asks for something weaker is refused at
 * startup rather than silently honoured (read preference) or silently overridden (w).
 */
export function mongoConcernProblems(uri: string | undefined): string[] {
  if (uri === undefined) return [];
  const query = uri.includes('?') ? uri.slice(uri.indexOf('?') + 1) : '';
  const params = new URLSearchParams(query);
  const problems: string[] = [];
  const readPreference = params.get('readPreference');
  if (readPreference !== null && readPreference !== 'primary')
    problems.push(
      `MONGODB_URI: readPreference=${readPreference} would let decisions read stale data; use primary (docs/SCALING.md)`,
    );
  const w = params.get('w');
  if (w !== null && w !== 'majority')
    problems.push(
      `MONGODB_URI: w=${w} is weaker than the w=majority every write uses; use w=majority (docs/SCALING.md)`,
    );
  return problems;
}
