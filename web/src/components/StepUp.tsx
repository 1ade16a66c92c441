import { createContext, useCallback, useContext, useRef, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { api, ApiError, call } from '../api/client';
import { useErrorMessage } from '../lib/errors';
import { Alert } from './Alert';
import { Button } from './Button';
import { Dialog } from './Dialog';
import { Field, PasswordField } from './Field';
import { Form, useFormError } from './Form';

type StepUp = <T>(action: () => Promise<T>) => Promise<T>;

const StepUpContext = createContext<StepUp | null>(null);

/**
 * Sensitive actions (a password or email change, removing a second factor, new backup codes…) need
 * a recent sign-in: the API answers 403 reauthentication_required. `withStepUp(action)` then asks
 * for the password (or an authenticator code) in a dialog, POST /v1/auth/reauthenticate, and runs
 * the action again: no page reload, nothing typed is lost.
 */
export function StepUpProvider({ children }: { children: ReactNode }) {
  const { t } = useTranslation();
  const message = useErrorMessage('account');
  const [open, setOpen] = useState(false);
  const [mode, setMode] = useState<'password' | 'code'>('password');
  const [secret, setSecret] = useState('');
  const { error, errorKey, fail, setError } = useFormError();
  const [busy, setBusy] = useState(false);
  const pending = useRef<{ resolve: () => void; reject: (error: unknown) => void } | null>(null);

  const ask = useCallback(
    () =>
      new Promise<void>((resolve, reject) => {
        pending.current = { resolve, reject };
        setSecret('');
        setError(null);
        setOpen(true);
      }),
    [],
  );

  const withStepUp = useCallback<StepUp>(
    async (action) => {
      try {
        return await action();
      } catch (error) {
        if (!(error instanceof ApiError) || error.code !== 'reauthentication_required') throw error;
        await ask();
        return action();
      }
    },
    [ask],
  );

  async function confirm(): Promise<void> {
    setBusy(true);
    try {
      await call(api.POST('/v1/auth/reauthenticate', { body: mode === 'password' ? { password: secret } : { code: secret } }));
      setOpen(false);
      pending.current?.resolve();
      pending.current = null;
    } catch (cause) {
      fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  function cancel(): void {
    setOpen(false);
    pending.current?.reject(new ApiError({ title: 'Cancelled', status: 0, code: 'step_up_cancelled' }));
    pending.current = null;
  }

  return (
    <StepUpContext.Provider value={withStepUp}>
      {children}
      <Dialog open={open} title={t('step_up.title')} onClose={cancel}>
        <p>{t('step_up.body')}</p>
        {error ? <Alert>{error}</Alert> : null}
        <Form onSubmit={confirm} errorKey={errorKey}>
          {mode === 'password' ? (
            <PasswordField label={t('step_up.password')} autoComplete="current-password" value={secret} onChange={(e) => setSecret(e.target.value)} autoFocus />
          ) : (
            <Field label={t('step_up.code')} inputMode="numeric" autoComplete="one-time-code" value={secret} onChange={(e) => setSecret(e.target.value)} autoFocus />
          )}
          <div className="actions">
            <Button type="submit" busy={busy}>
              {t('step_up.confirm')}
            </Button>
            <Button variant="link" onClick={() => setMode(mode === 'password' ? 'code' : 'password')}>
              {mode === 'password' ? t('step_up.useCode') : t('step_up.usePassword')}
            </Button>
            <Button variant="secondary" onClick={cancel}>
              {t('cancel')}
            </Button>
          </div>
        </Form>
      </Dialog>
    </StepUpContext.Provider>
  );
}

/** Runs an API action, asking the person to confirm who they are first when the API wants it. */
export function useStepUp(): StepUp {
  const value = useContext(StepUpContext);
  if (!value) throw new Error('useStepUp outside StepUpProvider');
  return value;
}
