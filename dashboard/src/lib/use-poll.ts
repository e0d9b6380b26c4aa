/**
 * Polling without pile-ups: one request at a time (the next is scheduled only once
 * the last one settled), stopped on unmount, and answers from before a change of
 * `deps` are dropped.
 */
import { useCallback, useEffect, useRef, useState } from 'react';

export interface Poll<T> {
  /** The last answer (kept while a later request fails). */
  data: T | undefined;
  /** The last request's failure; cleared by the next success. */
  error: unknown;
  /** True until the first answer or failure. */
  loading: boolean;
  /** Asks again now (skipped if a request is in flight). */
  refresh: () => void;
}

/**
 * Calls `load` now, then `intervalMs` after each answer (waiting while the tab is
 * hidden); starts over when `deps` change. An `intervalMs` of 0 pauses polling
 * (without a new request); a later non-zero value resumes it.
 */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: readonly unknown[]): Poll<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const loadRef = useRef(load);
  loadRef.current = load;
  const intervalRef = useRef(intervalMs);
  intervalRef.current = intervalMs;
  const runRef = useRef<() => void>(() => {});
  const scheduleRef = useRef<() => void>(() => {});

  useEffect(() => {
    let stopped = false;
    let inFlight = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const schedule = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (!stopped && intervalRef.current > 0) timer = setTimeout(() => void run(), intervalRef.current);
    };
    const run = async () => {
      if (stopped || inFlight) return;
      if (document.visibilityState === 'hidden' && intervalRef.current > 0) {
        schedule();
        return;
      }
      inFlight = true;
      try {
        const data = await loadRef.current();
        if (!stopped) setState({ data, error: undefined, loading: false });
      } catch (error) {
        if (!stopped) setState((s) => ({ data: s.data, error, loading: false }));
      } finally {
        inFlight = false;
        schedule();
      }
    };
    runRef.current = () => void run();
    scheduleRef.current = () => {
      if (!inFlight) schedule();
    };
    void run();
    return () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);

  // A new interval takes effect now (0 pauses; a request in flight schedules itself when it settles).
  useEffect(() => scheduleRef.current(), [intervalMs]);

  const refresh = useCallback(() => runRef.current(), []);
  return { ...state, refresh };
}
