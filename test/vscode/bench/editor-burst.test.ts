// Issue 14, "bursts in the editor": what 1000 connections opened at once through one running
// tunnel (each echoes once, then all close) cost the extension host's main thread, with the real
// extension active: its tree, status bar, problems and log all listening. The clients and the
// mTLS echo backend run in another process (burstLoad.ts), so this thread carries only what a
// user's editor would: the tunnel (accept, upstream TLS, piping) and the extension's reactions.
//
// Each repetition runs, in rotated order:
//   expanded   the extension's tunnel, its view shown with the tunnel row expanded: every open
//              connection is a row the view may ask for at each (coalesced) redraw (the table
//              counts the rows it did ask for)
//   collapsed  the same tunnel, view shown, row collapsed: the user sees the row's count
//   bare       the same engine on the same thread with nothing extra: a TunnelManager of this
//              test's own, same settings, no listener on its events and no log
//   idle       no burst: the host's own background over a 3 s window
// Results go to MTLS_TUNNELS_BENCH_OUT (runTests.ts's bench-burst pass; `npm run bench:editor`)
// and the log; then one unmeasured burst leaves screenshots of the expanded view during and after
// it. Asserted: every connection echoed and closed on both sides, the tunnel counted them and is
// back at 0 open, and the tree and status bar say so. Nothing is timed.
import * as assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'mocha';
import * as vscode from 'vscode';
import { parseTunnels } from '../../../src/core/config/parse';
import { TunnelManager } from '../../../src/core/manager';
import { createThrowawayPki, ThrowawayPki } from '../../../src/core/pki/testPki';
import type { TestApi } from '../../../src/extension';
import type { TunnelItem } from '../../../src/vscode/tunnelTree';
import { waitFor, withTunnels } from '../suite/fixture';
import { screenshot } from '../suite/screenshot';
import type { BurstDone, BurstRequest } from './burstLoad';
import { measure, Sample } from './hostMeter';
import { report, Style } from './burstReport';

const CONNECTIONS = Number(process.env.MTLS_TUNNELS_BENCH_CONNECTIONS ?? 1000);
const REPS = Number(process.env.MTLS_TUNNELS_BENCH_REPS ?? 3);
/** Measured after the last close, the same for every row: the tree's 50 ms coalesced redraw and the view's fetch. */
const SETTLE_MS = 300;
const IDLE_MS = 3000;
const STYLES: Style[] = ['expanded', 'collapsed', 'bare', 'idle'];

/** The other process: backend and clients. */
class LoadProcess {
  private constructor(private readonly child: ReturnType<typeof fork>, readonly backendPort: number) {}

  static start(pki: ThrowawayPki): Promise<LoadProcess> {
    // execArgv: [] so no debugger flag of the host's is inherited; ELECTRON_RUN_AS_NODE for a desktop host.
    const child = fork(path.join(__dirname, 'burstLoad.js'), [JSON.stringify(pki)], {
      execPath: process.execPath, execArgv: [], env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`the load process exited (${code}) before its backend listened`)));
      child.once('message', (m: { ready: number }) => resolve(new LoadProcess(child, m.ready)));
    });
  }

  burst(port: number): Promise<BurstDone['done']> {
    return new Promise((resolve, reject) => {
      const exited = (code: number | null) => reject(new Error(`the load process exited (${code}) during a burst`));
      this.child.once('exit', exited);
      this.child.once('message', (m: BurstDone) => {
        this.child.off('exit', exited);
        resolve(m.done);
      });
      this.child.send({ burst: { port, connections: CONNECTIONS } } satisfies BurstRequest);
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.send({ exit: true });
    });
  }
}

/** Resolves once the tunnel counts no open connection, on its own events (no polling inside the window). */
function allClosed(manager: TunnelManager, name: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if ((manager.entry(name)?.counts?.openConnections ?? 0) > 0) return;
      manager.off('changed', check);
      resolve();
    };
    manager.on('changed', check);
    check();
  });
}

/** One burst through `name`: wall time from the first connect to the tunnel's last close. */
async function burstThrough(load: LoadProcess, manager: TunnelManager, name: string): Promise<number> {
  const before = manager.entry(name)!.counts!.totalConnections;
  const port = manager.tunnel(name)!.address()!.port;
  const t0 = performance.now();
  const done = await load.burst(port);
  await allClosed(manager, name);
  const wallMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  assert.deepEqual(done.errors, [], `${name}: connections that failed`);
  assert.equal(done.echoed, CONNECTIONS, `${name}: connections echoed and closed`);
  assert.equal(manager.entry(name)!.counts!.totalConnections - before, CONNECTIONS, `${name}: connections the tunnel counted`);
  return wallMs;
}

