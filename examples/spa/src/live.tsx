import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import type { Client as SocketClient } from "graphql-ws";
import { createContext, useCallback, useContext, useEffect, useRef, useState } from "react";
import { stringifyDocument } from "urql";
import { graphql } from "./gql";
import { useCan } from "./permissions";

/** An event of the API's log as the subscriptions deliver it. */
export interface LiveEvent {
  id: string;
  type: string;
  entityType?: string | null;
  entityId?: string | null;
  actor?: string | null;
  occurredAt: string;
  cursor: string;
}

/** `connecting` until the first subscription is acknowledged, `reconnecting` after a drop
 * until the subscription is resumed from its last cursor. */
export type LiveStatus = "off" | "connecting" | "live" | "reconnecting";

/** The API's WebSocket (graphql-transport-ws) for `key`, shared by the screens: the key travels
 * in connection_init (browsers cannot set headers on a WebSocket). It does not retry on its own:
 * a dropped subscription is started again by {@link useEvents} *after its last cursor*, which a
 * retry resending the first subscribe message could not do. */
export class Socket {
  open = false;
  private client: Promise<SocketClient> | null = null;
  private waiting = new Set<() => void>();

  constructor(private readonly key: string) {}

  /** The graphql-ws client, loaded (its own chunk) when a screen first subscribes. */
  connect(): Promise<SocketClient> {
    this.client ??= import("graphql-ws").then(({ createClient }) => {
      const scheme = window.location.protocol === "https:" ? "wss" : "ws";
      return createClient({
        url: `${scheme}://${window.location.host}/graphql`,
        connectionParams: { Authorization: `Bearer ${this.key}` },
        lazy: true,
        lazyCloseTimeout: 1000,
        retryAttempts: 0,
        keepAlive: 10_000,
        on: {
          connected: () => {
            this.open = true;
            const waiting = [...this.waiting];
            this.waiting.clear();
            for (const call of waiting) call();
          },
          closed: () => {
            this.open = false;
          },
        },
      });
    });
    return this.client;
  }

  /** Calls `call` once the socket is acknowledged (now if it is); returns a cancel. */
  whenOpen(call: () => void): () => void {
    if (this.open) {
      queueMicrotask(call);
      return () => {};
    }
    this.waiting.add(call);
    return () => this.waiting.delete(call);
  }

  dispose(): void {
    void this.client?.then((client) => client.dispose());
  }
}

export const SocketContext = createContext<Socket | null>(null);

const RETRY_MS = [500, 1000, 2000, 4000];

/** Follows the subscription `document` (one root field returning an `Event`, with an `after`
 * cursor argument) and calls `onEvent` for each event, heartbeats included (they carry the
 * cursor). When the socket drops it subscribes again after the last cursor seen, so no event is
 * lost and none is seen twice. Off without events:read, or when `enabled` is false. */
