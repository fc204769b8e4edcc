/**
 * A unix-socket listener only its owner can use. The socket is bound inside a fresh private folder
 * (mode 0700, so nobody can reach it yet), set to mode 0600, then renamed into place: at no moment
 * is it connectable with the umask's looser mode, and no process-wide umask is changed. The
 * folder it lands in must exist and not be writable by other users unless it is sticky (/tmp):
 * otherwise another user could remove our socket and put theirs in its place. A file already at
 * the path is replaced only when it is a socket nobody answers on (left by a crash); a live one
 * is refused. On close the file is removed, if it is still ours.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { lstat, mkdtemp, rename, rmdir, stat, chmod, unlink } from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { Diagnosis } from '../diagnostics/diagnosis';

/** Binding the socket failed; `problem` is said without the tunnel's name (the caller adds it). */
export class SocketListenError extends Error {
  constructor(readonly problem: Diagnosis) {
    super(problem.summary);
  }
}

/** The final path and inode of a server bound here (Node's own `address()` names the private folder it was bound in). */
const bound = new WeakMap<net.Server, { file: string; ino: number }>();

export function socketPathOf(server: net.Server): string | undefined {
  return bound.get(server)?.file;
}

/**
 * Removes the socket file of a server bound here, at once (open connections may still drain, but
 * nobody new can find it), unless another process has put its own socket there since.
 */
export function removeSocketFile(server: net.Server): void {
  const b = bound.get(server);
  if (!b) return;
  bound.delete(server);
  try {
    if (lstatSync(b.file).ino === b.ino) unlinkSync(b.file);
  } catch {
    // Already gone.
  }
}

function problem(code: Diagnosis['code'], summary: string, fix: string, detail?: string): SocketListenError {
  return new SocketListenError({ code, severity: 'error', summary, fix, detail });
}

/** Refuses a folder that is missing, or that other users could write to without the sticky bit. */
async function checkFolder(dir: string): Promise<void> {
  let s;
  try {
    s = await stat(dir);
  } catch (e) {
    throw problem('LISTEN_ADDRESS_UNAVAILABLE', `the folder ${dir} for the unix socket does not exist.`, `Create it (mkdir -m 700 ${dir}) or change "listen".`, (e as NodeJS.ErrnoException).code);
  }
  if (!s.isDirectory()) throw problem('LISTEN_ADDRESS_UNAVAILABLE', `${dir} is not a folder, so the unix socket cannot be made in it.`, 'Change "listen" to a path in a folder.');
  if ((s.mode & 0o002) !== 0 && (s.mode & 0o1000) === 0) {
    throw problem('LISTEN_DENIED', `the folder ${dir} is writable by every user and not sticky (mode ${(s.mode & 0o7777).toString(8)}): another user could replace the tunnel's socket with their own.`, `Use a folder only you can write to (e.g. mkdir -m 700 ~/.mtls), or chmod o-w ${dir}.`);
  }
}

/** Nothing there, a stale socket (removed), or a refusal: a live socket or a file that is not a socket. */
async function clearStale(file: string): Promise<void> {
  let s;
  try {
    s = await lstat(file);
  } catch {
    return;
  }
  if (!s.isSocket()) throw problem('LISTEN_ADDRESS_UNAVAILABLE', `${file} already exists and is not a socket.`, 'Remove it or choose another path in "listen"; the tunnel does not overwrite files.');
  const answered = await new Promise<boolean | NodeJS.ErrnoException>((resolve) => {
    const probe = net.connect({ path: file });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? false : e));
  });
  if (answered === true) {
    throw problem('PORT_IN_USE', `the unix socket ${file} is already in use: a process answers on it.`, 'Stop whatever listens there (another tunnel, a local database), or change "listen".');
  }
  if (answered !== false) {
    throw problem('LISTEN_DENIED', `cannot tell whether the unix socket ${file} is still in use (${answered.code}).`, 'Remove it if it is yours and stale, or choose another path in "listen".', answered.code);
  }
  // Stale: left by a process that is gone. Removed only now that nothing answered on it.
  await unlink(file).catch(() => undefined);
}

/** Binds `server` to the socket `file`, mode 0600, as described above; rejects with SocketListenError. */
export async function bindSocketPath(server: net.Server, file: string): Promise<void> {
  if (process.platform === 'win32') throw problem('LISTEN_ADDRESS_UNAVAILABLE', 'unix-socket listeners are not supported on Windows.', 'Listen on a loopback port like 15432 in "listen".');
  const dir = path.dirname(file);
  await checkFolder(dir);
  await clearStale(file);
  let scratch: string;
  try {
    scratch = await mkdtemp(path.join(dir, '.mt-'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw problem('LISTEN_DENIED', `cannot create the unix socket in ${dir} (${code}).`, 'Use a folder you can write to in "listen".', code);
  }
  const temporary = path.join(scratch, 's');
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: temporary, readableAll: false, writableAll: false }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(temporary, 0o600);
    // Atomic: a client sees no socket, then the owner-only one. A socket made in between by
    // someone else is replaced, not joined.
    await rename(temporary, file);
  } catch (e) {
    server.close();
    await unlink(temporary).catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    throw problem('LISTEN_DENIED', `cannot create the unix socket ${file}: ${(e as Error).message}.`, 'Check the folder in "listen" and its permissions.', code);
  } finally {
    await rmdir(scratch).catch(() => undefined);
  }
  bound.set(server, { file, ino: (await lstat(file)).ino });
}
