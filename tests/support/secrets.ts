/**
 * Every way a secret's bytes could show up in printed or serialised output: hex, base64,
 * base64url, `<Buffer 0a 1b …>` (util.inspect), `[10,27,…]` (JSON of a Buffer), and the
 * text itself when it is text. Checking only one encoding let a leak through once.
 */
export function renderingsOf(secret: Buffer | string): string[] {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  const head = [...bytes.subarray(0, 8)];
  const forms = [
    bytes.toString('hex'),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
    head.map((b) => b.toString(16).padStart(2, '0')).join(' '),
    head.join(','),
    head.join(', '),
  ];
  if (typeof secret === 'string') forms.push(secret);
  return forms;
}

/** The renderings of `secrets` found in `shown` (empty when nothing leaked). */
export function leakedIn(shown: string, secrets: Record<string, Buffer | string>): string[] {
  return Object.entries(secrets).flatMap(([name, s]) =>
    renderingsOf(s)
      .filter((f) => shown.includes(f))
      .map((f) => `${name} as ${JSON.stringify(f.slice(0, 24))}`),
  );
}
