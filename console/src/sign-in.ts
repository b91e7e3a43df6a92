import { ApiError, describeError, type ApiClient, type TokenPair } from './api';
import { field, h, notice, replace } from './dom';

interface LoginAnswer extends Partial<TokenPair> {
  mfaRequired: boolean;
  mfaToken?: string;
  methods?: string[];
}

/** What a second-factor step gets: the pending sign-in and how to finish it. */
export interface SecondFactorContext {
  api: ApiClient;
  mfaToken: string;
  /** The methods the server offered for this sign-in. */
  methods: string[];
  /** Hands the completed sign-in's tokens to the console. */
  complete(pair: TokenPair & { warning?: string }): void;
  /** Shows a message in the step's live region. */
  say(text: string, kind?: 'ok' | 'error' | 'info'): void;
}

/**
 * A way to pass the second factor. The code methods are built in; another factor (a passkey)
 * registers its own step with registerSecondFactor and appears beside them.
 */
export interface SecondFactorStep {
  /** The method names (as the login answer lists them) this step handles. */
  methods: string[];
  label: string;
  render(ctx: SecondFactorContext): HTMLElement;
}

const LABELS: Record<string, string> = {
  totp: 'Authenticator app code',
  sms: 'Code sent by SMS',
  email: 'Code sent by email',
  backup: 'Backup code',
};

function codeStep(method: string): SecondFactorStep {
  return {
    methods: [method],
    label: LABELS[method] ?? method,
    render(ctx) {
      const code = h('input', {
        name: 'code',
        autocomplete: 'one-time-code',
        inputmode: method === 'backup' ? 'text' : 'numeric',
        required: true,
        maxlength: 32,
        spellcheck: 'false',
      });
      const send =
        method === 'sms' || method === 'email'
          ? h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                onclick: () => {
                  ctx.api
                    .post('/auth/2fa/challenge', { mfaToken: ctx.mfaToken, method })
                    .then(() => ctx.say(`A code was sent by ${method}.`, 'ok'))
                    .catch((err: unknown) => ctx.say(describeError(err), 'error'));
                },
              },
              `Send a code by ${method}`,
            )
          : null;
      const form = h(
        'form',
        {
          class: 'stack',
          'data-method': method,
          onsubmit: (e: Event) => {
            e.preventDefault();
            ctx.api
              .post<TokenPair & { warning?: string }>('/auth/2fa/verify', {
                mfaToken: ctx.mfaToken,
                method,
                code: code.value.trim(),
              })
              .then((pair) => ctx.complete(pair))
              .catch((err: unknown) => {
                ctx.say(describeError(err), 'error');
                code.select();
              });
          },
        },
        send,
        field(LABELS[method] ?? method, code),
        h('button', { type: 'submit' }, 'Verify'),
      );
      return form;
    },
  };
}

const steps: SecondFactorStep[] = ['totp', 'sms', 'email', 'backup'].map(codeStep);

/** Another way to sign in, shown under the password form (e.g. passwordless with a passkey); null hides it. */
export type SignInOption = (ctx: {
  api: ApiClient;
  complete(pair: TokenPair & { warning?: string }): void;
  say(text: string, kind?: 'ok' | 'error' | 'info'): void;
}) => HTMLElement | null;

const signInOptions: SignInOption[] = [];

export function registerSignInOption(option: SignInOption): void {
  signInOptions.push(option);
}

/** Adds a second-factor step (e.g. a passkey); it is offered when the server lists one of its methods. */
export function registerSecondFactor(step: SecondFactorStep): void {
  steps.unshift(step);
}

/**
 * The sign-in flow: password, then a second factor, or enrollment of an authenticator app
 * for a role that must have one and has none. Calls `done` once the session is complete.
 */
