import { describeError } from '../api';
import { badge, field, formatTime, h, notice, replace } from '../dom';
import type { Panel, PanelContext } from '../panel';

interface AuditEntry {
  seq: number;
  at: string;
  actorId: string | null;
  actorRole: string | null;
  action: string;
  resource: string | null;
  resourceId: string | null;
  outcome: string;
  details?: Record<string, unknown>;
}
interface Verification {
  intact: boolean;
  checked: number;
  headSeq: number;
  externalHeadSeq?: number;
  breakAt?: { seq: number; reason: string };
}

const PAGE = 50;

/** `datetime-local` gives local wall time without a zone; the API wants an instant. */
const instant = (v: string): string | null => (v ? new Date(v).toISOString() : null);

/** Audit trail: search by actor, action, resource and time; verify the hash chain. */
export function auditPanel(): Panel {
  return {
    id: 'audit',
    title: 'Audit trail',
    permission: 'audit:read:any',
    mount(el: HTMLElement, ctx: PanelContext) {
      const inputs = {
        actorId: h('input', { name: 'actorId', maxlength: 64 }),
        action: h('input', {
          name: 'action',
          maxlength: 64,
          pattern: '[a-z0-9.\\-]{1,64}',
          placeholder: 'e.g. alert.acknowledged',
        }),
        resource: h('input', { name: 'resource', maxlength: 32, pattern: '[a-z\\-]{1,32}', placeholder: 'e.g. alert' }),
        resourceId: h('input', { name: 'resourceId', maxlength: 64 }),
        from: h('input', { name: 'from', type: 'datetime-local' }),
        to: h('input', { name: 'to', type: 'datetime-local' }),
      };
      const results = h('div', { id: 'audit-results' });
      const message = h('div', { class: 'notice', role: 'status' });
      const chain = h('div', { id: 'audit-chain', role: 'status' });
      let page = 1;

      const search = async () => {
        const q = new URLSearchParams({ page: String(page), limit: String(PAGE) });
        for (const k of ['actorId', 'action', 'resource', 'resourceId'] as const)
          if (inputs[k].value.trim()) q.set(k, inputs[k].value.trim());
        for (const k of ['from', 'to'] as const) {
          const v = instant(inputs[k].value);
          if (v) q.set(k, v);
        }
        try {
          const res = await ctx.api.get<{ items: AuditEntry[]; total: number }>(`/audit?${q}`);
          render(res.items, res.total);
          // What the shown results answer (tests and bookmarks read it; the form may have changed since).
          results.setAttribute('data-query', q.toString());
        } catch (err) {
          notice(message, describeError(err), 'error');
        }
      };

      const render = (items: AuditEntry[], total: number) => {
        const pages = Math.max(1, Math.ceil(total / PAGE));
        replace(
          results,
          h('p', { role: 'status' }, `${total} entr${total === 1 ? 'y' : 'ies'} found, page ${page} of ${pages}.`),
          items.length
            ? h(
                'table',
                {},
                h('caption', {}, 'Audit entries, newest first'),
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    ...['#', 'When', 'Actor', 'Action', 'Resource', 'Outcome', 'Details'].map((c) =>
                      h('th', { scope: 'col' }, c),
                    ),
                  ),
                ),
                h(
                  'tbody',
                  {},
                  ...items.map((e) =>
                    h(
                      'tr',
                      { 'data-seq': e.seq, 'data-action': e.action },
                      h('th', { scope: 'row' }, String(e.seq)),
                      h('td', {}, formatTime(e.at)),
                      h('td', {}, e.actorId ? `${e.actorId}${e.actorRole ? ` (${e.actorRole})` : ''}` : 'system'),
                      h('td', {}, e.action),
                      h('td', {}, [e.resource, e.resourceId].filter(Boolean).join(' ') || '—'),
                      h('td', {}, badge(e.outcome)),
                      h(
                        'td',
                        { class: 'details' },
                        e.details && Object.keys(e.details).length ? JSON.stringify(e.details) : '—',
                      ),
                    ),
                  ),
                ),
              )
            : null,
          h(
            'div',
            { class: 'row' },
            h(
              'button',
              { type: 'button', class: 'secondary', disabled: page <= 1, onclick: () => void ((page -= 1), search()) },
              'Newer',
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                disabled: page >= pages,
                onclick: () => void ((page += 1), search()),
              },
              'Older',
            ),
          ),
        );
      };

      const verify = async () => {
        replace(chain, 'Verifying…');
        try {
          const v = await ctx.api.get<Verification>('/audit/verify');
          replace(
            chain,
            badge(v.intact ? 'pass' : 'fail'),
            v.intact
              ? ` Chain intact: ${v.checked} entries checked, head #${v.headSeq}${v.externalHeadSeq !== undefined ? `, signed external head #${v.externalHeadSeq}` : ''}.`
              : ` Chain broken at #${v.breakAt?.seq ?? '?'} (${v.breakAt?.reason ?? 'unknown'}); ${v.checked} entries checked.`,
          );
          chain.setAttribute('data-intact', String(v.intact));
        } catch (err) {
          replace(chain, describeError(err));
        }
      };

      replace(
        el,
        h('h2', {}, 'Audit trail'),
        message,
        h(
          'form',
          {
            id: 'audit-search',
            class: 'filters',
            onsubmit: (e: Event) => {
              e.preventDefault();
              page = 1;
              void search();
            },
          },
          field('Actor id', inputs.actorId),
          field('Action', inputs.action),
          field('Resource', inputs.resource),
          field('Resource id', inputs.resourceId),
          field('From', inputs.from),
          field('To', inputs.to),
          h('button', { type: 'submit' }, 'Search'),
        ),
        // Verifying the chain needs audit:verify, which a read-only auditor role may lack.
        ctx.can('audit:verify:any')
          ? h(
              'div',
              { class: 'row' },
              h(
                'button',
                { type: 'button', id: 'audit-verify', class: 'secondary', onclick: () => void verify() },
                'Verify the chain',
              ),
              chain,
            )
          : null,
        results,
      );
      void search();
    },
    unmount() {
      // nothing running between searches
    },
  };
}
