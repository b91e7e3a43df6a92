import type { Request, Response } from 'express';
import { AppError } from './errors';

/**
 * Optimistic concurrency over HTTP. A versioned record's ETag is `W/"<version>"`: weak,
 * because what a caller sees of one version differs by caller (masking), while the
 * version names the record's state. If-Match is therefore compared on the version alone
 * (`W/"3"` and `"3"` both match version 3) — deliberately weak, documented in docs/RESOURCES.md.
 */
export type IfMatch = { any: true } | { any: false; versions: number[] };

export const etagOf = (version: number): string => `W/"${version}"`;

/** Parses an If-Match header; undefined when absent. A malformed header matches nothing (412), it is not ignored. */
export function parseIfMatch(header: string | undefined): IfMatch | undefined {
  if (header === undefined) return undefined;
  if (header.trim() === '*') return { any: true };
  const versions: number[] = [];
  for (const part of header.split(',')) {
    const m = /^(?:W\/)?"(\d{1,15})"$/.exec(part.trim());
    if (m) versions.push(Number(m[1]));
  }
  return { any: false, versions };
}

/** 412 unless the record's current version satisfies the request's If-Match (absent: no condition). */
export function assertIfMatch(ifMatch: IfMatch | undefined, version: number, what: string): void {
  if (!ifMatch || ifMatch.any || ifMatch.versions.includes(version)) return;
  throw AppError.preconditionFailed(
    `The ${what} has changed since you read it (it is now at ${etagOf(version)}); reload it and try again.`,
  );
}

export const ifMatchOf = (req: Request): IfMatch | undefined => parseIfMatch(req.get('If-Match'));

/** Answers one versioned record with its ETag (a GET with a matching If-None-Match becomes a 304 in Express). */
export function sendRecord(res: Response, record: Record<string, unknown>, status = 200): void {
  if (typeof record.version === 'number') res.set('ETag', etagOf(record.version));
  res.status(status).json(record);
}
