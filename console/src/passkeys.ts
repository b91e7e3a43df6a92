import {
  browserSupportsWebAuthn,
  startAuthentication,
  startRegistration,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/browser';
import { describeError, type TokenPair } from './api';
import { field, formatTime, h, notice, replace } from './dom';
import type { Panel } from './panel';
import type { SecondFactorStep, SignInOption } from './sign-in';

/**
 * Passkeys in the console (docs/AUTHENTICATION.md, "Passkeys"): the second step of a sign-in,
 * passwordless sign-in, and the operator's own passkeys (add, remove). The browser does the
 * cryptography; @simplewebauthn/browser turns the server's options into the WebAuthn call.
 */

interface PasskeyView {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  transports: string[];
  backedUp: boolean;
}

/** A cancelled or failed WebAuthn prompt says so in words the operator can act on. */
function describePrompt(err: unknown): string {
  if (err instanceof Error && err.name === 'NotAllowedError')
    return `The passkey prompt was cancelled or timed out. Try again. (${err.message})`;
  return describeError(err);
}

/** Offered beside the code methods when the password step lists `passkey`. */
export const passkeySecondFactor: SecondFactorStep = {
  methods: ['passkey'],
  label: 'Passkey',
  render(ctx) {
    return h(
      'form',
      {
        class: 'stack',
        id: 'passkey-second-factor',
        onsubmit: (e: Event) => {
          e.preventDefault();
          void (async () => {
            try {
              const optionsJSON = await ctx.api.post<PublicKeyCredentialRequestOptionsJSON>(
                '/auth/passkeys/authentication/options',
                { mfaToken: ctx.mfaToken },
              );
              const credential = await startAuthentication({ optionsJSON });
              ctx.complete(
                await ctx.api.post<TokenPair>('/auth/passkeys/authentication/verify', {
                  mfaToken: ctx.mfaToken,
                  credential,
                }),
              );
            } catch (err) {
              ctx.say(describePrompt(err), 'error');
            }
          })();
        },
      },
      h('p', {}, 'Confirm with the passkey on this device or your security key.'),
      h('button', { type: 'submit' }, 'Use a passkey'),
    );
  },
};

/** "Sign in with a passkey" under the password form: no email, no password (roles the server allows). */
export const passwordlessSignIn: SignInOption = (ctx) => {
  if (!browserSupportsWebAuthn()) return null;
  return h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      id: 'signin-passkey',
      onclick: () => {
        void (async () => {
          try {
            const optionsJSON = await ctx.api.post<PublicKeyCredentialRequestOptionsJSON>(
              '/auth/passkeys/passwordless/options',
            );
            const credential = await startAuthentication({ optionsJSON });
            ctx.complete(await ctx.api.post<TokenPair>('/auth/passkeys/passwordless/verify', { credential }));
          } catch (err) {
            ctx.say(describePrompt(err), 'error');
          }
        })();
      },
    },
    'Sign in with a passkey',
  );
};

