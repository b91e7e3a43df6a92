import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Secret } from '../../src/lib/secret';
import { createLogger } from '../../src/lib/logger';
import { LogCapture } from '../support/app';
import { leakedIn } from '../support/secrets';

describe('Secret', () => {
  const bytes = randomBytes(32);
  const text = 'smtp://mailer:hunter2-very-secret@mail.example.com:587';

  it('when printed, serialised, interpolated or logged, then the value never shows', () => {
    const holder = { a: new Secret(bytes), b: new Secret(text) };
    const logs = new LogCapture();
    createLogger({ level: 'info', destination: logs }).info({ holder }, 'config');
    const shown = [
      inspect(holder, { depth: Infinity, showHidden: true }),
      JSON.stringify(holder),
      `${holder.a} ${holder.b}`,
      String(holder.b),
      logs.text,
    ].join('\n');
    expect(leakedIn(shown, { bytes, text })).toEqual([]);
    expect(shown).toContain('Secret(<redacted>)');
    expect(JSON.parse(JSON.stringify(holder))).toEqual({ a: '[redacted]', b: '[redacted]' });
  });

  it('when revealed, then the exact value comes back', () => {
    expect(new Secret(bytes).reveal().equals(bytes)).toBe(true);
    expect(new Secret(text).reveal()).toBe(text);
  });
});
