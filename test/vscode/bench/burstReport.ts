// The editor-burst benchmark's table (editor-burst.test.ts), as written to
// bench/results/editor-burst-host.txt and quoted in bench/README.md.
import * as os from 'node:os';
import * as vscode from 'vscode';
import { median, Sample } from './hostMeter';

export type Style = 'expanded' | 'collapsed' | 'bare' | 'idle';

const LABELS: Record<Style, string> = {
  expanded: 'the extension\'s tunnel, view shown, tunnel row expanded (a row per connection)',
  collapsed: 'the extension\'s tunnel, view shown, tunnel row collapsed (its count)',
  bare: 'the same engine on the same thread, nothing listening, no log',
  idle: 'no burst: the host idle',
};

export interface ReportInput {
  connections: number;
  reps: number;
  settleMs: number;
  idleMs: number;
  loadBefore: number[];
  loadAfter: number[];
  samples: Map<Style, Sample[]>;
}

export function report(r: ReportInput): string {
  const events = 2 * r.connections;
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
  const m = (style: Style, f: (s: Sample) => number | undefined) => {
    const xs = r.samples.get(style)!.map(f).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  const fixed = (x: number | undefined, digits: number) => (x === undefined ? 'n/a' : x.toFixed(digits));
  const cpu = (style: Style) => m(style, (s) => s.threadCpuMs);
  // The host's own background (VS Code's timers, this meter's 1 ms histogram) runs in every window:
  // per burst it is taken off at the idle rate, for the window's length.
  const idleRate = m('idle', (s) => (s.threadCpuMs === undefined ? undefined : s.threadCpuMs / s.windowMs)) ?? 0;
  const aboveIdle = (style: Style) => m(style, (s) => (s.threadCpuMs === undefined ? undefined : s.threadCpuMs - idleRate * s.windowMs));
  const lines = [
    `Editor burst in the extension host: ${r.connections} connections opened at once through one tunnel, one echo each, all ended; medians of ${r.reps}.`,
    `${new Date().toISOString()} · VS Code ${vscode.version} (${vscode.env.appHost}) · extension host Node ${process.version} · ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}`,
    `load average (1 / 5 / 15 min) before ${load(r.loadBefore)}, after ${load(r.loadAfter)}`,
    `window: first connect to the tunnel's last close, plus ${r.settleMs} ms for the coalesced redraws (idle: ${r.idleMs} ms); clients and backend in another process`,
    '',
    `idle rate of the host's main thread: ${(idleRate * 1000).toFixed(0)} ms of CPU per second, taken off for "above idle"; per open/close = above idle / ${events}`,
    '',
    '| on the extension host\'s main thread | main-thread CPU (ms) | above idle (ms) | per open/close (µs) | ELU | longest stall (ms) | p99 loop delay (ms) | burst wall time (ms) | process CPU, all threads (ms) | tree redraws | connection rows fetched |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const style of ['expanded', 'collapsed', 'bare', 'idle'] as Style[]) {
    const burst = style !== 'idle';
    const perEvent = burst ? fixed(((aboveIdle(style) ?? NaN) * 1000) / events, 0) : '–';
    const wall = burst ? fixed(m(style, (s) => s.wallMs), 0) : '–';
    lines.push(`| ${LABELS[style]} | ${fixed(cpu(style), 0)} | ${burst ? fixed(aboveIdle(style), 0) : '–'} | ${perEvent} | ${fixed(m(style, (s) => s.elu), 2)} | ${fixed(m(style, (s) => s.maxStallMs), 1)} | ${fixed(m(style, (s) => s.p99StallMs), 1)} | ${wall} | ${fixed(m(style, (s) => s.processCpuMs), 0)} | ${fixed(m(style, (s) => s.treeRedraws), 0)} | ${fixed(m(style, (s) => s.connectionRowsFetched), 0)} |`);
  }
  const bare = aboveIdle('bare');
  lines.push('');
  for (const style of ['expanded', 'collapsed'] as Style[]) {
    const row = aboveIdle(style);
    const extra = row !== undefined && bare !== undefined ? ((row - bare) * 1000) / events : undefined;
    lines.push(`the extension's own share, ${style}: ${fixed(extra, 0)} µs of main-thread CPU per open/close (above idle, the row minus the bare engine, over ${events} events)`);
  }
  lines.push('', 'samples (ms; elu 0–1):');
  const round = (s: Sample) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toFixed(k === 'elu' ? 3 : 1)) : v]));
  for (const [style, samples] of r.samples) lines.push(`${style}: ${JSON.stringify(samples.map(round))}`);
  return `${lines.join('\n')}\n`;
}
