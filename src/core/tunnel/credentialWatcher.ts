/**
 * Notices when a tunnel's credential files are renewed on disk, however the renewal writes them:
 * - in place, or by renaming a new file over the old one (editors, `mv`, step, vault agent), which
 *   ends a watch on the file itself: so folders are watched, never files (also what macOS and
 *   Windows need);
 * - behind symlinks (certbot's `live/` links into `archive/`): the folder of every link on the way
 *   and of the file it finally resolves to are watched, and worked out again after every change;
 * - Kubernetes' atomic writer (secrets, configmaps, cert-manager certificates mounted as volumes):
 *   `tls.crt -> ..data/tls.crt`, `..data -> ..2026_12_02_…`; a renewal writes a new timestamped
 *   folder, renames a new `..data_tmp` link over `..data` and deletes the old folder. No event
 *   names `tls.crt` then, so what a look compares is each file's fingerprint: where it resolves
 *   to, its inode, size and modification time;
 * - where change events never arrive (network shares, some WSL and container mounts): the same
 *   look also runs every `pollMs` (5 s by default), a few stat calls per file.
 * Events are debounced because one renewal touches cert and key a few milliseconds apart.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TunnelConfig } from '../config/model';

/** How often the files are looked at whatever the change events say: a few stat calls per file. */
export const DEFAULT_POLL_MS = 5000;

export interface CredentialWatchOptions {
  /** Quiet time after the last change event before the files are looked at (default 250 ms). */
  debounceMs?: number;
  /** Look at the files this often even without events (default DEFAULT_POLL_MS; 0: never). */
  pollMs?: number;
  /** Listen for change events (default true); false leaves the polling alone, as on a network share. */
  events?: boolean;
}

/** The files a tunnel's credentials are read from, as `loadCredentials` reads them. */
export function credentialFiles(config: Pick<TunnelConfig, 'cert' | 'key' | 'pfx' | 'ca' | 'crl'>): string[] {
  const identity = config.pfx ? [config.pfx] : [config.cert, config.key];
  // A CRL is replaced as often as its CA publishes one: new connections check against the new one.
  return [...identity, config.ca, config.crl].filter((f): f is string => typeof f === 'string' && f.length > 0);
}

type PathApi = Pick<typeof path, 'dirname' | 'basename' | 'resolve'>;

/**
 * Where a symlink points: its target read against the link's own folder. Windows may hand back
 * an absolute target in its `\\?\C:\…` long form, which names the same file as `C:\…`.
 */
export function linkTarget(api: PathApi, link: string, target: string): string {
  const plain = /^\\\\\?\\[A-Za-z]:/.test(target) ? target.slice(4) : target;
  return api.resolve(api.dirname(link), plain);
}

/** One place a file or a link on its way sits: the real folder (what is watched) and the name in it. */
export interface Place {
  dir: string;
  name: string;
}

/** What one look found about one configured file. */
export interface FileLook {
  /** Changes when the file is renewed: where it resolves to, inode, size, mtime (or why it is missing). */
  fingerprint: string;
  places: Place[];
}

/**
 * The folders to watch, each with the names in it that belong to the files: an event naming one of
 * them counts as a change even when the fingerprint cannot tell (a file rewritten within the
 * filesystem's mtime granularity). Windows and macOS compare names without case.
 */
export function watchPlan(places: Place[], foldCase: boolean): Map<string, Set<string>> {
  const plan = new Map<string, Set<string>>();
  const dirs = new Map<string, string>();
  for (const { dir, name } of places) {
    const key = foldCase ? dir.toLowerCase() : dir;
    const at = dirs.get(key) ?? dir;
    dirs.set(key, at);
    if (!plan.has(at)) plan.set(at, new Set());
    plan.get(at)!.add(foldCase ? name.toLowerCase() : name);
  }
  return plan;
}

/** The file system calls a look makes, one at a time, so the same steps run synchronously or not. */
type Step = ['lstat' | 'readlink' | 'realpath' | 'stat', string];
type Steps = Generator<Step, FileLook, string | fs.Stats>;

/** The most links followed from one configured path (the kernel's own limit is 40). */
const MAX_HOPS = 16;

/** Follows `file`'s own links one hop at a time (each hop's folder is watched), then fingerprints it. */
function* lookAt(file: string): Steps {
  const hops = [file];
  for (let at = file; hops.length <= MAX_HOPS; ) {
    // lstat first: a regular file (the usual case) then costs no thrown error.
    let target: string;
    try {
      if (!((yield ['lstat', at]) as fs.Stats).isSymbolicLink()) break;
      target = (yield ['readlink', at]) as string;
    } catch {
      break; // not there: the last hop
    }
    at = linkTarget(path, at, target);
    hops.push(at);
  }
  const places: Place[] = [];
  const placeOf = function* (p: string): Generator<Step, void, string | fs.Stats> {
    try {
      places.push({ dir: (yield ['realpath', path.dirname(p)]) as string, name: path.basename(p) });
    } catch {
      // A folder that is not there cannot be watched; the polling still sees it appear.
    }
  };
  for (const hop of hops) yield* placeOf(hop);
  let fingerprint: string;
  try {
    const real = (yield ['realpath', file]) as string;
    const s = (yield ['stat', real]) as fs.Stats;
    places.push({ dir: path.dirname(real), name: path.basename(real) }); // real already: no realpath
    fingerprint = `${real}\0${s.ino}\0${s.size}\0${s.mtimeMs}`;
  } catch (e) {
    fingerprint = `missing\0${(e as NodeJS.ErrnoException).code ?? 'error'}`;
  }
  return { fingerprint, places };
}

