// Admission slots: how many accepted sockets a port keeps that have not proved who they are, and for how long.
// The client frontend counts every socket from accept to close against max_connections and makes room by closing
// the oldest one not yet admitted; the leafnode port counts sockets from accept to admission against
// max_unauthenticated and refuses newcomers when full. Both get one deadline from accept, read as each socket
// arrives (so a reload reaches the next one), covering the TLS handshake, a WebSocket upgrade and the CONNECT alike.
// What runs over the socket (a client, a leaf link) and what it is told is the port's.
import type net from 'node:net';
import { endRefusedSocket } from './transport.js';

/** What the slot needs to know of the connection started over its socket. */
export interface SlotConn {
  /** Its CONNECT was admitted. */
  readonly isAdmitted: boolean;
  readonly isClosed: boolean;
}

/** One accepted socket, counted from accept. `conn` is set once the TLS handshake or WebSocket upgrade is done. */
export interface Slot<C extends SlotConn> {
  readonly id: number;
  /** The accepted TCP socket: what owns the file descriptor, whatever runs over it. */
  readonly socket: net.Socket;
  /** Its address, to find the slot again once the TLS or WebSocket layer hands over the upgraded stream. */
  readonly peer: string;
  conn: C | undefined;
  /**
   * Aborted once the connection is gone (closed, or its socket closed): work queued on its behalf and not started
   * (a bcrypt compare) is skipped.
   */
  readonly gone: AbortSignal;
}

/** What a shared budget answers an ask for one slot (SharedSlots.acquire). */
export type SlotAnswer = 'granted' | 'full' | 'unanswered';

/**
 * A budget of slots shared with other processes on the same port (the gateway's workers): each slot counted here
 * holds one grant of it, from claim until it is no longer counted, except one evicted to make room, whose grant
 * passes to the newcomer. Without one, `max` alone bounds the table.
 */
export interface SharedSlots {
  /**
   * One more slot: `granted`; `full` when the whole is full (a connection here not yet admitted may give way);
   * `unanswered` when no answer came in time (refused, nothing evicted: the whole may have room).
   */
  acquire(): Promise<SlotAnswer>;
  /** A granted slot is free again. */
  release(): void;
}

/** How a port counts; every field is read on use, so a reload reaches the next socket. */
export interface SlotPolicy<C extends SlotConn> {
  /** The most slots counted at once (max_connections, max_unauthenticated). */
  readonly max: number;
  /**
   * `closed`: a slot counts until its socket closes, admitted or not (max_connections); `admitted`: until its
   * connection is admitted or gone (max_unauthenticated).
   */
  readonly countsUntil: 'closed' | 'admitted';
  /** When full: close the oldest connection not yet admitted to make room (`evict`), or turn the newcomer away. */
  readonly whenFull: 'evict' | 'refuse';
  /** From accept to admission, ms: the one admission deadline. */
  readonly deadlineMs: number;
  /**
   * The ids handed out: first, first + step, ... (default 1, 2, 3...). Processes sharing one port (the gateway's
   * workers) take interleaved spaces, so a connection id is unique across them.
   */
  readonly ids?: { readonly first: number; readonly step: number };
  /** The budget shared with other processes (then `max` is not read here: the budget's holder applies it). */
  readonly shared?: SharedSlots;
  /** The deadline passed and the connection is not admitted (`slot.conn` undefined: still in its handshake). */
  expired(slot: Slot<C>): void;
  /**
   * Chosen to make room (evict): close it, telling it why when it can be told; its slot is free once this returns
   * (a socket still sending its last bytes is tracked until closed).
   */
  evicted(slot: Slot<C>): void;
}

interface SlotState<C extends SlotConn> extends Slot<C> {
  timer: NodeJS.Timeout | undefined;
  readonly abort: AbortController;
  /** Verdicts still being worked out for it (keepUntil()): the slot stays counted until they settle. */
  unsettled: number;
  /** Released while verdicts were unsettled: counted until they settle. */
  releasing: boolean;
  /** Evicted to make room: its grant of the shared budget passes to the newcomer instead of going back. */
  handedOver: boolean;
}

/** The reason `gone` aborts with: one made once, as abort() with none builds a DOMException (and its stack) each time. */
const GONE = new Error('connection gone');

