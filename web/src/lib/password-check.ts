import { useEffect, useState } from 'react';
import { api, call } from '../api/client';
import type { paths } from '../api/schema';

/** The policy's verdict on a password: POST /v1/auth/password/check. */
export type PasswordCheck = paths['/v1/auth/password/check']['post']['responses'][200]['content']['application/json'];

/**
 * Asks the API's own policy about a new password once typing pauses (300 ms), for a strength
 * meter: the latest verdict (null while empty or when the check failed: the meter is a help, never
 * a blocker, the submit still gets the policy's answer) and whether an answer is pending.
 */
export function usePasswordCheck(password: string, about: { email?: string | undefined; name?: string | null | undefined } = {}): { check: PasswordCheck | null; pending: boolean } {
  const [check, setCheck] = useState<PasswordCheck | null>(null);
  const [pending, setPending] = useState(false);
  const { email, name } = about;
  useEffect(() => {
    if (!password) {
      setCheck(null);
      setPending(false);
      return;
    }
    let active = true;
    setPending(true);
    const timer = setTimeout(() => {
      const body = { password, ...(email ? { email } : {}), ...(name ? { name } : {}) };
      call(api.POST('/v1/auth/password/check', { body }))
        .then((result) => active && setCheck(result))
        .catch(() => active && setCheck(null))
        .finally(() => active && setPending(false));
    }, 300);
    return () => {
      active = false;
      clearTimeout(timer);
    };
  }, [password, email, name]);
  return { check, pending };
}
