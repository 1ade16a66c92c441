import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api, ApiError, call, hasSession } from '../../api/client';
import type { User } from '../../lib/session';
import { Alert, Loading } from '../../components/Alert';
import { Button } from '../../components/Button';
import { Field, PasswordField } from '../../components/Field';
import { Form, useFormError } from '../../components/Form';
import { AuthLayout } from '../../components/Layout';
import { useErrorMessage } from '../../lib/errors';
import { useExperience } from '../../lib/experience';
import { safeReturnTo } from '../../lib/return-to';
import { useSession } from '../../lib/session';
import { returnToQuery } from '../../lib/sign-in';
import { AFTER_VERIFY_KEY, callOnce, ExpiredLink, SIGNED_UP_KEY, useOnceEffect } from './shared';

type Verified = { user: User; password_cleared: boolean };
type State =
  | { status: 'verifying' }
  | { status: 'password'; email: string }
  | { status: 'done'; result: Verified }
  | { status: 'expired' }
  | { status: 'failed'; error: unknown }
  | { status: 'code' };

/** The address this browser signed up with and has not verified yet, or null. */
const signedUpHere = (): string | null => localStorage.getItem(SIGNED_UP_KEY);

/**
 * /verify-email: proves an address from the mailed link, or by the 6-digit code typed with the
 * address. The same page confirms the new address of an email change. A link opens and verifies at
 * once, except in the browser that has just signed up (and is not signed in): proving an address
 * without the password removes a password set before it, so that person is asked for the password
 * they chose (or may go on without it). Verified: "Email address verified" and Continue (to sign-in
 * with the return_to saved at sign-up, or to the account center when signed in). An expired or used
 * link: a way to get a new message.
 */
export function Page() {
  const { t } = useTranslation('auth');
  const [params] = useSearchParams();
  const token = params.get('token');
  const message = useErrorMessage('auth');
  const [state, setState] = useState<State>(() => {
    if (!token) return { status: 'code' };
    const email = signedUpHere();
    return email && !hasSession() ? { status: 'password', email } : { status: 'verifying' };
  });

  const verifyToken = (password?: string) => {
    if (!token) return Promise.resolve();
    const body = password ? { token, password } : { token };
    if (!password) setState({ status: 'verifying' });
    return callOnce(`verify:${token}:${password ? 'pwd' : ''}`, () => call(api.POST('/v1/auth/verify-email', { body }))).then(
      (result) => {
        localStorage.removeItem(SIGNED_UP_KEY);
        setState({ status: 'done', result });
      },
      (error: unknown) => {
        if (error instanceof ApiError && error.code === 'invalid_link') setState({ status: 'expired' });
        else if (password && error instanceof ApiError && error.status === 401) throw error;
        else setState({ status: 'failed', error });
      },
    );
  };
  useOnceEffect(token ?? '', () => {
    if (state.status === 'verifying') void verifyToken();
  });

  if (state.status === 'verifying') {
    return (
      <AuthLayout title={t('verify.title')}>
        <Loading label={t('verify.verifying')} />
      </AuthLayout>
    );
  }
  if (state.status === 'failed') {
    return (
      <AuthLayout title={t('verify.title')}>
        <Alert onRetry={() => void verifyToken()}>{message(state.error)}</Alert>
      </AuthLayout>
    );
  }
  if (state.status === 'password') return <ConfirmWithPassword email={state.email} verify={verifyToken} />;
  if (state.status === 'done') return <Verified result={state.result} />;
  if (state.status === 'expired') return <Expired />;
  return <CodeForm onDone={(result) => setState({ status: 'done', result })} />;
}

/** The browser that signed up: the password it chose keeps the password (else the API removes it). */
function ConfirmWithPassword({ email, verify }: { email: string; verify: (password?: string) => Promise<void> }) {
  const { t } = useTranslation('auth');
  const message = useErrorMessage('auth');
  const [password, setPassword] = useState('');
  const [fieldError, setFieldError] = useState<string | null>(null);
  const { error, errorKey, fail } = useFormError();
  const [busy, setBusy] = useState(false);

  async function submit(): Promise<void> {
    if (!password) {
      setFieldError(t('common:required'));
      fail(t('common:fixErrors'));
      return;
    }
    setBusy(true);
    try {
      await verify(password);
    } catch (cause) {
      const text = cause instanceof ApiError && cause.code === 'invalid_credentials' ? t('verify.wrongPassword') : message(cause);
      setFieldError(text);
      fail(text);
      setBusy(false);
    }
  }

  return (
    <AuthLayout title={t('verify.confirmTitle')}>
      <p>{t('verify.confirmBody', { email })}</p>
      {error ? <Alert>{error}</Alert> : null}
      <Form onSubmit={submit} errorKey={errorKey}>
        <PasswordField
          label={t('verify.password')}
          name="password"
          autoComplete="current-password"
          value={password}
          onChange={(event) => setPassword(event.target.value)}
          error={fieldError}
          required
        />
        <Button type="submit" busy={busy} className="btn--block">
          {t('verify.confirm')}
        </Button>
      </Form>
      <p>
        <Button variant="link" onClick={() => void verify()}>
          {t('verify.withoutPassword')}
        </Button>
      </p>
    </AuthLayout>
  );
}

