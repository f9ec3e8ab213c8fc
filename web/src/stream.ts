// One WebSocket to GET /live/v1/stream carrying every live query of the wall
// (docs/STREAMS.md): snapshot, then deltas; positions kept per query so that a dropped
// connection resumes with `since` and receives exactly what it missed. A silent connection
// (no message for two heartbeat intervals) is treated as dead and reopened.
import { CITY_CONTEXT, Entity, shortKeys } from './api';

export interface Watch {
  query: string;
  type: string;
  q?: string;
  attrs?: string;
}

interface QueryState {
  watch: Watch;
  entities: Map<string, Entity>;
  position: number;
  current: boolean;
}

export type ChangeKind = 'snapshot' | 'delta';
export type Listener = (query: string, kind: ChangeKind, upserts: Entity[], removed: string[]) => void;

const HEARTBEAT_DEAD_MS = 40_000;
// The most entities per snapshot message (see the snapshot case in handle()).
const SNAPSHOT_PART = 1000;

export class LiveStream {
  private ws: WebSocket | null = null;
  private queries = new Map<string, QueryState>();
  private epoch = '';
  private listeners: Listener[] = [];
  private answeredQueries = new Set<string>();
  private statusListeners: ((online: boolean) => void)[] = [];
  private retry = 0;
  private lastMessage = 0;
  private timer: number | undefined;
  private stopped = false;
  online = false;
  messages = 0;
  slowestMessageMs = 0;  // parse + apply + listeners of one message, for the figures

  constructor(private url = defaultUrl()) {}

  watch(w: Watch): void {
    this.queries.set(w.query, { watch: w, entities: new Map(), position: 0, current: false });
    if (this.ws?.readyState === WebSocket.OPEN) this.send(w, undefined);
  }
  // Whether the server has answered the query since the page opened (a snapshot, a delta or
  // a refusal): what the first paint waits for.
  answered(query: string): boolean {
    return this.answeredQueries.has(query);
  }
  // Whether the query holds the server's whole current result (its snapshot's last part came).
  current(query: string): boolean {
    return this.queries.get(query)?.current ?? false;
  }
  entities(query: string): Map<string, Entity> {
    return this.queries.get(query)?.entities ?? new Map();
  }
  onChange(l: Listener): void {
    this.listeners.push(l);
  }
  onStatus(l: (online: boolean) => void): void {
    this.statusListeners.push(l);
  }

  start(): void {
    this.stopped = false;
    this.open();
    this.timer = window.setInterval(() => {
      if (this.ws && this.online && Date.now() - this.lastMessage > HEARTBEAT_DEAD_MS) this.ws.close();
    }, 5000);
  }
  stop(): void {
    this.stopped = true;
    window.clearInterval(this.timer);
    this.ws?.close();
  }
  // After a login or logout the caller may see other types: reconnect (the upgrade carries the
  // new cookie) and ask every query for a fresh snapshot rather than the deltas since.
  restart(): void {
    for (const q of this.queries.values()) q.current = false;
    this.retry = 0;
    this.ws?.close();
  }
  // For tests and the soak script: drop the connection as a network failure would.
  drop(): void {
    this.ws?.close();
  }

  private open(): void {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.retry = 0;
      this.lastMessage = Date.now();
      this.setOnline(true);
      for (const q of this.queries.values()) {
        const since = q.current && this.epoch ? `${this.epoch}:${q.position}` : undefined;
        q.current = false;  // until its snapshot or delta arrives
        this.send(q.watch, since);
      }
    };
    ws.onmessage = (ev) => {
      this.lastMessage = Date.now();
      this.messages++;
      const t0 = performance.now();
      try {
        this.handle(JSON.parse(String(ev.data)));
        this.slowestMessageMs = Math.max(this.slowestMessageMs, performance.now() - t0);
      } catch (e) {
        console.warn('stream: unreadable message', e);
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setOnline(false);
      if (this.stopped) return;
      const delay = Math.min(10_000, 500 * 2 ** this.retry++);
      window.setTimeout(() => this.open(), delay);
    };
    ws.onerror = () => ws.close();
  }

  private setOnline(v: boolean): void {
    if (this.online === v) return;
    this.online = v;
    for (const l of this.statusListeners) l(v);
  }

  private send(w: Watch, since: string | undefined): void {
    // Snapshots in parts of SNAPSHOT_PART entities: 7,007 cameras in one message held the main
    // thread ~100 ms to parse; parts let the page draw in between.
    const msg: Record<string, string> = { op: 'watch', query: w.query, type: w.type, options: 'keyValues', snapshotPart: String(SNAPSHOT_PART) };
    if (w.q) msg.q = w.q;
    if (w.attrs) msg.attrs = w.attrs;
    if (since) msg.since = since;
    this.ws?.send(JSON.stringify(msg));
  }

  private handle(m: Record<string, any>): void {
    const q = m.query ? this.queries.get(m.query) : undefined;
    if (q && (m.kind === 'snapshot' || m.kind === 'delta' || m.kind === 'error')) this.answeredQueries.add(m.query);
    switch (m.kind) {
      case 'snapshot': {
        // A big one comes in parts (snapshotPart): the first replaces, the others add, and the
        // query is current (its position worth resuming from) only after the last.
        if (!q) return;
        this.epoch = m.epoch ?? this.epoch;
        const part = m.part ?? 1, parts = m.parts ?? 1;
        if (part === 1) q.entities = new Map();
        const list = (m.entities as Entity[]).map((e) => shortKeys(e) as Entity);
        for (const e of list) q.entities.set(e.id, e);
        q.current = part === parts;
        if (q.current) q.position = m.seq;
        this.emit(m.query, 'snapshot', list, []);
        break;
      }
      case 'delta': {
        if (!q) return;
        const ups = ((m.upsert ?? []) as Entity[]).map((e) => shortKeys(e) as Entity);
        for (const e of ups) q.entities.set(e.id, e);
        for (const id of (m.remove ?? []) as string[]) q.entities.delete(id);
        q.position = m.seq;
        q.current = true;
        this.emit(m.query, 'delta', ups, m.remove ?? []);
        break;
      }
      case 'heartbeat':
        if (m.epoch && this.epoch && m.epoch !== this.epoch) return;
        for (const s of this.queries.values()) if (s.current) s.position = Math.max(s.position, m.seq);
        break;
      case 'resync':
        if (q) q.current = false;
        break;
      case 'error':
        console.warn('stream: watch refused', m.query, m.error?.detail);
        break;
    }
  }

  private emit(query: string, kind: ChangeKind, ups: Entity[], removed: string[]): void {
    for (const l of this.listeners) l(query, kind, ups, removed);
  }
}

function defaultUrl(): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/live/v1/stream?context=${encodeURIComponent(CITY_CONTEXT)}`;
}
