/**
 * Moving bytes one way between two sockets: what `pipe()` does (backpressure, end → end), shaped
 * for a bridge where one side is TLS.
 *
 * - Backpressure by bytes queued, not by `write()`'s verdict. A TLSSocket completes every write
 *   on the next turn of the event loop, so with the default 16 KiB high-water mark each 64 KiB
 *   read looks like backpressure to `pipe()`: it pauses the reader (epoll_ctl), resumes it a turn
 *   later (epoll_ctl again) and reads one chunk per turn. Here the reader pauses only when more
 *   than `PAUSE_AT` bytes are queued in user space, and resumes on 'drain' as `pipe()` does.
 * - Decrypted bytes arrive one TLS record (16 KiB) per 'data' event, so a burst would cost one
 *   write(2) per record; plaintext arrives in reads of up to 64 KiB, each one TLS write. While
 *   full-size chunks keep coming (`burstChunk`: more is likely waiting) the writer is corked, and
 *   uncorked when a shorter chunk ends the burst or at the end of this turn of the event loop
 *   (setImmediate runs after all reads of the turn), so a burst leaves as one writev(2) (one
 *   SSL_write into few records) and a lone short message is written at once.
 */
import * as net from 'node:net';

/** Queued bytes beyond which the reading side is paused (the kernel buffers the rest). */
const PAUSE_AT = 256 * 1024;
export interface ForwardOptions {
  /** Cork the writer while 'data' events of at least this size keep coming (0: never). */
  burstChunk: number;
  /** Runs when `from` ends, before the end is passed on (a last word to `to` still goes first). */
  beforeEnd?: () => void;
}

/** What has flowed so far, readable whenever (no listener order to rely on). */
export interface Flow {
  bytes: number;
}

export function forward(from: net.Socket, to: net.Socket, options: ForwardOptions): Flow {
  const flow: Flow = { bytes: 0 };
  let paused = false;
  let corked = false;
  const flush = () => {
    if (!corked) return;
    corked = false;
    to.uncork();
  };
  from.on('data', (chunk: Buffer) => {
    flow.bytes += chunk.length;
    const full = options.burstChunk > 0 && chunk.length >= options.burstChunk;
    if (full && !corked) {
      corked = true;
      to.cork();
      setImmediate(flush);
    }
    const accepted = to.write(chunk);
    if (corked && !full) flush();
    // `write()` said no (so 'drain' will follow) and enough is queued that reading on would only
    // grow the queue: stop reading until the writer has caught up.
    if (!accepted && to.writableLength >= PAUSE_AT) {
      flush();
      paused = true;
      from.pause();
    }
  });
  to.on('drain', () => {
    if (!paused) return;
    paused = false;
    from.resume();
  });
  from.once('end', () => {
    options.beforeEnd?.();
    flush();
    to.end();
  });
  // The local client was accepted paused (pauseOnConnect); bytes a preamble put back are read first.
  from.resume();
  return flow;
}
