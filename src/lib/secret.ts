import { inspect } from 'node:util';

/**
 * A secret value from configuration (key, token, password, credentialed URL). It prints as
 * `Secret(<redacted>)` in logs, `util.inspect`, `console.log` and JSON, so a config object
 * or a service logged by mistake shows no key material; `reveal()` is the one way in.
 * The value sits in an ES private field, which `util.inspect` never shows.
 */
export class Secret<T extends string | Buffer> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  reveal(): T {
    return this.#value;
  }

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'Secret(<redacted>)';
  }
}
