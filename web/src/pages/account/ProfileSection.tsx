import { useState } from 'react';
import './profile/account.css';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../api/client';
import { chooseLanguage } from '../../app/i18n';
import { Alert, Loading } from '../../components/Alert';
import { Button } from '../../components/Button';
import { Field } from '../../components/Field';
import { Form, useFormError } from '../../components/Form';
import { fieldErrors, useErrorMessage } from '../../lib/errors';
import { LANGUAGES, type Language } from '../../locales';
import { useSession, type User } from '../../lib/session';
import { EmailChange } from './profile/EmailChange';
import { PasswordChange } from './profile/PasswordChange';

/** The page language of a BCP 47 locale ("es-ES" → "es"), when the pages speak it. */
function languageOf(locale: string | null | undefined): Language | '' {
  const base = (locale ?? '').toLowerCase().split('-')[0] as Language;
  return LANGUAGES.includes(base) ? base : '';
}

/**
 * /account: the profile. Name and language (saving the language also switches the pages to it),
 * the email address (changed through a link sent to the new one) and the password.
 */
export function ProfileSection() {
  const { t } = useTranslation('account');
  const { state, reload } = useSession();
  if (state.status !== 'signed-in') return <Loading />;
  return (
    <section className="section" aria-labelledby="profile-title">
      <h1 id="profile-title">{t('nav.profile')}</h1>
      <Details user={state.user} reload={reload} />
      <EmailChange user={state.user} />
      <PasswordChange user={state.user} />
    </section>
  );
}

function Details({ user, reload }: { user: User; reload: () => Promise<void> }) {
  const { t } = useTranslation('account');
  const message = useErrorMessage('account');
  const [name, setName] = useState(user.name ?? '');
  const [language, setLanguage] = useState<Language | ''>(languageOf(user.locale));
  const [busy, setBusy] = useState(false);
  const { error, errorKey, fail, setError } = useFormError();
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState(false);

  async function save(): Promise<void> {
    setSaved(false);
    const trimmed = name.trim();
    const body: { name?: string | null; locale?: string | null } = {};
    if (trimmed !== (user.name ?? '')) body.name = trimmed || null;
    if (language !== languageOf(user.locale)) body.locale = language || null;
    if (Object.keys(body).length === 0) {
      setError(null);
      setSaved(true);
      return;
    }
    setBusy(true);
    try {
      await call(api.PATCH('/v1/me', { body }));
      setError(null);
      setErrors({});
      if (language) await chooseLanguage(language);
      setSaved(true);
      await reload();
    } catch (cause) {
      setErrors(fieldErrors(cause));
      fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="card">
      <h2>{t('profile.details')}</h2>
      {error ? <Alert>{error}</Alert> : null}
      {saved ? <Alert tone="success">{t('profile.saved')}</Alert> : null}
      <Form onSubmit={save} errorKey={errorKey}>
        <Field label={t('profile.name')} name="name" autoComplete="name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} error={errors.name ? t('profile.nameInvalid') : null} />
        <div className="field">
          <label htmlFor="profile-language">{t('profile.language')}</label>
          <div className="field__desc" id="profile-language-desc">
            {t('profile.languageHelp')}
          </div>
          <div className="field__row">
            <select id="profile-language" aria-describedby="profile-language-desc" value={language} onChange={(e) => setLanguage(e.target.value as Language | '')}>
              <option value="">{t('profile.languageUnset')}</option>
              {LANGUAGES.map((l) => (
                <option key={l} value={l} lang={l}>
                  {t(`common:languages.${l}`)}
                </option>
              ))}
            </select>
          </div>
        </div>
        <Button type="submit" busy={busy}>
          {t('profile.save')}
        </Button>
      </Form>
    </div>
  );
}
