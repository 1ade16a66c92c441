import { useCallback, useEffect, useState } from 'react';

export type Loaded<T> =
  | { status: 'loading' }
  | { status: 'error'; error: unknown }
  | { status: 'ready'; data: T };

/**
 * Loads what a section shows: its state (loading, error, ready), `reload()` for "Try again" and
 * after a change, and `set()` to replace the data with what a change answered (no extra call).
 * A reload keeps the current data on screen until the new answer arrives.
 */
export function useLoad<T>(load: () => Promise<T>): { state: Loaded<T>; reload: () => Promise<void>; set: (data: T) => void } {
  const [state, setState] = useState<Loaded<T>>({ status: 'loading' });
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, []);
  const reload = useCallback(async () => {
    try {
      const data = await run();
      setState({ status: 'ready', data });
    } catch (error) {
      setState({ status: 'error', error });
    }
  }, [run]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return {
    state,
    reload: async () => {
      setState((current) => (current.status === 'ready' ? current : { status: 'loading' }));
      await reload();
    },
    set: (data) => setState({ status: 'ready', data }),
  };
}

/** True for the rejection of a step-up dialog the person closed: nothing to say then. */
export function cancelled(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === 'step_up_cancelled';
}
