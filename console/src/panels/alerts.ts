import { describeError } from '../api';
import { badge, field, formatTime, h, notice, replace } from '../dom';
import type { Panel, PanelContext } from '../panel';
import { LiveStream } from '../sse';

interface Alert {
  id: string;
  severity: string;
  source: string;
  kind: string;
  title: string;
  message: string;
  status: string;
  occurrences: number;
  firstSeenAt: string;
  lastSeenAt: string;
  acknowledgedBy: string | null;
  acknowledgeComment: string | null;
  resolvedBy: string | null;
  resolveComment: string | null;
  changedAt: string;
}
interface Delivery {
  id: string;
  channel: string;
  recipient: string;
  status: string;
  attempts: number;
  lastError: string | null;
  deliveredAt: string | null;
}

const STATUSES = ['open', 'acknowledged', 'resolved'];
const SEVERITIES = ['critical', 'error', 'warning', 'info'];

function select(name: string, label: string, options: string[]): HTMLSelectElement {
  return h(
    'select',
    { name, 'aria-label': label },
    h('option', { value: '' }, `any ${label.toLowerCase()}`),
    ...options.map((o) => h('option', { value: o }, o)),
  );
}

/** Alerts: the live list (SSE), filters, acknowledge/resolve with a comment, deliveries per channel. */
export function alertsPanel(): Panel {
  let stream: LiveStream | null = null;
  return {
    id: 'alerts',
    title: 'Alerts',
    permission: 'alert:read:any',
    mount(el: HTMLElement, ctx: PanelContext) {
      const alerts = new Map<string, Alert>();
      const status = select('status', 'Status', STATUSES);
      status.value = 'open';
      const severity = select('severity', 'Severity', SEVERITIES);
      const live = h('span', { id: 'alerts-live', class: 'live', role: 'status' }, 'Connecting…');
      const list = h('div', { id: 'alerts-list' });
      const detail = h('section', { id: 'alert-detail', 'aria-label': 'Selected alert' });
      const message = h('div', { class: 'notice', role: 'status' });
      let selected: string | null = null;

      const matches = (a: Alert) =>
        (!status.value || a.status === status.value) && (!severity.value || a.severity === severity.value);

      const render = () => {
        const rows = [...alerts.values()]
          .filter(matches)
          .sort((a, b) => b.lastSeenAt.localeCompare(a.lastSeenAt))
          .map((a) =>
            h(
              'tr',
              { 'data-alert-id': a.id, 'data-status': a.status },
              h('td', {}, badge(a.severity)),
              h('td', {}, badge(a.status)),
              h('th', { scope: 'row' }, a.title),
              h('td', {}, a.source),
              h('td', {}, String(a.occurrences)),
              h('td', {}, formatTime(a.lastSeenAt)),
              h(
                'td',
                {},
                h(
                  'button',
                  { type: 'button', class: 'secondary', onclick: () => void open(a.id) },
                  'Details',
                  h('span', { class: 'visually-hidden' }, ` of ${a.title}`),
                ),
              ),
            ),
          );
        replace(
          list,
          rows.length
            ? h(
                'table',
                {},
                h('caption', {}, `${rows.length} alert${rows.length === 1 ? '' : 's'}`),
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    ...['Severity', 'Status', 'Title', 'Source', 'Times', 'Last seen', 'Actions'].map((c) =>
                      h('th', { scope: 'col' }, c),
                    ),
                  ),
                ),
                h('tbody', {}, ...rows),
              )
            : h('p', {}, 'No alerts match the filters.'),
        );
      };

      // Changes the stream delivers while a list request is out: applied again over the list
      // it returns, which may predate them. A newer load supersedes an older one.
      let loading: { generation: number; arrived: Alert[] } | null = null;
      let generation = 0;
      const load = async () => {
        const mine = { generation: ++generation, arrived: [] as Alert[] };
        loading = mine;
        const q = new URLSearchParams({ limit: '100' });
        if (status.value) q.set('status', status.value);
        if (severity.value) q.set('severity', severity.value);
        try {
          const page = await ctx.api.get<{ items: Alert[] }>(`/alerts?${q}`);
          if (mine.generation !== generation) return;
          alerts.clear();
          for (const a of page.items) alerts.set(a.id, a);
          for (const a of mine.arrived) alerts.set(a.id, a);
          render();
        } catch (err) {
          notice(message, describeError(err), 'error');
        } finally {
          if (loading === mine) loading = null;
        }
      };

      const open = async (id: string) => {
        selected = id;
        try {
          const a = await ctx.api.get<Alert & { deliveries: Delivery[] }>(`/alerts/${encodeURIComponent(id)}`);
          renderDetail(a);
          detail.querySelector('h3')?.focus();
        } catch (err) {
          notice(message, describeError(err), 'error');
        }
      };

      const act = async (id: string, action: 'acknowledge' | 'resolve', comment: string) => {
        try {
          const a = await ctx.api.post<Alert>(
            `/alerts/${encodeURIComponent(id)}/${action}`,
            comment ? { comment } : {},
          );
          alerts.set(a.id, a);
          render();
          notice(message, `Alert ${action === 'acknowledge' ? 'acknowledged' : 'resolved'}.`, 'ok');
          await open(id);
        } catch (err) {
          notice(message, describeError(err), 'error');
        }
      };

      const renderDetail = (a: Alert & { deliveries: Delivery[] }) => {
        const comment = h('textarea', { name: 'comment', rows: 2, maxlength: 1000 });
        const deliveries = a.deliveries.length
          ? h(
              'table',
              { class: 'deliveries' },
              h('caption', {}, 'Delivery per channel'),
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ...['Channel', 'Recipient', 'Status', 'Attempts', 'Last error'].map((c) =>
                    h('th', { scope: 'col' }, c),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                ...a.deliveries.map((d) =>
                  h(
                    'tr',
                    { 'data-channel': d.channel },
                    h('th', { scope: 'row' }, d.channel),
                    h('td', {}, d.recipient),
                    h('td', {}, badge(d.status)),
                    h('td', {}, String(d.attempts)),
                    h('td', {}, d.lastError ?? '—'),
                  ),
                ),
              ),
            )
          : h('p', {}, 'No deliveries recorded for this alert.');
        replace(
          detail,
          h('h3', { tabindex: '-1' }, a.title),
          h('p', {}, badge(a.severity), ' ', badge(a.status), ` ${a.source} / ${a.kind}`),
          h('p', { class: 'message' }, a.message),
          h(
            'dl',
            {},
            h('dt', {}, 'First seen'),
            h('dd', {}, formatTime(a.firstSeenAt)),
            h('dt', {}, 'Last seen'),
            h('dd', {}, `${formatTime(a.lastSeenAt)} (${a.occurrences}×)`),
            a.acknowledgedBy ? h('dt', {}, 'Acknowledged by') : null,
            a.acknowledgedBy
              ? h('dd', {}, `${a.acknowledgedBy}${a.acknowledgeComment ? ` — “${a.acknowledgeComment}”` : ''}`)
              : null,
            a.resolvedBy ? h('dt', {}, 'Resolved by') : null,
            a.resolvedBy ? h('dd', {}, `${a.resolvedBy}${a.resolveComment ? ` — “${a.resolveComment}”` : ''}`) : null,
          ),
          deliveries,
          a.status === 'resolved' || !ctx.can('alert:manage:any')
            ? null
            : h(
                'form',
                { class: 'stack', id: 'alert-actions', onsubmit: (e: Event) => e.preventDefault() },
                field('Comment (optional)', comment),
                h(
                  'div',
                  { class: 'row' },
                  a.status === 'open'
                    ? h(
                        'button',
                        {
                          type: 'button',
                          id: 'alert-ack',
                          onclick: () => void act(a.id, 'acknowledge', comment.value.trim()),
                        },
                        'Acknowledge',
                      )
                    : null,
                  h(
                    'button',
                    {
                      type: 'button',
                      id: 'alert-resolve',
                      class: 'secondary',
                      onclick: () => void act(a.id, 'resolve', comment.value.trim()),
                    },
                    'Resolve',
                  ),
                ),
              ),
        );
      };

      status.addEventListener('change', () => void load());
      severity.addEventListener('change', () => void load());
      replace(
        el,
        h('h2', {}, 'Alerts ', live),
        message,
        h(
          'div',
          { class: 'filters', role: 'group', 'aria-label': 'Filters' },
          field('Status', status),
          field('Severity', severity),
        ),
        list,
        detail,
      );

      stream = new LiveStream(ctx.api, {
        path: '/alerts/stream',
        onState(on, resumed) {
          live.textContent = on ? 'Live' : 'Reconnecting…';
          live.className = on ? 'live live-on' : 'live';
          // Without Last-Event-ID the server replays nothing: what changed before this stream
          // opened (since the list was loaded, or during a drop) comes from a fresh list.
          if (on && !resumed) void load();
        },
        onEvent(event) {
          let a: Alert;
          try {
            a = JSON.parse(event.data) as Alert;
          } catch {
            return;
          }
          if (!a?.id) return;
          alerts.set(a.id, a);
          loading?.arrived.push(a);
          render();
          if (selected === a.id) void open(a.id);
        },
      });
      void load();
      stream.start();
    },
    unmount() {
      stream?.stop();
      stream = null;
    },
  };
}
