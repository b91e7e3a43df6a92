/**
 * PII masking for every read path (responses, lists, access explanations, alerts; the audit
 * trail holds field names, never values). One deliberate exception: the GDPR data-subject
 * export returns the person's full values (right of access), behind a 2FA session or a
 * fresh password, audited, with the person e-mailed (GdprService.export).
 * Pure functions; they never reveal more than the stated tail.
 */
export function maskTail(value: string | null | undefined, visible = 4): string {
  if (!value) return '';
  // slice(-0) would be the whole value: showing nothing must mean nothing.
  if (!Number.isInteger(visible) || visible <= 0) return '****';
  const chars = [...value];
  // Short values reveal nothing: showing 4 of 5 characters would be no mask at all.
  if (chars.length <= visible * 2) return '*'.repeat(Math.max(4, chars.length));
  return '****' + chars.slice(-visible).join('');
}

export function maskEmail(value: string | null | undefined): string {
  if (!value) return '';
  const at = value.lastIndexOf('@');
  if (at <= 0) return maskTail(value);
  const local = [...value.slice(0, at)];
  return `${local[0]}***${value.slice(at)}`;
}

export function maskPhone(value: string | null | undefined): string {
  if (!value) return '';
  const digits = value.replace(/\D/g, '');
  if (digits.length <= 4) return '****';
  return (value.trim().startsWith('+') ? '+' : '') + '*'.repeat(Math.min(8, digits.length - 2)) + digits.slice(-2);
}

export type MaskKind = 'tail' | 'email' | 'phone' | 'full';

export function mask(kind: MaskKind, value: unknown): string {
  const s = value === null || value === undefined ? '' : String(value);
  switch (kind) {
    case 'email':
      return maskEmail(s);
    case 'phone':
      return maskPhone(s);
    case 'full':
      return s ? '****' : '';
    case 'tail':
    default:
      return maskTail(s);
  }
}