export function useEvents<V extends { after?: string | null }>(
  document: TypedDocumentNode<unknown, V>,
  variables: Omit<V, "after">,
  onEvent: (event: LiveEvent) => void,
  options: { enabled?: boolean; after?: string | null } = {},
): { status: LiveStatus; cursor: string | null; resumes: number } {
  const socket = useContext(SocketContext);
  const allowed = useCan("events:read");
  const enabled = (options.enabled ?? true) && allowed && socket !== null;
  const [status, setStatus] = useState<LiveStatus>(enabled ? "connecting" : "off");
  const [resumes, setResumes] = useState(0);
  const cursor = useRef<string | null>(options.after ?? null);
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const query = stringifyDocument(document);
  const key = JSON.stringify(variables);

  useEffect(() => {
    if (!enabled || socket === null) {
      setStatus("off");
      return;
    }
    let stopped = false;
    let failures = 0;
    let unsubscribe: (() => void) | null = null;
    let cancelOpen: () => void = () => {};
    let timer: number | undefined;
    const start = () => {
      void socket.connect().then((client) => {
        if (stopped) return;
        unsubscribe = client.subscribe<Record<string, LiveEvent>>(
          { query, variables: { ...JSON.parse(key), after: cursor.current } },
          {
            next: (message) => {
              const event = message.data ? Object.values(message.data)[0] : null;
              if (!event || stopped) return;
              cursor.current = event.cursor;
              handler.current(event);
            },
            error: () => retry(),
            complete: () => retry(),
          },
        );
        cancelOpen = socket.whenOpen(() => {
          if (stopped) return;
          if (failures > 0) setResumes((n) => n + 1);
          failures = 0;
          setStatus("live");
        });
      });
    };
    const retry = () => {
      if (stopped) return;
      cancelOpen();
      setStatus("reconnecting");
      const wait = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)];
      failures += 1;
      timer = window.setTimeout(start, wait);
    };
    setStatus("connecting");
    start();
    return () => {
      stopped = true;
      cancelOpen();
      window.clearTimeout(timer);
      unsubscribe?.();
    };
  }, [enabled, socket, query, key]);

  return { status, cursor: cursor.current, resumes };
}

/** `refresh` as a screen calls it on every change it hears of, coalesced: at most one re-read
 * in flight and one waiting, so a burst of events (a bulk import) costs two re-reads, not one
 * per event, and the last one starts after the last event. `refresh` resolves when its re-read
 * has arrived. */
export function useCoalesced(refresh: () => Promise<unknown>): () => void {
  const latest = useRef(refresh);
  latest.current = refresh;
  const state = useRef({ running: false, waiting: false, stopped: false });
  useEffect(() => {
    const now = state.current;
    now.stopped = false;
    return () => {
      now.stopped = true;
    };
  }, []);
  const run = useCallback((): void => {
    const now = state.current;
    if (now.stopped) return;
    if (now.running) {
      now.waiting = true;
      return;
    }
    now.running = true;
    void latest
      .current()
      .catch(() => undefined) // the screen's own query shows its error
      .finally(() => {
        now.running = false;
        if (now.waiting) {
          now.waiting = false;
          run();
        }
      });
  }, []);
  return run;
}

/** A screen's live re-reads: the subscription's state, and `refresh` coalesced (for the
 * screen's own writes too). */
export interface LiveRefresh {
  status: LiveStatus;
  refresh: () => void;
}

/** Re-reads a screen (`refresh`, coalesced by {@link useCoalesced}) on each event of the
 * subscription `document`; heartbeats only carry the cursor. */
export function useLiveRefresh<V extends { after?: string | null }>(
  document: TypedDocumentNode<unknown, V>,
  variables: Omit<V, "after">,
  refresh: () => Promise<unknown>,
): LiveRefresh {
  const coalesced = useCoalesced(refresh);
  const { status } = useEvents(document, variables, (event) => {
    if (event.type !== "heartbeat") coalesced();
  });
  return { status, refresh: coalesced };
}

const EventsOfTypes = graphql(`
  subscription EventsOfTypes($types: [String!], $after: String) {
    events(types: $types, after: $after) {
      id
      type
      entityType
      entityId
      actor
      occurredAt
      cursor
    }
  }
`);

/** Re-reads a screen on each event of these `types` (a list's records created, changed or
 * removed by anyone), coalesced. */
export function useRecordsRefresh(types: string[], refresh: () => Promise<unknown>): LiveRefresh {
  return useLiveRefresh(EventsOfTypes, { types }, refresh);
}

const SAY: Record<LiveStatus, string> = {
  off: "Live updates off",
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
};

/** The state of a screen's live updates, announced politely to screen readers. */
export function LiveBadge({ status }: { status: LiveStatus }) {
  if (status === "off") return null;
  return (
    <span className={`live-badge live-${status}`} role="status" data-live={status}>
      {SAY[status]}
    </span>
  );
}
