// The editor-burst benchmark's other process: the mTLS echo backend and the load generator, kept
// off the extension host's main thread so that what the test measures there is the tunnel and
// the extension, not the clients or the server. Forked by editor-burst.test.ts with an IPC channel:
//   argv[2]                      the throwaway PKI as JSON (ThrowawayPki)
//   child -> parent              { ready: backendPort }
//   parent -> child              { burst: { port, connections } }
//   child -> parent              { done: { echoed, errors, wallMs } }
// A burst opens every connection at once, sends each a line and waits for it back, then ends
// them all and waits until each has closed: the shape of editorBurst.ts in core.
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { startDemoServer } from '../../../src/demo/demoServer';
import type { ThrowawayPki } from '../../../src/core/pki/testPki';

export interface BurstRequest {
  burst: { port: number; connections: number };
}

export interface BurstDone {
  done: { echoed: number; errors: string[]; wallMs: number };
}

const TIMEOUT_MS = 120_000;

/** Connects, sends one line, resolves once that line came back; rejects on error or timeout. */
function echoOnce(port: number, text: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let received = '';
    const timer = setTimeout(() => fail(new Error(`no echo of ${text} within ${TIMEOUT_MS} ms (got ${JSON.stringify(received)})`)), TIMEOUT_MS);
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    socket.setEncoding('utf8');
    socket.once('error', fail);
    socket.on('data', function onData(chunk: string) {
      received += chunk;
      if (received.length < text.length) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', fail);
      socket.on('error', () => undefined);
      if (received === text) resolve(socket);
      else fail(new Error(`echo of ${text} came back as ${JSON.stringify(received)}`));
    });
    socket.write(text);
  });
}

/** Ends our side and resolves once the socket is closed (the tunnel ended its side too). */
function closeCleanly(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    socket.resume(); // read the peer's FIN
    socket.end();
  });
}

async function burst({ port, connections }: BurstRequest['burst']): Promise<BurstDone['done']> {
  const t0 = performance.now();
  const results = await Promise.allSettled(Array.from({ length: connections }, (_, i) => echoOnce(port, `burst #${i}\n`)));
  const sockets = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  await Promise.all(sockets.map(closeCleanly));
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));
  return { echoed: sockets.length, errors: errors.slice(0, 5), wallMs: performance.now() - t0 };
}

async function main(): Promise<void> {
  const pki = JSON.parse(process.argv[2]) as ThrowawayPki;
  const server = await startDemoServer(pki);
  process.on('message', (message: BurstRequest | { exit: true }) => {
    if ('burst' in message) {
      void burst(message.burst).then((done) => process.send!({ done } satisfies BurstDone));
    } else {
      void server.close().then(() => process.exit(0));
    }
  });
  // The parent gone (a crashed test) must not leave this process behind.
  process.on('disconnect', () => process.exit(0));
  process.send!({ ready: server.port });
}

void main();
