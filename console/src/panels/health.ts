import uPlot from 'uplot';
import { describeError } from '../api';
import { badge, formatTime, h, notice, replace } from '../dom';
import type { Panel, PanelContext } from '../panel';

interface CheckResult {
  componentId: string;
  observedValue?: number | string;
  observedUnit?: string;
  status: string;
  output?: string;
  /** `{warn, fail}` where the check grades a number against limits. */
  limits?: { warn: number; fail: number };
}
interface HealthReport {
  status: string;
  instance?: string;
  checks: Record<string, CheckResult[]>;
  notes?: string[];
  recommendations?: Array<{ rule: string; checks: string[]; advice: string }>;
}
interface HistoryBucket {
  start: string;
  samples: number;
  avg: number | null;
  max: number | null;
  worst: string;
}
interface History {
  series: Array<{ check: string; unit?: string; buckets: HistoryBucket[] }>;
}

const DAY_MS = 86_400_000;
/** Buckets of 15 minutes: 96 points per chart for the last 24 hours. */
const INTERVAL_S = 900;
const REFRESH_MS = 15_000;

function valueText(c: CheckResult): string {
  if (c.observedValue === undefined) return '—';
  return `${c.observedValue}${c.observedUnit ? ` ${c.observedUnit}` : ''}`;
}

function limitsText(c: CheckResult): string {
  return c.limits
    ? `warn ≥ ${c.limits.warn}, fail ≥ ${c.limits.fail}${c.observedUnit ? ` ${c.observedUnit}` : ''}`
    : '—';
}