export function renderSignIn(root: HTMLElement, api: ApiClient, done: () => void): void {
  const message = h('div', { class: 'notice', role: 'status', 'aria-live': 'polite' });
  const say = (text: string, kind: 'ok' | 'error' | 'info' = 'info') => notice(message, text, kind);
  const body = h('div');
  const heading = h('h1', { tabindex: '-1' }, 'Sign in');
  replace(root, h('main', { class: 'signin', 'aria-labelledby': 'signin-title' }, heading, message, body));
  heading.id = 'signin-title';

  const finish = (pair: TokenPair & { warning?: string }) => {
    api.adopt(pair);
    if (pair.enrollmentRequired) return enroll();
    done();
  };

  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  replace(
    body,
    h(
      'form',
      {
        class: 'stack',
        id: 'signin-password',
        onsubmit: (e: Event) => {
          e.preventDefault();
          api
            .post<LoginAnswer>('/auth/login', { email: email.value.trim(), password: password.value })
            .then((answer) => {
              if (answer.mfaRequired && answer.mfaToken) return secondFactor(answer.mfaToken, answer.methods ?? []);
              finish(answer as TokenPair);
            })
            .catch((err: unknown) => {
              say(
                err instanceof ApiError && err.retryAfter
                  ? `${describeError(err)} (try again in ${err.retryAfter} s)`
                  : describeError(err),
                'error',
              );
            });
        },
      },
      field('Email', email),
      field('Password', password),
      h('button', { type: 'submit' }, 'Continue'),
    ),
    ...signInOptions.map((option) => option({ api, complete: finish, say })),
  );
  email.focus();

  function secondFactor(mfaToken: string, methods: string[]): void {
    heading.textContent = 'Second factor';
    say('Confirm it is you with one of your second factors.');
    const ctx: SecondFactorContext = { api, mfaToken, methods, complete: finish, say };
    const offered = steps.filter((s) => s.methods.some((m) => methods.includes(m)));
    const sections = offered.map((s) =>
      h('section', { class: 'factor', 'aria-label': s.label }, h('h2', {}, s.label), s.render(ctx)),
    );
    replace(body, ...sections);
    body.querySelector<HTMLInputElement>('input')?.focus();
  }

  /** Enrollment-only session: set up an authenticator app (QR code), confirm it, keep the backup codes. */
  function enroll(): void {
    heading.textContent = 'Set up a second factor';
    say('Your role needs a second factor before the console opens. Set up an authenticator app.');
    const pw = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
    replace(
      body,
      h(
        'form',
        {
          class: 'stack',
          id: 'enroll-password',
          onsubmit: (e: Event) => {
            e.preventDefault();
            api
              .post<{ secret: string; qrCodeDataUrl: string }>('/auth/2fa/totp/setup', { password: pw.value })
              .then((setup) => confirmTotp(setup))
              .catch((err: unknown) => say(describeError(err), 'error'));
          },
        },
        field('Password (again)', pw, 'Adding a factor asks for the password again.'),
        h('button', { type: 'submit' }, 'Show QR code'),
      ),
    );
    pw.focus();
  }

  function confirmTotp(setup: { secret: string; qrCodeDataUrl: string }): void {
    const code = h('input', { name: 'code', autocomplete: 'one-time-code', inputmode: 'numeric', required: true });
    replace(
      body,
      h('p', {}, 'Scan this code with your authenticator app, or type the secret into it.'),
      h('img', { src: setup.qrCodeDataUrl, alt: 'QR code of the authenticator secret', class: 'qr' }),
      h('p', {}, 'Secret: ', h('code', { class: 'secret' }, setup.secret)),
      h(
        'form',
        {
          class: 'stack',
          id: 'enroll-confirm',
          onsubmit: (e: Event) => {
            e.preventDefault();
            api
              .post<TokenPair & { backupCodes: string[] | null }>('/auth/2fa/totp/enable', { code: code.value.trim() })
              .then((enabled) => {
                api.adopt(enabled);
                showBackupCodes(enabled.backupCodes ?? []);
              })
              .catch((err: unknown) => say(describeError(err), 'error'));
          },
        },
        field('Code shown by the app', code),
        h('button', { type: 'submit' }, 'Confirm'),
      ),
    );
    code.focus();
  }

  function showBackupCodes(codes: string[]): void {
    heading.textContent = 'Keep your backup codes';
    say('The authenticator app is set up.', 'ok');
    const next = h('button', { type: 'button', onclick: () => done() }, 'I have stored them — open the console');
    replace(
      body,
      codes.length
        ? h('p', {}, 'Each code signs you in once if you lose the app. They are shown only now.')
        : h('p', {}, 'No new backup codes: your existing ones stay valid.'),
      codes.length ? h('ul', { class: 'codes' }, ...codes.map((c) => h('li', {}, h('code', {}, c)))) : null,
      next,
    );
    next.focus();
  }
}
