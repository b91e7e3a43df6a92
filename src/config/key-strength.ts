/**
 * A floor under production key material: catches the obvious mistakes that pass a length
 * check (32 × "a", "changeme-changeme-…", an all-zero key, one key pasted into two
 * variables). It is no proof of randomness; random output such as `openssl rand -base64 32`
 * passes (false refusals are below one in ten million).
 * Messages name the variable, never the value or any part of it.
 */

/**
 * Placeholder words, matched in any letter case. Seven letters or more, so a random base64
 * secret contains one by chance ~1e-8 of the time.
 */
const PLACEHOLDER_WORDS = [
  'changeme',
  'change-me',
  'password',
  'example',
  'default',
  'placeholder',
  'replace',
  'insecure',
  'letmein',
  'testing',
  'development',
];
/** Shorter ones, matched only as lower, UPPER or Capitalized words (random mixed case would hit them too often). */
const SHORT_PLACEHOLDER_WORDS = ['secret', 'passwd', 'qwerty', 'asdfgh', 'sample', 'foobar'];

function containsPlaceholder(bytes: Buffer): boolean {
  const text = bytes.toString('latin1');
  const lower = text.toLowerCase();
  if (PLACEHOLDER_WORDS.some((w) => lower.includes(w))) return true;
  return SHORT_PLACEHOLDER_WORDS.some((w) =>
    [w, w.toUpperCase(), w[0].toUpperCase() + w.slice(1)].some((form) => text.includes(form)),
  );
}

/**
 * Below this many estimated bits the value is refused. Random 32-character hex (128 real
 * bits, the weakest value a 32-byte minimum admits) never estimated under 92 in a million
 * draws; a random 32-byte key estimates ~160. Typed patterns estimate far lower.
 */
const MIN_ESTIMATED_BITS = 80;

/**
 * A run this long seen twice means a repeated phrase ("Summer2024!Summer2024!"). Random
 * 64-character hex repeats one by chance ~1e-9 of the time.
 */
const REPEATED_RUN = 10;

export type KeyKind = 'text' | 'binary';

/**
 * Estimated bits: Shannon entropy of the byte histogram times the length, with the
 * Miller-Madow correction (a 32-sample histogram underestimates the true entropy).
 */
function estimatedBits(bytes: Buffer): number {
  const counts = new Map<number, number>();
  for (const b of bytes) counts.set(b, (counts.get(b) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / bytes.length;
    h -= p * Math.log2(p);
  }
  h += (counts.size - 1) / (2 * bytes.length * Math.LN2);
  return h * bytes.length;
}

function hasRepeatedRun(bytes: Buffer, run: number): boolean {
  const seen = new Set<string>();
  for (let i = 0; i + run <= bytes.length; i++) {
    const chunk = bytes.subarray(i, i + run).toString('latin1');
    if (seen.has(chunk)) return true;
    seen.add(chunk);
  }
  return false;
}

/** True when one step between neighbouring bytes (0 for runs, 1 for counting) covers half the value. */
function isProgression(bytes: Buffer): boolean {
  if (bytes.length < 4) return false;
  const steps = new Map<number, number>();
  for (let i = 1; i < bytes.length; i++) {
    const step = (bytes[i] - bytes[i - 1] + 256) % 256;
    steps.set(step, (steps.get(step) ?? 0) + 1);
  }
  return Math.max(...steps.values()) * 2 >= bytes.length - 1;
}

const isPrintableText = (bytes: Buffer): boolean => bytes.every((b) => b >= 0x20 && b <= 0x7e);

/**
 * Why `bytes` are not acceptable key material, or undefined. `binary` keys are decoded
 * base64 and must be random bytes; `text` secrets are used as typed (JWT secret, pepper).
 */
export function keyWeakness(bytes: Buffer, kind: KeyKind): string | undefined {
  if (containsPlaceholder(bytes)) return 'contains a placeholder word';
  if (kind === 'binary' && isPrintableText(bytes)) return 'decodes to typed text';
  if (isProgression(bytes) || hasRepeatedRun(bytes, REPEATED_RUN)) return 'follows a simple pattern';
  if (estimatedBits(bytes) < MIN_ESTIMATED_BITS) return 'has too little entropy';
  return undefined;
}

export interface KeyMaterialEntry {
  /** How problems name it: `JWT_SECRET`, or `ENCRYPTION_KEYS key "k1"`. */
  label: string;
  /** The variable a problem line starts with. */
  variable: string;
  kind: KeyKind;
  /** The bytes in use. */
  bytes: Buffer;
  /** The value as written in the environment (a base64 key's text may be reused as a text secret). */
  raw: string;
}

const formsOf = (e: KeyMaterialEntry): Buffer[] => {
  const forms = [e.bytes, Buffer.from(e.raw, 'utf8')];
  // A text secret that is itself base64 of a key (e.g. the BLIND_INDEX_KEY value pasted as JWT_SECRET).
  if (e.kind === 'text' && /^[A-Za-z0-9+/_-]{22,}={0,2}$/.test(e.raw))
    forms.push(Buffer.from(e.raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
  return forms;
};

/** One problem line per weak entry, and per entry that reuses an earlier entry's material. */
export function keyMaterialProblems(entries: KeyMaterialEntry[]): string[] {
  const problems: string[] = [];
  entries.forEach((entry, i) => {
    const weakness = keyWeakness(entry.bytes, entry.kind);
    if (weakness) {
      problems.push(`${entry.variable}: ${labelTail(entry)}${weakness}; ${kindAdvice(entry.kind)}`);
      return;
    }
    const earlier = entries.slice(0, i).find((other) => {
      const mine = formsOf(entry);
      return formsOf(other).some((f) => mine.some((m) => m.length > 0 && m.equals(f)));
    });
    if (earlier)
      problems.push(
        `${entry.variable}: ${labelTail(entry)}reuses the key material of ${earlier.label}; generate every key separately`,
      );
  });
  return problems;
}

/** `key "k1" ` for keyring entries, nothing for single-valued variables. */
const labelTail = (entry: KeyMaterialEntry): string =>
  entry.label === entry.variable ? '' : entry.label.slice(entry.variable.length + 1) + ' ';

function kindAdvice(kind: KeyKind): string {
  return kind === 'binary'
    ? 'it must be random bytes, e.g. `openssl rand -base64 32`'
    : 'it must be a random secret, e.g. `openssl rand -base64 48`';
}
