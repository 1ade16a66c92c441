import './profile/account.css';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../api/client';
import { Alert, Loading } from '../../components/Alert';
import { useErrorMessage } from '../../lib/errors';
import { useSession } from '../../lib/session';
import { useLoad } from './profile/useLoad';
import { BackupCodes } from './security/BackupCodes';
import { Passkeys } from './security/Passkeys';
import { Phone } from './security/Phone';
import { Totp } from './security/Totp';

/**
 * /account/security: second factors (authenticator app, backup codes, passkeys) and the phone
 * number. Sensitive changes ask to confirm who you are (the step-up dialog) when the sign-in is old.
 */
export function SecuritySection() {
  const { t } = useTranslation('account');
  const message = useErrorMessage('account');
  const { state: session } = useSession();
  const { state, reload } = useLoad(() => call(api.GET('/v1/me/mfa')));

  return (
    <section className="section" aria-labelledby="security-title">
      <h1 id="security-title">{t('nav.security')}</h1>
      {state.status === 'loading' ? <Loading /> : null}
      {state.status === 'error' ? (
        <Alert onRetry={() => void reload()}>
          {t('security.loadFailed')} {message(state.error)}
        </Alert>
      ) : null}
      {state.status === 'ready' ? (
        <>
          <p className="muted">{state.data.totp || state.data.passkeys > 0 ? t('security.protected') : t('security.unprotected')}</p>
          <Totp enabled={state.data.totp} onChange={reload} />
          {state.data.totp || state.data.backup_codes_remaining > 0 ? <BackupCodes remaining={state.data.backup_codes_remaining} onChange={reload} /> : null}
          <Passkeys onChange={reload} />
          {session.status === 'signed-in' ? <Phone user={session.user} /> : null}
        </>
      ) : null}
    </section>
  );
}
