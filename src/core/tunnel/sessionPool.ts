/**
 * TLS sessions kept for resuming upstream handshakes (a resumed TLS 1.3 handshake skips the
 * server's certificate and its verification). Each session is used once: a TLS 1.3 ticket is
 * meant for one connection (RFC 8446 §C.4: reusing one lets an observer link connections), and
 * servers send a couple after every handshake, so keeping the fresh ones refills the pool.
 *
 * The pool has to cover a burst of parallel dials: 50 connections opened at once find a pool of
 * 16 empty and 34 of them pay for a full handshake. So it starts small and doubles its capacity
 * each time a dial finds it run dry (empty after sessions did arrive: the server does issue them),
 * up to `MAX_CAPACITY` (a session is ~1.4 KiB). Newest first:
 * the freshest ticket is the least likely to have expired on the server; when full, the oldest
 * goes.
 */
const INITIAL_CAPACITY = 16;
const MAX_CAPACITY = 256;

export class SessionPool {
  private readonly sessions: Buffer[] = [];
  private capacity = INITIAL_CAPACITY;
  private received = false;

  /** A session to resume, or undefined (and, if the pool ran dry, a larger one from now on). */
  take(): Buffer | undefined {
    const s = this.sessions.pop();
    if (!s && this.received) this.capacity = Math.min(MAX_CAPACITY, this.capacity * 2);
    return s;
  }

  keep(session: Buffer): void {
    this.received = true;
    if (this.sessions.length >= this.capacity) this.sessions.shift();
    this.sessions.push(session);
  }

  /** Forgets every session (new credentials: a session carries the client certificate it was made with). */
  clear(): void {
    this.sessions.length = 0;
    this.received = false;
  }

  get size(): number {
    return this.sessions.length;
  }
}
