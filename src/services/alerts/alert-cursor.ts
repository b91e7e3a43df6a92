import { AppError } from '../../lib/errors';

/**
 * A position in an ordering over (date, _id), as an opaque string: the list's page cursor
 * over (firstSeenAt, _id) and the live stream's event id over (changedAt, _id).
 */
export interface AlertPosition {
  at: Date;
  id: string;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function encodeCursor(p: AlertPosition): string {
  return Buffer.from(`${p.at.getTime()}.${p.id}`, 'utf8').toString('base64url');
}

/** The position a cursor stands for, or undefined when it is not one this service issued. */
export function decodeCursor(cursor: string): AlertPosition | undefined {
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^(\d{1,15})\.(.+)$/.exec(text);
  if (!m || !ID_PATTERN.test(m[2])) return undefined;
  const at = new Date(Number(m[1]));
  return Number.isNaN(at.getTime()) ? undefined : { at, id: m[2] };
}

/** decodeCursor for client input: a 400 problem naming `field` when the cursor is not valid. */
export function parseCursor(cursor: string, field: string): AlertPosition {
  const p = decodeCursor(cursor);
  if (!p)
    throw AppError.validation(`The ${field} is not a cursor this API issued.`, [{ path: field, message: 'invalid' }]);
  return p;
}

/** The MongoDB filter "after p" in ascending (date, _id) order, or "before p" in descending order. */
export function pastPosition(field: 'firstSeenAt' | 'changedAt', p: AlertPosition, direction: 'asc' | 'desc') {
  const op = direction === 'asc' ? '$gt' : '$lt';
  return { $or: [{ [field]: { [op]: p.at } }, { [field]: p.at, _id: { [op]: p.id } }] };
}
