import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../../api/client';
import type { paths } from '../../../api/schema';
import { Alert, Loading } from '../../../components/Alert';
import { Button } from '../../../components/Button';
import { Form, useFormError } from '../../../components/Form';
import { useErrorMessage } from '../../../lib/errors';

type Preferences = paths['/v1/me/notification-preferences']['get']['responses'][200]['content']['application/json'];
type Categories = Preferences['categories'];
type Category = keyof Categories;
type Channel = keyof Categories[Category];

const CATEGORIES: Category[] = ['security', 'account', 'organization', 'product', 'marketing'];
const CHANNELS: Channel[] = ['email', 'sms', 'push', 'in_app'];

/**
 * Which messages reach me on which channel: a table, one row per kind of message and one checkbox
 * per channel (each labelled "<kind>: <channel>"); security messages are always on. Saved with
 * PUT /v1/me/notification-preferences, then "Saved".
 */
export function PreferencesForm() {
  const { t } = useTranslation('notifications');
  const message = useErrorMessage('notifications');
  const [prefs, setPrefs] = useState<Categories | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const { error, errorKey, fail, setError } = useFormError();
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    setLoadError(null);
    try {
      setPrefs((await call(api.GET('/v1/me/notification-preferences'))).categories);
    } catch (cause) {
      setLoadError(message(cause));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  function toggle(category: Category, channel: Channel, on: boolean): void {
    setSaved(false);
    setPrefs((current) => (current ? { ...current, [category]: { ...current[category], [channel]: on } } : current));
  }

  async function save(): Promise<void> {
    if (!prefs) return;
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      // Security is always on: it is not ours to send.
      const { security: _security, ...changeable } = prefs;
      const answer = await call(api.PUT('/v1/me/notification-preferences', { body: { categories: changeable } }));
      setPrefs(answer.categories);
      setSaved(true);
    } catch (cause) {
      fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="section" aria-labelledby="prefs-heading">
      <h2 id="prefs-heading">{t('preferences.heading')}</h2>
      <p className="muted">{t('preferences.intro')}</p>
      {loadError ? (
        <Alert onRetry={() => void load()}>{loadError}</Alert>
      ) : prefs === null ? (
        <Loading />
      ) : (
        <Form onSubmit={save} errorKey={errorKey}>
          {error ? <Alert>{error}</Alert> : null}
          <div className="prefs card">
            <table>
              <caption className="vh">{t('preferences.heading')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('preferences.category')}</th>
                  {CHANNELS.map((channel) => (
                    <th scope="col" key={channel}>
                      {t(`preferences.channels.${channel}`)}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {CATEGORIES.map((category) => {
                  const locked = category === 'security';
                  return (
                    <tr key={category}>
                      <th scope="row">
                        {t(`preferences.categories.${category}`)}
                        {locked ? <span className="prefs__always">{t('preferences.always')}</span> : null}
                      </th>
                      {CHANNELS.map((channel) => {
                        const id = `pref-${category}-${channel}`;
                        return (
                          <td key={channel}>
                            <input
                              type="checkbox"
                              id={id}
                              checked={locked || prefs[category][channel]}
                              disabled={locked}
                              onChange={(event) => toggle(category, channel, event.target.checked)}
                            />
                            <label htmlFor={id} className="vh">
                              {t('preferences.cell', { category: t(`preferences.categories.${category}`), channel: t(`preferences.channels.${channel}`) })}
                            </label>
                          </td>
                        );
                      })}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          {saved ? <Alert tone="success">{t('preferences.saved')}</Alert> : null}
          <div className="actions">
            <Button type="submit" busy={busy}>
              {t('preferences.save')}
            </Button>
          </div>
        </Form>
      )}
    </section>
  );
}