/** The operator's own passkeys: list, add (password again), remove (password again, 2FA session). */
export function passkeysPanel(): Panel {
  let alive = false;
  return {
    id: 'passkeys',
    title: 'Passkeys',
    permission: null,
    mount(el, { api }) {
      alive = true;
      const status = h('div', { class: 'notice', role: 'status', 'aria-live': 'polite' });
      const say = (text: string, kind: 'ok' | 'error' | 'info' = 'info') => notice(status, text, kind);
      const list = h('tbody', { id: 'passkeys-list' });
      const password = h('input', {
        type: 'password',
        name: 'password',
        autocomplete: 'current-password',
        required: true,
      });
      const name = h('input', { name: 'name', maxlength: 64, autocomplete: 'off', value: 'This device' });

      const load = async (): Promise<void> => {
        const { passkeys } = await api.get<{ passkeys: PasskeyView[] }>('/auth/passkeys');
        if (!alive) return;
        replace(
          list,
          ...(passkeys.length
            ? passkeys.map((p) =>
                h(
                  'tr',
                  { 'data-passkey-id': p.id },
                  h('td', { class: 'name' }, p.name),
                  h('td', {}, formatTime(p.createdAt)),
                  h('td', {}, formatTime(p.lastUsedAt)),
                  h(
                    'td',
                    {},
                    p.backedUp ? 'synced' : 'this device only',
                    p.transports.length ? ` (${p.transports.join(', ')})` : '',
                  ),
                  h(
                    'td',
                    {},
                    renameForm(p),
                    h(
                      'button',
                      {
                        type: 'button',
                        class: 'secondary remove',
                        'aria-label': `Remove passkey ${p.name}`,
                        onclick: () => void remove(p),
                      },
                      'Remove',
                    ),
                  ),
                ),
              )
            : [h('tr', {}, h('td', { colspan: 5 }, 'No passkey yet.'))]),
        );
      };

      /** Renaming needs no password: it changes a label, not what can sign in. */
      const renameForm = (p: PasskeyView): HTMLElement => {
        const newName = h('input', {
          name: 'newName',
          maxlength: 64,
          required: true,
          autocomplete: 'off',
          value: p.name,
          'aria-label': `New name for passkey ${p.name}`,
        });
        return h(
          'form',
          {
            class: 'row rename',
            onsubmit: (e: Event) => {
              e.preventDefault();
              void rename(p, newName.value.trim());
            },
          },
          newName,
          h('button', { type: 'submit', class: 'secondary' }, 'Rename'),
        );
      };

      const rename = async (p: PasskeyView, to: string): Promise<void> => {
        if (!to) return say('A passkey needs a name.', 'error');
        try {
          await api.call('PATCH', `/auth/passkeys/${encodeURIComponent(p.id)}`, { name: to });
          say(`The passkey "${p.name}" is now "${to}".`, 'ok');
          await load();
        } catch (err) {
          say(describeError(err), 'error');
        }
      };

      const remove = async (p: PasskeyView): Promise<void> => {
        if (!password.value) {
          say('Enter your password first: removing a passkey asks for it again.', 'error');
          return password.focus();
        }
        try {
          await api.call('DELETE', `/auth/passkeys/${encodeURIComponent(p.id)}`, { password: password.value });
          say(`The passkey "${p.name}" was removed.`, 'ok');
          await load();
        } catch (err) {
          say(describeError(err), 'error');
        }
      };

      const add = async (): Promise<void> => {
        try {
          const optionsJSON = await api.post<PublicKeyCredentialCreationOptionsJSON>(
            '/auth/passkeys/registration/options',
            { password: password.value },
          );
          const credential = await startRegistration({ optionsJSON });
          const added = await api.post<{ passkey: PasskeyView; backupCodes: string[] | null; accessToken?: string }>(
            '/auth/passkeys/registration/verify',
            { credential, ...(name.value.trim() ? { name: name.value.trim() } : {}) },
          );
          // The session now passed a factor: its new access token says so.
          if (added.accessToken) api.adopt({ accessToken: added.accessToken });
          say(
            added.backupCodes?.length
              ? `The passkey "${added.passkey.name}" was added. Backup codes (shown once): ${added.backupCodes.join(' ')}`
              : `The passkey "${added.passkey.name}" was added.`,
            'ok',
          );
          await load();
        } catch (err) {
          say(describePrompt(err), 'error');
        }
      };

      replace(
        el,
        h('h2', {}, 'Passkeys'),
        status,
        h(
          'form',
          {
            class: 'stack',
            id: 'passkey-add',
            onsubmit: (e: Event) => {
              e.preventDefault();
              void add();
            },
          },
          field('Password (again)', password, 'Adding or removing a passkey asks for the password again.'),
          field('Name of the new passkey', name),
          h('button', { type: 'submit' }, 'Add a passkey'),
        ),
        h(
          'table',
          {},
          h('caption', {}, 'Your passkeys'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col' }, 'Name'),
              h('th', { scope: 'col' }, 'Added'),
              h('th', { scope: 'col' }, 'Last used'),
              h('th', { scope: 'col' }, 'Kind (transports)'),
              h('th', { scope: 'col' }, 'Actions'),
            ),
          ),
          list,
        ),
      );
      load().catch((err: unknown) => say(describeError(err), 'error'));
    },
    unmount() {
      alive = false;
    },
  };
}
