/*
 * The notification stream ends with its session. A stream is opened with an access token whose
 * session may end while it stays open (sign-out, a session revoked from another device or by an
 * admin, refresh-token theft ending the session): the stream must not go on delivering.
 *
 * Every instance's open streams are checked on one shared timer (each distinct session once a
 * tick) against the session revocation list, which lives in the cache (Redis when several
 * instances run, so a sign-out on one instance ends the streams on every other), and once more
 * before anything is written to a stream. A check that fails (cache and database both down) ends
 * the stream: the client reconnects and is authenticated again.
 */

/** How often open streams' sessions are checked. */
export const SESSION_CHECK_MS = 1000;

export interface SessionWatch {
  /** Calls `end` once the session has ended; the returned function stops watching. */
  watch(sessionId: string, end: () => void): () => void;
  /** Whether the session has ended (true also when that cannot be known now). */
  ended(sessionId: string): Promise<boolean>;
  /** Stops the timer (server shutdown). */
  close(): void;
}

export function createSessionWatch(deps: {
  isSessionRevoked(sessionId: string): Promise<boolean>;
  intervalMs?: number;
  onError?: (error: unknown) => void;
}): SessionWatch {
  const intervalMs = deps.intervalMs ?? SESSION_CHECK_MS;
  const watchers = new Map<string, Set<() => void>>();
  let timer: NodeJS.Timeout | null = null;
  let checking = false;

  async function ended(sessionId: string): Promise<boolean> {
    try {
      return await deps.isSessionRevoked(sessionId);
    } catch (error) {
      deps.onError?.(error);
      return true;
    }
  }

  async function tick(): Promise<void> {
    // A slow check (a busy cache) is not stacked under the next one.
    if (checking) return;
    checking = true;
    try {
      await Promise.all(
        [...watchers.keys()].map(async (sessionId) => {
          if (!(await ended(sessionId))) return;
          for (const end of [...(watchers.get(sessionId) ?? [])]) end();
        }),
      );
    } finally {
      checking = false;
    }
  }

  function stopTimerWhenIdle(): void {
    if (watchers.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  return {
    watch(sessionId, end) {
      let ends = watchers.get(sessionId);
      if (!ends) {
        ends = new Set();
        watchers.set(sessionId, ends);
      }
      ends.add(end);
      if (!timer) {
        timer = setInterval(() => void tick(), intervalMs);
        timer.unref();
      }
      return () => {
        const current = watchers.get(sessionId);
        current?.delete(end);
        if (current?.size === 0) watchers.delete(sessionId);
        stopTimerWhenIdle();
      };
    },
    ended,
    close() {
      watchers.clear();
      stopTimerWhenIdle();
    },
  };
}