export class AdmissionSlots<C extends SlotConn> {
  private nextId: number;
  /** Every slot that counts, by id. */
  private readonly counted = new Map<number, SlotState<C>>();
  /**
   * Slots not yet admitted, oldest first (Map order is accept order): who makes room when the table is full. Pruned
   * lazily: an entry admitted or gone since is dropped when the eviction walks past it.
   */
  private readonly unadmitted = new Map<number, SlotState<C>>();
  /** Sockets in their TLS handshake or before their WebSocket upgrade, by peer address. */
  private readonly handshaking = new Map<string, SlotState<C>>();
  /** Connections closed whose socket still waits for its peer (countsUntil closed): the first to give way. */
  private readonly lingering = new Map<number, SlotState<C>>();
  /** Sockets turned away or evicted, closed once their last bytes are out (CLOSE_LINGER_MS at most). */
  private readonly refused = new Set<net.Socket>();

  constructor(private readonly policy: SlotPolicy<C>) {
    this.nextId = policy.ids?.first ?? 1;
  }

  /** Slots counted now. */
  get size(): number {
    return this.counted.size;
  }

  /**
   * Counts a just-accepted socket, making room when full and the policy evicts; `refuse` turns it away when there is
   * none (its id is the one it would have had). Starts its admission deadline. With a shared budget, the answer
   * waits for a grant (a socket closed meanwhile gets none, and gives back one it was granted).
   */
  claim(socket: net.Socket, refuse: (id: number) => void): Slot<C> | undefined | Promise<Slot<C> | undefined> {
    const id = this.nextId;
    this.nextId += this.policy.ids?.step ?? 1;
    const shared = this.policy.shared;
    if (shared !== undefined) return this.claimShared(shared, id, socket, refuse);
    if (this.counted.size >= this.policy.max && !this.makeRoom()) {
      refuse(id);
      return undefined;
    }
    return this.count(id, socket);
  }

  private async claimShared(
    shared: SharedSlots,
    id: number,
    socket: net.Socket,
    refuse: (id: number) => void,
  ): Promise<Slot<C> | undefined> {
    const answer = await shared.acquire();
    if (socket.destroyed) {
      if (answer === 'granted') shared.release();
      return undefined;
    }
    // The whole is full: a connection of this process not yet admitted gives its grant to the newcomer.
    if (answer === 'unanswered' || (answer === 'full' && !this.makeRoom())) {
      refuse(id);
      return undefined;
    }
    return this.count(id, socket);
  }

  private count(id: number, socket: net.Socket): Slot<C> {
    const abort = new AbortController();
    const slot: SlotState<C> = {
      id,
      socket,
      peer: peerKey(socket),
      conn: undefined,
      timer: undefined,
      abort,
      gone: abort.signal,
      unsettled: 0,
      releasing: false,
      handedOver: false,
    };
    slot.timer = setTimeout(() => this.deadline(slot), this.policy.deadlineMs);
    slot.timer.unref?.();
    this.counted.set(id, slot);
    this.unadmitted.set(id, slot);
    socket.once('close', () => this.release(slot));
    return slot;
  }

  /** The slot of a connection, while it counts. */
  get(id: number): Slot<C> | undefined {
    return this.counted.get(id);
  }

  /** The socket is in its TLS handshake or WebSocket upgrade: takeHandshaken finds its slot from the upgraded stream. */
  handshake(slot: Slot<C>): void {
    const s = this.state(slot);
    if (s !== undefined) this.handshaking.set(s.peer, s);
  }

  /** The slot of a socket whose handshake or upgrade just ended, if it still counts. */
  takeHandshaken(socket: net.Socket): Slot<C> | undefined {
    const key = peerKey(socket);
    const slot = this.handshaking.get(key);
    this.handshaking.delete(key);
    return slot !== undefined && this.counted.get(slot.id) === slot ? slot : undefined;
  }

  /** The connection's CONNECT was admitted: its deadline is off, and under countsUntil admitted its slot is free. */
  admitted(slot: Slot<C>): void {
    const s = this.state(slot);
    if (s === undefined) return;
    clearTimeout(s.timer);
    s.timer = undefined;
    this.unadmitted.delete(s.id);
    if (this.policy.countsUntil === 'admitted') this.release(s);
  }

