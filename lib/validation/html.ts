import { esc } from '../html';
import type { ColumnProfile, Profile } from './profile';
import type { ValidationReport } from './report-shape';

/** A self-contained page a person can read: checks, bad rows, drift, and charts of the columns that moved. */

const COLOURS = { pass: '#2e7d32', warn: '#ed6c02', fail: '#d32f2f' } as const;

function badge(outcome: 'pass' | 'warn' | 'fail'): string {
  return `<span style="background:${COLOURS[outcome]};color:#fff;padding:1px 8px;border-radius:8px">${outcome}</span>`;
}

/** Side-by-side bars of reference and current shares. */
function chart(title: string, labels: string[], reference: number[], current: number[]): string {
  const width = 640;
  const height = 180;
  const pad = 30;
  const n = labels.length;
  const max = Math.max(1e-12, ...reference, ...current);
  const slot = (width - 2 * pad) / Math.max(1, n);
  const bar = Math.max(1, slot / 2 - 1);
  const y = (v: number): number => height - pad - ((height - 2 * pad) * v) / max;
  const bars = labels
    .map((label, i) => {
      const x = pad + i * slot;
      return (
        `<rect x="${x.toFixed(1)}" y="${y(reference[i]).toFixed(1)}" width="${bar.toFixed(1)}" height="${(height - pad - y(reference[i])).toFixed(1)}" fill="#90a4ae"><title>${esc(label)} reference ${(100 * reference[i]).toFixed(2)}%</title></rect>` +
        `<rect x="${(x + bar + 1).toFixed(1)}" y="${y(current[i]).toFixed(1)}" width="${bar.toFixed(1)}" height="${(height - pad - y(current[i])).toFixed(1)}" fill="#1976d2"><title>${esc(label)} current ${(100 * current[i]).toFixed(2)}%</title></rect>`
      );
    })
    .join('');
  const first = labels[0] ?? '';
  const last = labels[n - 1] ?? '';
  return `<figure><figcaption>${esc(title)} — <span style="color:#90a4ae">■ reference</span> <span style="color:#1976d2">■ current</span></figcaption>
<svg width="${width}" height="${height}" role="img" aria-label="${esc(title)}"><line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#999"/>${bars}
<text x="${pad}" y="${height - 8}" font-size="11">${esc(first)}</text><text x="${width - pad}" y="${height - 8}" font-size="11" text-anchor="end">${esc(last)}</text>
<text x="4" y="${pad - 10}" font-size="11">${(100 * max).toFixed(1)}%</text></svg></figure>`;
}

function columnChart(name: string, cur: ColumnProfile | undefined, ref: ColumnProfile | undefined): string {
  if (cur?.kind === 'numeric' && ref?.kind === 'numeric' && cur.histogram && ref.histogram) {
    const share = (counts: number[]): number[] => {
      const total = counts.reduce((a, b) => a + b, 0) || 1;
      return counts.map((c) => c / total);
    };
    const labels = cur.histogram.counts.map((_, i) => (cur.histogram!.edges[i] ?? 0).toPrecision(4));
    return chart(
      `${name} (values beyond the reference range: ${cur.histogram.underflow + cur.histogram.overflow})`,
      labels,
      share(ref.histogram.counts),
      share(cur.histogram.counts),
    );
  }
  if (cur?.kind === 'categorical' && ref?.kind === 'categorical') {
    const top = [...new Set([...Object.keys(ref.values).slice(0, 12), ...Object.keys(cur.values).slice(0, 12)])].slice(
      0,
      24,
    );
    return chart(
      name,
      top,
      top.map((k) => (ref.values[k] ?? 0) / Math.max(1, ref.count)),
      top.map((k) => (cur.values[k] ?? 0) / Math.max(1, cur.count)),
    );
  }
  if (cur?.kind === 'timestamp' && ref?.kind === 'timestamp') {
    const share = (counts: readonly number[]): number[] => {
      const total = counts.reduce((a, b) => a + b, 0) || 1;
      return counts.map((c) => c / total);
    };
    if (name.endsWith('(hour of day)') && cur.hourOfDay && ref.hourOfDay) {
      const hours = Array.from({ length: 24 }, (_, h) => String(h));
      return chart(name, hours, share(ref.hourOfDay), share(cur.hourOfDay));
    }
    if (name.endsWith('(day of week)') && cur.dayOfWeek && ref.dayOfWeek) {
      const days = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
      return chart(name, days, share(ref.dayOfWeek), share(cur.dayOfWeek));
    }
    return `<p>${esc(name)}: the batch runs from ${esc(cur.min ?? '?')} to ${esc(cur.max ?? '?')}; the reference from ${esc(ref.min ?? '?')} to ${esc(ref.max ?? '?')}</p>`;
  }
  return '';
}