/** Health: every check now (value, threshold, advice) and 24 h charts of the numeric ones. */
export function healthPanel(): Panel {
  let timer: number | undefined;
  const charts: uPlot[] = [];
  return {
    id: 'health',
    title: 'Health',
    permission: 'health:read:any',
    mount(el: HTMLElement, ctx: PanelContext) {
      const summary = h('div', { id: 'health-summary' });
      const table = h('div', { id: 'health-checks' });
      const chartsEl = h('div', { id: 'health-charts', class: 'charts' });
      const message = h('div', { class: 'notice', role: 'status' });
      replace(
        el,
        h('h2', {}, 'Health'),
        message,
        summary,
        table,
        h('h3', {}, 'Last 24 hours'),
        h('p', { class: 'hint' }, 'Average and maximum per 15 minutes.'),
        chartsEl,
      );

      const load = async () => {
        try {
          renderNow(await ctx.api.get<HealthReport>('/health/report'));
        } catch (err) {
          notice(message, describeError(err), 'error');
        }
      };

      const renderNow = (report: HealthReport) => {
        replace(
          summary,
          h(
            'p',
            { class: 'overall' },
            'Overall: ',
            badge(report.status),
            report.instance ? ` — answered by ${report.instance}` : '',
          ),
          ...(report.notes ?? []).map((n) => h('p', { class: 'hint' }, n)),
        );
        const advice = new Map<string, string[]>();
        for (const r of report.recommendations ?? [])
          for (const c of r.checks) advice.set(c, [...(advice.get(c) ?? []), r.advice]);
        const rows = Object.entries(report.checks)
          .sort(([a], [b]) => a.localeCompare(b))
          .flatMap(([key, results]) =>
            results.map((c) =>
              h(
                'tr',
                { 'data-check': key, class: `status-${c.status}` },
                h('th', { scope: 'row' }, key),
                h('td', {}, badge(c.status)),
                h('td', {}, valueText(c)),
                h('td', {}, limitsText(c)),
                h(
                  'td',
                  {},
                  c.output ? h('div', {}, c.output) : null,
                  ...(advice.get(key) ?? []).map((a) => h('div', { class: 'advice' }, h('strong', {}, 'Advice: '), a)),
                ),
              ),
            ),
          );
        replace(
          table,
          h(
            'table',
            {},
            h('caption', {}, 'Checks now'),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', { scope: 'col' }, 'Check'),
                h('th', { scope: 'col' }, 'Status'),
                h('th', { scope: 'col' }, 'Value'),
                h('th', { scope: 'col' }, 'Threshold'),
                h('th', { scope: 'col' }, 'Why / what to do'),
              ),
            ),
            h('tbody', {}, ...rows),
          ),
        );
        return Object.entries(report.checks)
          .filter(([, r]) => r.some((c) => typeof c.observedValue === 'number'))
          .map(([key]) => key);
      };

      const loadCharts = async () => {
        const body = await ctx.api.get<HealthReport>('/health/report');
        const numeric = renderNow(body);
        const limitsOf = new Map<string, { warn: number; fail: number }>();
        for (const [key, results] of Object.entries(body.checks))
          if (results[0]?.limits) limitsOf.set(key, results[0].limits);
        const components = [...new Set(numeric.map((k) => k.split(':')[0]))];
        const since = new Date(Date.now() - DAY_MS).toISOString();
        const histories = await Promise.all(
          components.map((c) =>
            ctx.api
              .get<History>(`/health/history?component=${encodeURIComponent(c)}&since=${since}&interval=${INTERVAL_S}`)
              .catch(() => ({ series: [] }) as History),
          ),
        );
        for (const c of charts.splice(0)) c.destroy();
        replace(chartsEl);
        for (const series of histories.flatMap((x) => x.series)) {
          if (!numeric.includes(series.check)) continue;
          const figure = h('figure', { class: 'chart', 'data-chart': series.check });
          const values = series.buckets.map((b) => b.max).filter((v): v is number => v !== null);
          const caption = values.length
            ? `${series.check}: ${series.buckets.length} intervals, highest ${Math.round(Math.max(...values) * 100) / 100}${series.unit ? ` ${series.unit}` : ''}`
            : `${series.check}: no samples yet`;
          chartsEl.appendChild(figure);
          const nowS = Date.now() / 1000;
          const dataMax = Math.max(0, ...series.buckets.map((b) => b.max ?? 0));
          // The fail limit as a line when it is in sight of the data; far above it, the caption says it.
          const limits = limitsOf.get(series.check);
          const drawLimit = limits !== undefined && limits.fail <= Math.max(dataMax * 3, 1);
          const xs = series.buckets.map((b) => new Date(b.start).getTime() / 1000);
          const plot = new uPlot(
            {
              width: Math.max(220, figure.clientWidth - 16),
              height: 140,
              legend: { show: false },
              cursor: { show: false },
              // Always the full 24 hours, however few samples there are yet.
              scales: { x: { time: true, range: () => [nowS - DAY_MS / 1000, nowS] } },
              series: [
                {},
                { label: 'avg', stroke: '#1f5fa8', width: 2 },
                { label: 'max', stroke: '#8a4b00', width: 1, dash: [4, 3] },
                ...(drawLimit ? [{ label: 'fail limit', stroke: '#a4161a', width: 1, dash: [1, 3] }] : []),
              ],
              axes: [{}, { size: 72 }],
            },
            [
              xs,
              series.buckets.map((b) => b.avg),
              series.buckets.map((b) => b.max),
              ...(drawLimit && limits ? [xs.map(() => limits.fail)] : []),
            ],
            figure,
          );
          plot.root.setAttribute('aria-hidden', 'true');
          charts.push(plot);
          figure.appendChild(
            h(
              'figcaption',
              {},
              caption,
              ' (solid: average, dashed: maximum',
              drawLimit ? `, dotted: fail limit ${limits?.fail})` : limits ? `; fail limit ${limits.fail})` : ')',
            ),
          );
        }
        if (!chartsEl.firstChild) replace(chartsEl, h('p', {}, 'No history yet.'));
        notice(message, `Updated ${formatTime(new Date().toISOString())}`, 'info');
      };

      void loadCharts().catch((err: unknown) => notice(message, describeError(err), 'error'));
      timer = window.setInterval(() => void load(), REFRESH_MS);
    },
    unmount() {
      window.clearInterval(timer);
      for (const c of charts.splice(0)) c.destroy();
    },
  };
}
