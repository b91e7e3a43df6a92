import { describeError } from '../api';
import { badge, field, formatAge, formatBytes, formatTime, h, notice, replace } from '../dom';
import type { Panel, PanelContext } from '../panel';

interface Backup {
  id: string;
  kind: string;
  startedAt: string;
  finishedAt: string;
  documents: number;
  bytes: number;
  collections: number;
  encrypted: boolean;
  verification: { at: string; ok: boolean; method: string; problems: string[] } | null;
  locations: string[];
}
interface Job {
  id: string;
  type: string;
  status: string;
  progress: {
    phase: string;
    collectionsDone: number;
    collectionsTotal: number;
    documentsDone: number;
    documentsTotal: number;
    etaSeconds: number | null;
  };
  result?: { backupId?: string; ok?: boolean; problems?: string[] } & Record<string, unknown>;
  error?: string | null;
}

const POLL_MS = 1000;
const DB_NAME = /^[A-Za-z0-9_-]{1,63}$/;

/** Backups: the catalogue, a manual backup with progress, verify, restore into a scratch database. */
export function backupsPanel(): Panel {
  const timers = new Set<number>();
  let active = false;
  return {
    id: 'backups',
    title: 'Backups',
    permission: 'backup:read:any',
    mount(el: HTMLElement, ctx: PanelContext) {
      active = true;
      // Starting and verifying need backup:create, restoring backup:restore: shown only when held.
      const mayCreate = ctx.can('backup:create:any');
      const mayRestore = ctx.can('backup:restore:any');
      const list = h('div', { id: 'backups-list' });
      const message = h('div', { class: 'notice', role: 'status' });
      const progressText = h('p', { id: 'backup-progress-text', role: 'status' });
      const bar = h('progress', { id: 'backup-progress', max: 100, value: 0, 'aria-label': 'Backup job progress' });
      const jobBox = h('div', { id: 'backup-job', class: 'job', hidden: true }, bar, progressText);
      const start = h('button', { type: 'button', id: 'backup-start' }, 'Start a manual backup');

      const load = async () => {
        try {
          const { items } = await ctx.api.get<{ items: Backup[] }>('/admin/backups');
          renderList(items);
        } catch (err) {
          notice(message, describeError(err), 'error');
        }
      };

      /** Polls a job until it ends; the bar and the text show phase, counts and ETA meanwhile. */
      const watch = (jobId: string, what: string): Promise<Job> =>
        new Promise((resolve, reject) => {
          jobBox.hidden = false;
          const tick = async () => {
            if (!active) return;
            try {
              const job = await ctx.api.get<Job>(`/admin/backups/jobs/${encodeURIComponent(jobId)}`);
              const p = job.progress;
              const pct = p.documentsTotal > 0 ? Math.round((100 * p.documentsDone) / p.documentsTotal) : 0;
              bar.value = job.status === 'succeeded' ? 100 : pct;
              progressText.textContent =
                `${what}: ${job.status}, ${p.phase}, ${p.collectionsDone}/${p.collectionsTotal} collections, ` +
                `${p.documentsDone}/${p.documentsTotal} documents` +
                (p.etaSeconds !== null && job.status === 'running' ? `, about ${p.etaSeconds} s left` : '');
              progressText.setAttribute('data-status', job.status);
              if (job.status === 'running') {
                const t = window.setTimeout(() => void tick(), POLL_MS);
                timers.add(t);
                return;
              }
              resolve(job);
            } catch (err) {
              reject(err);
            }
          };
          void tick();
        });

      const run = async (what: string, path: string, body: unknown = {}) => {
        try {
          const { jobId } = await ctx.api.post<{ jobId: string }>(path, body);
          const job = await watch(jobId, what);
          if (job.status === 'succeeded') notice(message, `${what} succeeded.`, 'ok');
          else notice(message, `${what} ${job.status}${job.error ? `: ${job.error}` : ''}.`, 'error');
          await load();
        } catch (err) {
          notice(message, describeError(err), 'error');
        }
      };

      const restoreForm = (b: Backup): HTMLElement => {
        // The pattern attribute is compiled with the `v` flag, where a bare `-` in a class is an error.
        const target = h('input', { name: 'toDb', required: true, pattern: '[A-Za-z0-9_\\-]{1,63}', maxlength: 63 });
        target.value = `restore_${b.id.replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, 63);
        return h(
          'form',
          {
            class: 'row restore',
            onsubmit: (e: Event) => {
              e.preventDefault();
              if (!DB_NAME.test(target.value))
                return notice(message, 'Letters, digits, "_" or "-", at most 63.', 'error');
              void run(
                `Restore of ${b.id} into ${target.value}`,
                `/admin/backups/${encodeURIComponent(b.id)}/restore`,
                {
                  toDb: target.value,
                },
              );
            },
          },
          field(`Scratch database for ${b.id}`, target, 'Restoring over the live database is CLI-only.'),
          h('button', { type: 'submit', class: 'secondary' }, 'Restore'),
        );
      };

      const renderList = (items: Backup[]) => {
        replace(
          list,
          items.length
            ? h(
                'table',
                {},
                h('caption', {}, `${items.length} backup${items.length === 1 ? '' : 's'}`),
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    ...['Backup', 'Kind', 'Size', 'Age', 'Verification', 'Actions'].map((c) =>
                      h('th', { scope: 'col' }, c),
                    ),
                  ),
                ),
                h(
                  'tbody',
                  {},
                  ...items.map((b) =>
                    h(
                      'tr',
                      { 'data-backup-id': b.id },
                      h('th', { scope: 'row' }, b.id),
                      h('td', {}, b.kind),
                      h('td', {}, `${formatBytes(b.bytes)}, ${b.documents} docs`),
                      h('td', { title: formatTime(b.finishedAt) }, formatAge(b.finishedAt)),
                      h(
                        'td',
                        { class: 'verification' },
                        b.verification
                          ? h(
                              'span',
                              {},
                              badge(b.verification.ok ? 'pass' : 'fail'),
                              ` ${b.verification.ok ? 'verified' : 'verification failed'} (${b.verification.method}, ${formatAge(b.verification.at)})`,
                            )
                          : 'not verified',
                      ),
                      h(
                        'td',
                        {},
                        mayCreate
                          ? h(
                              'button',
                              {
                                type: 'button',
                                class: 'secondary verify',
                                onclick: () =>
                                  void run(
                                    `Verification of ${b.id}`,
                                    `/admin/backups/${encodeURIComponent(b.id)}/verify`,
                                  ),
                              },
                              'Verify',
                              h('span', { class: 'visually-hidden' }, ` ${b.id}`),
                            )
                          : null,
                        mayRestore ? restoreForm(b) : null,
                        mayCreate || mayRestore ? null : '—',
                      ),
                    ),
                  ),
                ),
              )
            : h('p', {}, 'No backups yet.'),
        );
      };

      start.addEventListener('click', () => void run('Manual backup', '/admin/backups'));
      replace(el, h('h2', {}, 'Backups'), message, mayCreate ? h('div', { class: 'row' }, start) : null, jobBox, list);
      void load();
    },
    unmount() {
      active = false;
      for (const t of timers) window.clearTimeout(t);
      timers.clear();
    },
  };
}
