/**
 * A loop that runs `work` again and again on one instance: at once when it found a full batch,
 * after `intervalMs` when it did not, and after four intervals when it failed. For work that reads
 * a table (the outbox, unsealed audit entries) rather than a queue.
 */
export interface Poller {
  start(): void;
  /** Stops and waits for the round in progress. */
  stop(): Promise<void>;
}

export function createPoller(work: () => Promise<boolean>, options: { intervalMs: number; onError?: (error: unknown) => void }): Poller {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopped = true;
  const next = (delay: number): void => {
    if (!stopped) timer = setTimeout(tick, delay);
  };
  function tick(): void {
    running = work()
      .then((full) => next(full ? 0 : options.intervalMs))
      .catch((error: unknown) => {
        options.onError?.(error);
        next(options.intervalMs * 4);
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
      await running;
    },
  };
}