export function renderReportHtml(report: ValidationReport, profile: Profile, reference: Profile | null): string {
  const checks = report.checks
    .map(
      (c) =>
        `<tr><td>${badge(c.outcome)}</td><td>${esc(c.name)}</td><td>${esc(c.column ?? '')}</td><td>${esc(c.detail)}</td></tr>`,
    )
    .join('\n');
  const samples = report.rows.samples
    .map((s) => `<tr><td>${s.row}</td><td>${esc(s.column)}</td><td>${esc(s.code)}</td><td>${esc(s.reason)}</td></tr>`)
    .join('\n');
  const drift = (report.drift?.columns ?? [])
    .map(
      (d) =>
        `<tr><td>${badge(d.outcome)}</td><td>${esc(d.column)}</td><td>${esc(d.method)}</td><td>${d.value.toFixed(4)}</td><td>${d.warn} / ${d.fail}</td><td>${Object.entries(
          d.statistics,
        )
          .map(([k, v]) => `${esc(k)} ${v.toPrecision(4)}`)
          .join(', ')}</td></tr>`,
    )
    .join('\n');
  const moved = (report.drift?.columns ?? []).filter((d) => d.outcome !== 'pass');
  const charts = reference
    ? moved
        .map((d) => {
          // "date (day of week)" is drawn from the profile of "date"
          const base = d.kind === 'calendar' ? d.column.replace(/ \((day of week|hour of day)\)$/, '') : d.column;
          return columnChart(
            d.column,
            profile.columns.find((c) => c.name === base),
            reference.columns.find((c) => c.name === base),
          );
        })
        .join('\n')
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Validation of ${esc(report.dataset.source)} for ${esc(report.model)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}figure{margin:1em 0}</style></head>
<body>
<h1>${badge(report.outcome)} ${esc(report.model)}: ${esc(report.dataset.source)}</h1>
<p>${esc(report.summary)}</p>
<p>snapshot <code>${esc(report.dataset.sha256)}</code>, ${report.dataset.rows} rows; contract <code>${esc(report.contractHash.slice(0, 16))}</code>;
reference ${report.reference ? `<code>${esc(report.reference.sha256.slice(0, 16))}</code> (${report.reference.kind}, ${report.reference.rows} rows)` : 'none (first batch)'}; trainable: ${report.trainable ? 'yes' : 'no'}</p>
<h2>Checks</h2><table><tr><th>outcome</th><th>check</th><th>column</th><th>detail</th></tr>${checks}</table>
<h2>Bad rows (${report.rows.badRows} of ${report.rows.checkedRows})</h2>
${samples ? `<table><tr><th>row</th><th>column</th><th>code</th><th>reason</th></tr>${samples}</table>` : '<p>none</p>'}
<h2>Drift</h2>
${drift ? `<table><tr><th>outcome</th><th>column</th><th>method</th><th>value</th><th>warn / fail</th><th>all statistics</th></tr>${drift}</table>` : '<p>no reference to compare with</p>'}
${charts ? `<h2>Columns that moved</h2>${charts}` : ''}
</body></html>
`;
}