  /** The connection closed (its socket may still be finishing): work on its behalf is skipped; the slot gives way first. */
  closed(slot: Slot<C>): void {
    const s = this.state(slot);
    if (s === undefined) return;
    s.abort.abort(GONE);
    if (this.policy.countsUntil === 'admitted') this.release(s);
    else this.lingering.set(s.id, s);
  }

  /**
   * A verdict on the connection is being worked out elsewhere (a bcrypt compare): its slot stays counted until
   * `settled` settles, even if the connection goes first, so what waits for such work is bounded by `max`.
   */
  keepUntil(slot: Slot<C>, settled: Promise<unknown>): void {
    const s = this.state(slot);
    if (s === undefined) return;
    s.unsettled++;
    const done = (): void => {
      if (--s.unsettled === 0 && s.releasing) this.release(s);
    };
    settled.then(done, done);
  }

  /** Ends a socket turned away before anything ran over it: `last` out, then closed (tracked until then for closeAll). */
  refuseSocket(socket: net.Socket, last: string | Buffer): void {
    endRefusedSocket(socket, last);
    this.track(socket);
  }

  /** Destroys every socket with no connection started over it, and every refused one still finishing. */
  closeAll(): void {
    for (const slot of [...this.counted.values()]) if (slot.conn === undefined) slot.socket.destroy();
    for (const socket of [...this.refused]) socket.destroy();
  }

  /**
   * Frees a slot for a newcomer: destroys a connection already closed and waiting for its peer, else closes the
   * oldest connection not yet admitted (nor waiting for a verdict). An admitted one is never closed for room. False
   * when there is none (or the policy refuses newcomers instead).
   */
  private makeRoom(): boolean {
    if (this.policy.whenFull !== 'evict') return false;
    const lingering = this.lingering.values().next();
    if (lingering.done !== true) {
      lingering.value.handedOver = true;
      lingering.value.socket.destroy();
      this.release(lingering.value);
      return true;
    }
    for (const [id, slot] of this.unadmitted) {
      if (this.counted.get(id) !== slot || (slot.conn !== undefined && slot.conn.isAdmitted && !slot.conn.isClosed)) {
        this.unadmitted.delete(id);
        continue;
      }
      if (slot.unsettled > 0) continue;
      this.unadmitted.delete(id);
      slot.handedOver = true;
      this.policy.evicted(slot);
      this.track(slot.socket);
      this.release(slot);
      return true;
    }
    return false;
  }

  /** The slot's own state while it counts (a Slot handed out earlier, since released, has none). */
  private state(slot: Slot<C>): SlotState<C> | undefined {
    const s = this.counted.get(slot.id);
    return s === slot ? s : undefined;
  }

  private deadline(slot: SlotState<C>): void {
    slot.timer = undefined;
    if (this.counted.get(slot.id) !== slot) return;
    if (slot.conn !== undefined && (slot.conn.isAdmitted || slot.conn.isClosed)) return;
    this.policy.expired(slot);
  }

  /** Its socket closed, its connection was admitted (countsUntil admitted) or evicted: no longer counted. */
  private release(slot: SlotState<C>): void {
    if (slot.unsettled > 0) {
      slot.releasing = true;
      slot.abort.abort(GONE);
      return;
    }
    clearTimeout(slot.timer);
    slot.timer = undefined;
    if (slot.socket.destroyed) slot.abort.abort(GONE);
    if (this.counted.get(slot.id) === slot) {
      this.counted.delete(slot.id);
      if (!slot.handedOver) this.policy.shared?.release();
    }
    this.unadmitted.delete(slot.id);
    this.lingering.delete(slot.id);
    if (this.handshaking.get(slot.peer) === slot) this.handshaking.delete(slot.peer);
  }

  private track(socket: net.Socket): void {
    if (socket.destroyed || this.refused.has(socket)) return;
    this.refused.add(socket);
    socket.once('close', () => this.refused.delete(socket));
  }
}

/** A socket's peer address: the same for the TCP socket and the TLS or WebSocket stream over it. */
export function peerKey(s: net.Socket): string {
  return `${s.remoteAddress}:${s.remotePort}`;
}