describe('a burst of connections in the editor (benchmark)', () => {
  let pki: ThrowawayPki;
  let dir: string;
  let load: LoadProcess;
  before(async function () {
    this.timeout(60_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtls-bench-burst-'));
    pki = await createThrowawayPki(dir);
    load = await LoadProcess.start(pki);
  });
  after(async () => {
    await load?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`${CONNECTIONS} connections opened at once, each echoing once, then all closed`, async function () {
    this.timeout(900_000);
    const entry = {
      name: 'burst', listen: 0, target: `127.0.0.1:${load.backendPort}`, serverName: 'localhost',
      cert: pki.client.cert, key: pki.client.key, ca: pki.ca, connectTimeoutMs: 60_000,
    };
    const loadBefore = os.loadavg();
    const bare = new TunnelManager({});
    const { tunnels, errors } = parseTunnels([{ ...entry, name: 'bare' }]);
    assert.deepEqual(errors, []);
    bare.apply(tunnels);
    await bare.start('bare');
    try {
      await withTunnels([entry], async (api) => {
        await vscode.commands.executeCommand('mtlsTunnels.start', 'burst');
        await vscode.commands.executeCommand('workbench.view.extension.mtlsTunnels');
        const view = new RowState(api);
        try {
          const samples = new Map<Style, Sample[]>(STYLES.map((s) => [s, []]));
          const run = async (style: Style): Promise<Sample> => {
            if (style === 'expanded' || style === 'collapsed') await view.set(style);
            let redraws = 0;
            const counting = api.tree.onDidChangeTreeData(() => redraws++);
            view.rowsFetched = 0;
            const sample = await measure(async () => {
              if (style === 'idle') {
                await new Promise((r) => setTimeout(r, IDLE_MS));
                return IDLE_MS;
              }
              return style === 'bare' ? burstThrough(load, bare, 'bare') : burstThrough(load, api.manager, 'burst');
            });
            counting.dispose();
            const fetched = view.rowsFetched;
            if (style === 'expanded' || style === 'collapsed') await view.assertNoneOpen(style);
            return { ...sample, treeRedraws: redraws, connectionRowsFetched: fetched };
          };
          // Warm-up, not recorded: the first burst through each tunnel (JIT, TLS session caches, the view's first rows).
          await run('expanded');
          await run('bare');
          for (let rep = 0; rep < REPS; rep++) {
            for (let k = 0; k < STYLES.length; k++) {
              const style = STYLES[(rep + k) % STYLES.length];
              const sample = await run(style);
              samples.get(style)!.push(sample);
              console.log(`bench-burst rep ${rep + 1} ${style}: ${JSON.stringify(sample)}`);
            }
          }
          await whatTheUserSees(api, view, load);
          const text = report({ connections: CONNECTIONS, reps: REPS, settleMs: SETTLE_MS, idleMs: IDLE_MS, loadBefore, loadAfter: os.loadavg(), samples });
          console.log(text);
          const out = process.env.MTLS_TUNNELS_BENCH_OUT;
          if (out) {
            fs.mkdirSync(path.dirname(out), { recursive: true });
            fs.writeFileSync(out, text);
          }
        } finally {
          view.dispose();
        }
      });
    } finally {
      await bare.dispose();
    }
  });
});

/**
 * Not measured: one more burst with the row expanded, with screenshots of the view while the
 * connections are open and after they closed (test-results/bench-burst-*.png).
 */
async function whatTheUserSees(api: TestApi, view: RowState, load: LoadProcess): Promise<void> {
  await view.set('expanded');
  let peaked: () => void = () => undefined;
  const peak = new Promise<void>((resolve) => (peaked = resolve));
  const check = () => {
    if ((api.manager.entry('burst')?.counts?.openConnections ?? 0) >= CONNECTIONS) peaked();
  };
  api.manager.on('changed', check);
  try {
    const bursting = burstThrough(load, api.manager, 'burst');
    await Promise.race([peak, bursting]);
    await screenshot('bench-burst-during');
    await bursting;
  } finally {
    api.manager.off('changed', check);
  }
  await view.assertNoneOpen('expanded');
  await screenshot('bench-burst-after');
}

/**
 * The tunnel row as the user has it in the view, expanded or collapsed, followed through the
 * view's own events (VS Code remembers a row's state by its id).
 */
class RowState implements vscode.Disposable {
  private expanded = false;
  /** Connection rows the view has asked for (the tree's own getChildren, counted on the way out). */
  rowsFetched = 0;
  private readonly disposables: vscode.Disposable[];

  constructor(private readonly api: TestApi) {
    const follow = (to: boolean) => (e: vscode.TreeViewExpansionEvent<unknown>) => {
      if ((e.element as TunnelItem).tunnelName === 'burst') this.expanded = to;
    };
    const tree = api.tree;
    const getChildren = tree.getChildren;
    tree.getChildren = (node) => {
      const children = getChildren.call(tree, node);
      this.rowsFetched += children.filter((c) => c.contextValue?.startsWith('connection:')).length;
      return children;
    };
    this.disposables = [
      api.view.onDidExpandElement(follow(true)), api.view.onDidCollapseElement(follow(false)),
      { dispose: () => void (tree.getChildren = getChildren) },
    ];
  }

  async set(style: 'expanded' | 'collapsed'): Promise<void> {
    const want = style === 'expanded';
    if (this.expanded === want) return;
    const row = this.api.tree.tunnelItem('burst')!;
    if (want) {
      await this.api.view.reveal(row, { expand: true });
    } else {
      // No API collapses a row: select it, focus the view, and collapse as the keyboard does.
      await this.api.view.reveal(row, { select: true, focus: true });
      await vscode.commands.executeCommand('list.collapse');
    }
    await waitFor(() => this.expanded === want, `the tunnel row to be ${style}`);
    await this.api.tree.whenIdle();
  }

  /** After a burst: the tree's row counts nothing open, no connection row is left, the status bar says the tunnel is up. */
  async assertNoneOpen(style: string): Promise<void> {
    await this.api.tree.whenIdle();
    const row = this.api.tree.tunnelItem('burst')!;
    assert.equal(this.api.manager.entry('burst')!.counts!.openConnections, 0, `${style}: open connections after the burst`);
    assert.doesNotMatch(String(row.description), /open/, `${style}: the tunnel row after the burst`);
    assert.equal(this.api.tree.getChildren(row).filter((c) => c.contextValue?.startsWith('connection:')).length, 0, `${style}: connection rows after the burst`);
    assert.equal(this.api.statusBarText(), '$(lock) 1 tunnel up', `${style}: the status bar after the burst`);
    assert.equal(this.expanded, style === 'expanded', `${style}: the row kept its state through the burst`);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
