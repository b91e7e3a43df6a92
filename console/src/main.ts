import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { ApiClient, describeError } from './api';
import { h, notice, replace } from './dom';
import type { Panel } from './panel';
import { alertsPanel } from './panels/alerts';
import { auditPanel } from './panels/audit';
import { backupsPanel } from './panels/backups';
import { healthPanel } from './panels/health';
import { registerSecondFactor, registerSignInOption, renderSignIn } from './sign-in';
import { passkeySecondFactor, passkeysPanel, passwordlessSignIn } from './passkeys';

interface Session {
  userId: string;
  role: string;
  mfa: boolean;
  enrollmentRequired: boolean;
}

const api = new ApiClient();
registerSecondFactor(passkeySecondFactor);
registerSignInOption(passwordlessSignIn);
// The operator's own account, not an operations panel: opened from the header, for every role.
const ownPasskeys = passkeysPanel();
const panels: Panel[] = [healthPanel(), alertsPanel(), backupsPanel(), auditPanel()];
let current: Panel | null = null;

function root(): HTMLElement {
  return document.getElementById('app') as HTMLElement;
}

function showSignIn(reason?: string): void {
  current?.unmount();
  current = null;
  renderSignIn(root(), api, () => void openConsole());
  if (reason) {
    const n = root().querySelector<HTMLElement>('.notice');
    if (n) notice(n, reason, 'info');
  }
}

interface Permissions {
  permissions: string[];
}

/** This session's effective permissions (no 403 probes: Chromium logs those as errors). */
async function sessionPermissions(): Promise<Set<string>> {
  const { permissions } = await api.get<Permissions>('/auth/permissions');
  return new Set(permissions);
}

async function openConsole(): Promise<void> {
  let session: Session;
  try {
    session = await api.get<Session>('/auth/session');
  } catch (err) {
    return showSignIn(describeError(err));
  }
  let granted: Set<string>;
  try {
    granted = await sessionPermissions();
  } catch (err) {
    return showSignIn(describeError(err));
  }
  const can = (permission: string): boolean => granted.has(permission);
  const mine = panels.filter((p) => p.permission === null || can(p.permission));
  const status = h('div', { class: 'notice', role: 'status' });
  const main = h('main', { id: 'panel', tabindex: '-1' });
  const tabs = mine.map((p) =>
    h(
      'button',
      { type: 'button', class: 'tab', 'data-panel': p.id, 'aria-controls': 'panel', onclick: () => show(p) },
      p.title,
    ),
  );
  const signOut = (everywhere: boolean) => async () => {
    try {
      await api.call('POST', everywhere ? '/auth/logout-all' : '/auth/logout');
    } catch {
      // the session may be gone already; signing out locally is what matters here
    }
    api.forget();
    showSignIn(everywhere ? 'Signed out of every session.' : 'Signed out.');
  };
  replace(
    root(),
    h('a', { href: '#panel', class: 'skip' }, 'Skip to the panel'),
    h(
      'header',
      { class: 'top' },
      h('h1', {}, 'Operations console'),
      h('nav', { 'aria-label': 'Panels' }, ...tabs),
      h(
        'div',
        { class: 'who' },
        h('span', {}, `Role: ${session.role}${session.mfa ? ' (2FA)' : ''}`),
        h(
          'button',
          { type: 'button', class: 'secondary', id: 'open-passkeys', onclick: () => show(ownPasskeys) },
          'Passkeys',
        ),
        h('button', { type: 'button', class: 'secondary', id: 'sign-out', onclick: signOut(false) }, 'Sign out'),
        h(
          'button',
          { type: 'button', class: 'secondary', id: 'sign-out-all', onclick: signOut(true) },
          'Sign out everywhere',
        ),
      ),
    ),
    status,
    main,
  );
  if (!mine.length) notice(status, 'Your role may not see any panel of this console.', 'info');

  function show(p: Panel): void {
    current?.unmount();
    current = p;
    for (const t of tabs) {
      if (t.dataset.panel === p.id) t.setAttribute('aria-current', 'page');
      else t.removeAttribute('aria-current');
    }
    document.title = `${p.title} — Operations console`;
    p.mount(main, { api, role: session.role, can });
    main.focus();
  }
  if (mine[0]) show(mine[0]);
}

api.onSignedOut(() => showSignIn('Your session ended. Sign in again.'));

function boot(): void {
  showSignIn();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
