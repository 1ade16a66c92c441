import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, call, hasSession } from '../api/client';
import type { paths } from '../api/schema';

export type User = paths['/v1/me']['get']['responses'][200]['content']['application/json'];

export type SessionState =
  | { status: 'loading' }
  | { status: 'signed-out' }
  | { status: 'signed-in'; user: User }
  | { status: 'error'; error: unknown };

interface SessionValue {
  state: SessionState;
  /** Reads GET /v1/me again (after a sign-in or a profile change). */
  reload(): Promise<void>;
  /** Ends this session (POST /v1/auth/logout) and forgets the user. */
  signOut(): Promise<void>;
  /** Sets the user after a sign-in answered with it, without another call. */
  signedIn(user: User): void;
}

const SessionContext = createContext<SessionValue | null>(null);

/**
 * Who is signed in, for every page. A browser without the session's CSRF cookie is signed out
 * without asking the server (the sign-in page needs no call for it); otherwise GET /v1/me, which
 * refreshes the short access cookie when needed.
 */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>(() => (hasSession() ? { status: 'loading' } : { status: 'signed-out' }));

  const reload = useCallback(async () => {
    if (!hasSession()) {
      setState({ status: 'signed-out' });
      return;
    }
    try {
      const user = await call(api.GET('/v1/me'));
      setState({ status: 'signed-in', user });
    } catch (error) {
      const status = (error as { status?: number }).status;
      setState(status === 401 || status === 403 ? { status: 'signed-out' } : { status: 'error', error });
    }
  }, []);

  useEffect(() => {
    if (hasSession()) void reload();
  }, [reload]);

  const value = useMemo<SessionValue>(
    () => ({
      state,
      reload,
      async signOut() {
        try {
          await call(api.POST('/v1/auth/logout', {}));
        } finally {
          setState({ status: 'signed-out' });
        }
      },
      signedIn(user) {
        setState({ status: 'signed-in', user });
      },
    }),
    [state, reload],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}
