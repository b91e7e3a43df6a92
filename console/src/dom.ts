/**
 * A tiny element builder. Text always goes in as text nodes (never HTML), so nothing the
 * API returns can become markup; styling is by class only (the console CSP forbids inline styles).
 */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function replace(el: Element, ...children: Child[]): void {
  clear(el);
  append(el, ...children);
}

let idCounter = 0;
/** A unique id for label/aria wiring. */
export const uid = (prefix: string): string => `${prefix}-${++idCounter}`;

/** A labelled form field: the label is a real <label for>, so screen readers and clicks work. */
export function field(
  label: string,
  input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  hint?: string,
): HTMLElement {
  input.id ||= uid('f');
  const hintEl = hint ? h('small', { id: `${input.id}-hint`, class: 'hint' }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hintEl);
}

/**
 * A status shown by word and symbol as well as colour (colour is never the only signal).
 * `pass`/`warn`/`fail` and alert severities map to the same three looks.
 */
export function badge(status: string): HTMLElement {
  const look: Record<string, [string, string]> = {
    pass: ['ok', '✓'],
    ok: ['ok', '✓'],
    succeeded: ['ok', '✓'],
    delivered: ['ok', '✓'],
    resolved: ['ok', '✓'],
    info: ['info', 'ℹ'],
    acknowledged: ['info', '◐'],
    running: ['info', '…'],
    pending: ['info', '…'],
    warn: ['warn', '▲'],
    warning: ['warn', '▲'],
    fail: ['bad', '✕'],
    failed: ['bad', '✕'],
    critical: ['bad', '✕'],
    open: ['warn', '●'],
    abandoned: ['bad', '✕'],
  };
  const [cls, symbol] = look[status] ?? ['info', '•'];
  return h('span', { class: `badge badge-${cls}` }, h('span', { 'aria-hidden': 'true' }, symbol), ` ${status}`);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatAge(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export const formatTime = (iso: string | null | undefined): string =>
  iso
    ? new Date(iso)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC')
    : '—';

/** A polite live region message: announced by screen readers, visible as text. */
export function notice(el: HTMLElement, text: string, kind: 'ok' | 'error' | 'info' = 'info'): void {
  el.className = `notice notice-${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  replace(el, text);
}