const SYNC: Record<Step[0], (p: string) => string | fs.Stats> = {
  lstat: (p) => fs.lstatSync(p), readlink: (p) => fs.readlinkSync(p), realpath: (p) => fs.realpathSync.native(p), stat: (p) => fs.statSync(p),
};
const ASYNC: Record<Step[0], (p: string) => Promise<string | fs.Stats>> = {
  lstat: (p) => fs.promises.lstat(p), readlink: (p) => fs.promises.readlink(p), realpath: (p) => fs.promises.realpath(p), stat: (p) => fs.promises.stat(p),
};

function runSync(steps: Steps): FileLook {
  let next = steps.next();
  while (!next.done) {
    const [call, p] = next.value;
    let result: string | fs.Stats;
    try {
      result = SYNC[call](p);
    } catch (e) {
      next = steps.throw(e);
      continue;
    }
    next = steps.next(result);
  }
  return next.value;
}

async function runAsync(steps: Steps): Promise<FileLook> {
  let next = steps.next();
  while (!next.done) {
    const [call, p] = next.value;
    let result: string | fs.Stats;
    try {
      result = await ASYNC[call](p);
    } catch (e) {
      next = steps.throw(e);
      continue;
    }
    next = steps.next(result);
  }
  return next.value;
}

const FOLD_CASE = process.platform === 'win32' || process.platform === 'darwin';

export class CredentialWatcher {
  private readonly watchers = new Map<string, { watcher: fs.FSWatcher; names: Set<string> }>();
  private readonly debounceMs: number;
  private readonly events: boolean;
  private fingerprints: string[];
  private timer?: NodeJS.Timeout;
  private readonly poller?: NodeJS.Timeout;
  /** An event named one of the files (or a link on their way) since the last look. */
  private named = false;
  private looking = false;
  private again = false;
  private disposed = false;

  constructor(private readonly files: string[], private readonly onChange: () => void, options: CredentialWatchOptions = {}) {
    this.debounceMs = options.debounceMs ?? 250;
    this.events = options.events ?? true;
    // The first look is synchronous, so that a renewal right after the files were read is measured
    // against them; later looks are not, so that a hung network share never blocks the event loop.
    const first = files.map((f) => runSync(lookAt(f)));
    this.fingerprints = first.map((l) => l.fingerprint);
    this.rewatch(first);
    const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    if (pollMs > 0) {
      this.poller = setInterval(() => void this.look(), pollMs);
      this.poller.unref();
    }
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    clearInterval(this.poller);
    for (const { watcher } of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  private changed(dir: string, name: string | null): void {
    if (this.disposed) return;
    const names = this.watchers.get(dir)?.names;
    if (name !== null && names?.has(FOLD_CASE ? name.toLowerCase() : name)) this.named = true;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.look(), this.debounceMs);
  }

  /** Looks at every file; tells once if any changed; then watches where they are now. */
  private async look(): Promise<void> {
    if (this.looking) {
      this.again = true;
      return;
    }
    this.looking = true;
    try {
      do {
        this.again = false;
        const named = this.named;
        this.named = false;
        const now = await Promise.all(this.files.map((f) => runAsync(lookAt(f))));
        if (this.disposed) return;
        const changed = named || now.some((l, i) => l.fingerprint !== this.fingerprints[i]);
        this.fingerprints = now.map((l) => l.fingerprint);
        this.rewatch(now);
        if (changed) this.tell();
      } while (this.again && !this.disposed);
    } finally {
      this.looking = false;
    }
  }

  private tell(): void {
    try {
      this.onChange();
    } catch {
      // The listener's own failure is its to report; a look must never become an unhandled rejection.
    }
  }

  /** Watches the folders of this look's plan: new ones added, gone ones (an old `..2026_…`) closed. */
  private rewatch(looks: FileLook[]): void {
    if (!this.events || this.disposed) return;
    const plan = watchPlan(looks.flatMap((l) => l.places), FOLD_CASE);
    for (const [dir, entry] of this.watchers) {
      if (plan.has(dir)) continue;
      entry.watcher.close();
      this.watchers.delete(dir);
    }
    for (const [dir, names] of plan) {
      const entry = this.watchers.get(dir);
      if (entry) {
        entry.names = names;
        continue;
      }
      try {
        const watcher = fs.watch(dir, { persistent: false }, (_event, name) => this.changed(dir, name === null ? null : name.toString()));
        watcher.on('error', () => {
          // A watched folder that goes away (the old `..2026_…`): the next look watches what is there now.
          watcher.close();
          if (this.watchers.get(dir)?.watcher === watcher) this.watchers.delete(dir);
          this.changed(dir, null);
        });
        this.watchers.set(dir, { watcher, names });
      } catch {
        // A folder that cannot be watched leaves the polling to notice renewals; the tunnel still runs.
      }
    }
  }
}
