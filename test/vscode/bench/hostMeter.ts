// What a stretch of work costs the thread this runs on (in the extension host: its main thread,
// where the extension and its tunnels run): CPU time of this thread, event loop utilization, and
// the longest the loop was stalled, from a 1 ms event-loop-delay histogram. Read, not asserted:
// the numbers belong to the machine (bench/README.md).
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export interface Sample {
  /** CPU time of this thread (process.threadCpuUsage, Node ≥ 23.9); undefined where Node lacks it. */
  threadCpuMs?: number;
  /** CPU time of the whole process, every thread (GC helpers, libuv's pool): context. */
  processCpuMs: number;
  /** Event loop utilization over the window (0–1). */
  elu: number;
  /** Longest event-loop delay seen (ms): how long the thread was once unable to run anything else. */
  maxStallMs: number;
  p99StallMs: number;
  /** The window measured (ms). */
  windowMs: number;
  /** What `work` reports as its own wall time (ms), e.g. the burst without the settle after it. */
  wallMs: number;
  /** Redraws the tree sent to the view in the window (set by the caller). */
  treeRedraws?: number;
  /** Connection rows the view asked the tree for in the window (set by the caller). */
  connectionRowsFetched?: number;
}

type ThreadCpu = (previous?: NodeJS.CpuUsage) => NodeJS.CpuUsage;
const threadCpuUsage = (process as unknown as { threadCpuUsage?: ThreadCpu }).threadCpuUsage?.bind(process);

/** Runs `work` (which resolves with its own wall time in ms) and measures this thread over it. */
export async function measure(work: () => Promise<number>): Promise<Sample> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const thread0 = threadCpuUsage?.();
  const process0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  delay.enable();
  let wallMs: number;
  try {
    wallMs = await work();
  } finally {
    delay.disable();
  }
  const windowMs = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const processCpu = process.cpuUsage(process0);
  const thread = threadCpuUsage?.(thread0);
  return {
    threadCpuMs: thread ? (thread.user + thread.system) / 1000 : undefined,
    processCpuMs: (processCpu.user + processCpu.system) / 1000,
    elu: elu.utilization,
    maxStallMs: delay.max / 1e6,
    p99StallMs: delay.percentile(99) / 1e6,
    windowMs,
    wallMs,
  };
}

export function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