function Verified({ result }: { result: Verified }) {
  const { t } = useTranslation('auth');
  const { state } = useSession();
  const { redirect_origins: origins } = useExperience();
  const navigate = useNavigate();
  const signedIn = state.status === 'signed-in';

  function proceed(): void {
    if (signedIn) {
      localStorage.removeItem(AFTER_VERIFY_KEY);
      navigate('/account');
      return;
    }
    const saved = safeReturnTo(localStorage.getItem(AFTER_VERIFY_KEY), origins);
    localStorage.removeItem(AFTER_VERIFY_KEY);
    navigate(`/sign-in${returnToQuery(saved)}`);
  }

  return (
    <AuthLayout title={t('verify.doneTitle')}>
      <Alert tone="success">{t('verify.doneBody', { email: result.user.email })}</Alert>
      {result.password_cleared ? (
        <div className="stack">
          <p>{t('verify.passwordCleared')}</p>
          <p>
            <Link to="/forgot-password">{t('verify.resetPassword')}</Link>
          </p>
        </div>
      ) : null}
      <div className="actions">
        <Button className="btn--block" onClick={proceed}>
          {t('verify.continue')}
        </Button>
      </div>
    </AuthLayout>
  );
}

function Expired() {
  const { t } = useTranslation('auth');
  const message = useErrorMessage('auth');
  const [email, setEmail] = useState('');
  const [fieldError, setFieldError] = useState<string | null>(null);
  const { error, errorKey, fail, setError } = useFormError();
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function resend(): Promise<void> {
    if (!email.trim()) {
      setFieldError(t('common:required'));
      fail(t('common:fixErrors'));
      return;
    }
    setFieldError(null);
    setBusy(true);
    try {
      await call(api.POST('/v1/auth/verify-email/resend', { body: { email: email.trim() } }));
      setError(null);
      setNotice(t('verify.resent', { email: email.trim() }));
    } catch (cause) {
      setNotice(null);
      fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <ExpiredLink title={t('verify.expiredTitle')} body={t('verify.expiredBody')}>
      {error ? <Alert>{error}</Alert> : null}
      {notice ? <Alert tone="success">{notice}</Alert> : null}
      <Form onSubmit={resend} errorKey={errorKey}>
        <Field label={t('verify.email')} name="email" type="email" autoComplete="email" value={email} onChange={(event) => setEmail(event.target.value)} error={fieldError} required />
        <Button type="submit" busy={busy} className="btn--block">
          {t('verify.resend')}
        </Button>
      </Form>
      <p>
        <Link to="/verify-email">{t('verify.typeCode')}</Link>
      </p>
      <p>
        <Link to="/sign-in">{t('verify.backToSignIn')}</Link>
      </p>
    </ExpiredLink>
  );
}

function CodeForm({ onDone }: { onDone: (result: Verified) => void }) {
  const { t } = useTranslation('auth');
  const message = useErrorMessage('auth');
  const [params] = useSearchParams();
  const [email, setEmail] = useState(params.get('email') ?? '');
  const [code, setCode] = useState('');
  const [password, setPassword] = useState('');
  const askPassword = useState(() => signedUpHere() !== null && !hasSession())[0];
  const [errors, setErrors] = useState<{ email?: string; code?: string; password?: string }>({});
  const { error, errorKey, fail } = useFormError();
  const [busy, setBusy] = useState(false);

  async function submit(): Promise<void> {
    const digits = code.replace(/\s/g, '');
    const found = {
      ...(email.trim() ? {} : { email: t('common:required') }),
      ...(/^[0-9]{6}$/.test(digits) ? {} : { code: digits ? t('errors.invalid_code') : t('common:required') }),
    };
    setErrors(found);
    if (Object.keys(found).length > 0) {
      fail(t('common:fixErrors'));
      return;
    }
    setBusy(true);
    try {
      const result = await call(api.POST('/v1/auth/verify-email', { body: { email: email.trim(), code: digits, ...(password ? { password } : {}) } }));
      localStorage.removeItem(SIGNED_UP_KEY);
      onDone(result);
    } catch (cause) {
      if (cause instanceof ApiError && cause.code === 'invalid_code') setErrors({ code: t('errors.invalid_code') });
      const wrongPassword = cause instanceof ApiError && cause.code === 'invalid_credentials' && password;
      if (wrongPassword) setErrors({ password: t('verify.wrongPassword') });
      fail(wrongPassword ? t('verify.wrongPassword') : message(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthLayout title={t('verify.title')}>
      <p>{t('verify.codeIntro')}</p>
      {error ? <Alert>{error}</Alert> : null}
      <Form onSubmit={submit} errorKey={errorKey}>
        <Field label={t('verify.email')} name="email" type="email" autoComplete="email" value={email} onChange={(event) => setEmail(event.target.value)} error={errors.email} required />
        <Field
          label={t('verify.code')}
          name="code"
          inputMode="numeric"
          autoComplete="one-time-code"
          maxLength={7}
          value={code}
          onChange={(event) => setCode(event.target.value)}
          error={errors.code}
          required
        />
        {askPassword ? (
          <PasswordField
            label={t('verify.password')}
            name="password"
            autoComplete="current-password"
            description={t('verify.passwordHelp')}
            value={password}
            onChange={(event) => setPassword(event.target.value)}
            error={errors.password}
          />
        ) : null}
        <Button type="submit" busy={busy} className="btn--block">
          {t('verify.submit')}
        </Button>
      </Form>
      <p>
        <Link to="/sign-in">{t('verify.backToSignIn')}</Link>
      </p>
    </AuthLayout>
  );
}
