/**
 * A tunnel's numbers: counters kept as connections open, fail and close, so reading them costs
 * nothing per connection (`TunnelCounts`); the bytes of open connections are only known by
 * visiting each, which `TunnelSnapshot` does.
 */
import { ListenAddress } from '../config/model';
import { Diagnosis, DiagnosisCode } from '../diagnostics/diagnosis';
import { IdentityStatus } from '../tls/renewal';
import { ConnectionSnapshot } from './connection';
import { Protection } from './protection';
import { TargetStanding } from './targets';
import { HandshakeInfo } from './upstream';
import { WarmCounts } from './warmPool';

export type TunnelState = 'stopped' | 'starting' | 'running' | 'stopping' | 'error';

/** What a tunnel can tell without looking at each connection: cheap enough for every event. */
export interface TunnelCounts {
  state: TunnelState;
  /** The address actually listened on (the real port when the config says 0), or the socket path. */
  listening?: ListenAddress;
  openConnections: number;
  totalConnections: number;
  /** Connections refused because another local user's process made them (never bridged, not in the total). */
  refusedOtherUsers: number;
  /** What keeps other local users off the listener, found when it was bound; absent until then. */
  protection?: Protection;
  handshakesOk: number;
  handshakesFailed: Partial<Record<DiagnosisCode, number>>;
  lastHandshake?: HandshakeInfo;
  lastDiagnosis?: Diagnosis;
  credentials?: string;
  /** With several targets: each one's failures in a row and backoff window, in the order configured. */
  targets?: TargetStanding[];
  /** The client certificate new connections present: its dates and what renews it (PEM only). */
  identity?: IdentityStatus;
  /** With `warmConnections`: how many wait now, and how many were handed out, retired or lost. */
  warm?: WarmCounts;
}

/** The counts plus every open connection and the bytes so far, which means visiting each one. */
export interface TunnelSnapshot extends TunnelCounts {
  name: string;
  bytesUp: number;
  bytesDown: number;
  connections: ConnectionSnapshot[];
}

export class TunnelTally {
  private nextId = 1;
  private handshakesOk = 0;
  private refusedOtherUsers = 0;
  private readonly failures: Partial<Record<DiagnosisCode, number>> = {};
  private lastHandshake?: HandshakeInfo;
  /** Bytes of connections already closed; open ones are counted live. */
  private readonly closedBytes = { up: 0, down: 0 };

  /** The id of a connection just accepted (ids are its count, so the total is `nextId - 1`). */
  accepted(): number {
    return this.nextId++;
  }

  refusedOtherUser(): void {
    this.refusedOtherUsers++;
  }

  established(handshake: HandshakeInfo | undefined): void {
    this.handshakesOk++;
    this.lastHandshake = handshake;
  }

  failed(code: DiagnosisCode): void {
    this.failures[code] = (this.failures[code] ?? 0) + 1;
  }

  closed(c: ConnectionSnapshot): void {
    this.closedBytes.up += c.bytesUp;
    this.closedBytes.down += c.bytesDown;
  }

  counts(): Pick<TunnelCounts, 'totalConnections' | 'refusedOtherUsers' | 'handshakesOk' | 'handshakesFailed' | 'lastHandshake'> {
    return { totalConnections: this.nextId - 1, refusedOtherUsers: this.refusedOtherUsers, handshakesOk: this.handshakesOk, handshakesFailed: { ...this.failures }, lastHandshake: this.lastHandshake };
  }

  /** Bytes so far, closed connections' plus the open ones'. */
  bytes(open: ConnectionSnapshot[]): { bytesUp: number; bytesDown: number } {
    return {
      bytesUp: this.closedBytes.up + open.reduce((n, c) => n + c.bytesUp, 0),
      bytesDown: this.closedBytes.down + open.reduce((n, c) => n + c.bytesDown, 0),
    };
  }
}
