/**
 * A loop that runs `work` again and again on one instance, for work that reads a table (the outbox,
 * due deliveries, unsealed audit entries) rather than a queue. After a full batch it goes again at
 * once; after some work, after `minMs`; when idle it waits longer each time (doubling up to
 * `maxMs`), so an idle instance does not keep an embedded database busy. `wake()` cuts a wait short
 * (another part of the same process just made work for it).
 */
export interface Poller {
  start(): void;
  /** Stops and waits for the round in progress. */
  stop(): Promise<void>;
  /** Runs the next round now if the loop is waiting. */
  wake(): void;
}

export function createPoller(
  work: () => Promise<number>,
  options: { batch: number; minMs: number; maxMs: number; onError?: (error: unknown) => void },
): Poller {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopped = true;
  let idleMs = options.minMs;
  const next = (delay: number): void => {
    if (!stopped) timer = setTimeout(tick, delay);
  };
  function tick(): void {
    timer = null;
    running = work()
      .then((done) => {
        if (done >= options.batch) return next(0);
        idleMs = done > 0 ? options.minMs : Math.min(options.maxMs, idleMs * 2);
        next(done > 0 ? options.minMs : idleMs);
      })
      .catch((error: unknown) => {
        options.onError?.(error);
        next(options.maxMs);
      })
      .finally(() => {
        running = null;
      });
  }
  return {
    start() {
      if (!stopped) return;
      stopped = false;
      tick();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
    wake() {
      idleMs = options.minMs;
      if (stopped || !timer) return;
      clearTimeout(timer);
      tick();
    },
  };
}
