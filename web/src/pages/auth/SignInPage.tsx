import { browserSupportsWebAuthn, browserSupportsWebAuthnAutofill, startAuthentication, WebAuthnAbortService } from '@simplewebauthn/browser';
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useSearchParams } from 'react-router';
import { api, call } from '../../api/client';
import { Alert } from '../../components/Alert';
import { Button } from '../../components/Button';
import { Field, PasswordField } from '../../components/Field';
import { Form, useFormError } from '../../components/Form';
import { AuthLayout } from '../../components/Layout';
import { useErrorMessage } from '../../lib/errors';
import { useExperience } from '../../lib/experience';
import { returnToQuery, useCompleteSignIn, useReturnTo, type SignInReply } from '../../lib/sign-in';

type Options = Parameters<typeof startAuthentication>[0]['optionsJSON'];

/**
 * /sign-in: email and password; a passkey (a button, and the browser's autofill through
 * conditional mediation); a magic link; links to sign-up and "forgot password". Every refusal is a
 * sentence on the page (wrong password, lockout with its time, rate limit, unverified address),
 * worded as the API is: never saying whether an address has an account.
 */
export function SignInPage() {
  const { t } = useTranslation('auth');
  const { brand } = useExperience();
  const message = useErrorMessage('auth');
  const complete = useCompleteSignIn();
  const returnTo = useReturnTo();
  // An application's login_hint (OpenID Connect) fills the address in.
  const [params] = useSearchParams();
  const [email, setEmail] = useState(params.get('login_hint') ?? '');
  const [password, setPassword] = useState('');
  const { error, errorKey, fail: showError, setError } = useFormError();
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState<'password' | 'passkey' | 'magic' | null>(null);
  const [fieldErrors, setFieldErrors] = useState<{ email?: string; password?: string }>({});
  /** Set once "Use a passkey" was pressed: the autofill must not start after it (a new ceremony aborts the running one). */
  const modalStarted = useRef(false);

  const fail = (text: string) => {
    showError(text);
    setNotice(null);
  };

  async function passkey(autofill: boolean): Promise<void> {
    const { options, challenge_id } = await call(api.POST('/v1/auth/passkey/options', { body: {} }));
    // The button may have been pressed while the autofill's options were on their way: starting the
    // autofill now would abort the button's ceremony.
    if (autofill && modalStarted.current) return;
    const response = await startAuthentication({ optionsJSON: options as unknown as Options, useBrowserAutofill: autofill });
    setBusy('passkey');
    const reply = await call(api.POST('/v1/auth/passkey/verify', { body: { challenge_id, response: response as unknown as Record<string, unknown>, use_cookie: true } }));
    complete(reply as SignInReply);
  }

  // The browser offers saved passkeys in the email field's autofill (conditional mediation).
  useEffect(() => {
    let active = true;
    void browserSupportsWebAuthnAutofill().then((supported) => {
      if (!supported || !active || modalStarted.current) return;
      passkey(true).catch((cause: unknown) => {
        // Cancelled autofill, or the button's ceremony took over: nothing to say, and the button's
        // own busy state is not ours to reset.
        if (!active || (cause as { name?: string }).name === 'AbortError' || (cause instanceof Error && /abort|cancel/i.test(cause.message))) return;
        fail(message(cause));
        setBusy(null);
      });
    });
    return () => {
      active = false;
      WebAuthnAbortService.cancelCeremony();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  async function signIn(): Promise<void> {
    const errors = { ...(email ? {} : { email: t('common:required') }), ...(password ? {} : { password: t('common:required') }) };
    setFieldErrors(errors);
    if (Object.keys(errors).length > 0) return fail(t('common:fixErrors'));
    setBusy('password');
    try {
      complete((await call(api.POST('/v1/auth/login', { body: { email, password, use_cookie: true } }))) as SignInReply);
    } catch (cause) {
      fail(message(cause));
    } finally {
      setBusy(null);
    }
  }

  async function passkeyButton(): Promise<void> {
    modalStarted.current = true;
    WebAuthnAbortService.cancelCeremony();
    setBusy('passkey');
    try {
      await passkey(false);
    } catch (cause) {
      const name = (cause as { name?: string }).name;
      fail(name === 'NotAllowedError' || name === 'AbortError' ? t('signIn.passkeyCancelled') : message(cause));
    } finally {
      setBusy(null);
    }
  }

  async function magicLink(): Promise<void> {
    if (!email) {
      setFieldErrors({ email: t('common:required') });
      return fail(t('common:fixErrors'));
    }
    setBusy('magic');
    try {
      await call(api.POST('/v1/auth/magic-link', { body: { email } }));
      setError(null);
      setNotice(t('signIn.magicSent', { email }));
    } catch (cause) {
      fail(message(cause));
    } finally {
      setBusy(null);
    }
  }

  const query = returnToQuery(returnTo);
  return (
    <AuthLayout
      title={t('signIn.title', { brand: brand.name })}
      footer={
        <p>
          {t('signIn.noAccount')} <Link to={`/sign-up${query}`}>{t('signIn.signUp')}</Link>
        </p>
      }
    >
      {error ? <Alert>{error}</Alert> : null}
      {notice ? <Alert tone="success">{notice}</Alert> : null}
      <Form onSubmit={signIn} errorKey={errorKey}>
        <Field
          label={t('signIn.email')}
          name="email"
          type="email"
          autoComplete="username webauthn"
          value={email}
          onChange={(event) => setEmail(event.target.value)}
          error={fieldErrors.email}
          required
        />
        <PasswordField
          label={t('signIn.password')}
          name="password"
          autoComplete="current-password"
          value={password}
          onChange={(event) => setPassword(event.target.value)}
          error={fieldErrors.password}
          required
        />
        <p className="form__aside">
          <Link to={`/forgot-password${query}`}>{t('signIn.forgot')}</Link>
        </p>
        <Button type="submit" busy={busy === 'password'} className="btn--block">
          {t('signIn.submit')}
        </Button>
      </Form>
      <div className="divider" role="separator">
        <span>{t('signIn.or')}</span>
      </div>
      <div className="stack">
        {browserSupportsWebAuthn() ? (
          <Button variant="secondary" className="btn--block" busy={busy === 'passkey'} onClick={() => void passkeyButton()}>
            {t('signIn.passkey')}
          </Button>
        ) : null}
        <Button variant="secondary" className="btn--block" busy={busy === 'magic'} onClick={() => void magicLink()}>
          {t('signIn.magicLink')}
        </Button>
      </div>
    </AuthLayout>
  );
}
