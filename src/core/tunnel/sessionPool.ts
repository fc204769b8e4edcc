/**
 * TLS sessions kept for resuming upstream handshakes (a resumed TLS 1.3 handshake skips the
 * server's certificate and its verification: bench/README.md measures a connection's CPU falling
 * by a fifth to a quarter when nearly every one resumes). The tunnel's `resumption` says how:
 *
 * - `once` (default): each session is used once. A TLS 1.3 ticket is meant for one connection
 *   (RFC 8446 §C.4: a ticket offered twice lets whoever watches the network tell that the two
 *   connections come from the same client), and servers send a couple after every full
 *   handshake, so keeping the fresh ones refills the pool. Against a server that sends tickets
 *   only after full handshakes (OpenSSL's default) at most two in three connections resume.
 * - `reuse`: the newest session resumes every connection until a newer one arrives (what
 *   stunnel's session cache and most HTTP clients' do). Nearly every connection resumes, so new
 *   connections cost less; the price is that linkability. Forward secrecy stays: each resumed
 *   handshake still makes a fresh (EC)DHE key (psk_dhe_ke, the only mode Node offers).
 * - `off`: no session is kept; every connection is a full handshake, verified from scratch.
 *
 * The pool has to cover a burst of parallel dials (`once`): 50 connections opened at once find a
 * pool of 16 empty and 34 of them pay for a full handshake. So it starts small and doubles its
 * capacity each time a dial finds it run dry (empty after sessions did arrive: the server does
 * issue them), up to `MAX_CAPACITY` (a session is ~1.4 KiB). Newest first: the freshest ticket is
 * the least likely to have expired on the server; when full, the oldest goes.
 */
import { Resumption } from '../config/model';
import { withoutServerCertificate } from '../tls/sessionTicket';

const INITIAL_CAPACITY = 16;
const MAX_CAPACITY = 256;

export class SessionPool {
  private readonly sessions: Buffer[] = [];
  private capacity = INITIAL_CAPACITY;
  private received = false;

  /** A session to resume, or undefined (and, if the pool ran dry, a larger one from now on). */
  take(policy: Resumption = 'once'): Buffer | undefined {
    if (policy === 'off') return undefined;
    if (policy === 'reuse') return this.sessions[this.sessions.length - 1];
    const s = this.sessions.pop();
    if (!s && this.received) this.capacity = Math.min(MAX_CAPACITY, this.capacity * 2);
    return s;
  }

  keep(session: Buffer, policy: Resumption = 'once'): void {
    if (policy === 'off') return;
    this.received = true;
    if (this.sessions.length >= (policy === 'reuse' ? 1 : this.capacity)) this.sessions.shift();
    // Kept without the server's certificate, which every resumption would decode again (sessionTicket.ts).
    this.sessions.push(withoutServerCertificate(session));
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
