import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Alert } from '../../components/Alert';
import { Button } from '../../components/Button';
import { Field } from '../../components/Field';
import { AuthLayout } from '../../components/Layout';

/** What the server put in the shell for this page (oidc-provider's device flow: src/modules/oidc/oidc.provider.ts). */
type DeviceData =
  | { page: 'device'; step: 'input'; xsrf: string; error: 'wrong_code' | 'failed' | null }
  | { page: 'device'; step: 'confirm'; xsrf: string; client: string; user_code: string }
  | { page: 'device'; step: 'done'; client: string | null };

function pageData(): DeviceData | null {
  const content = document.querySelector('meta[name="tessera-page-data"]')?.getAttribute('content');
  try {
    const data = content ? (JSON.parse(content) as DeviceData) : null;
    return data?.page === 'device' ? data : null;
  } catch {
    return null;
  }
}

/**
 * /oauth/device: connecting a TV or command-line tool (device authorization grant, RFC 8628). The
 * person types the code the device shows, confirms it is that device's application, and is told to
 * go back to the device. The forms post to the provider itself (a full page load each step), with
 * its CSRF token; signing in happens in between on the hosted pages.
 */
export function Page() {
  const { t } = useTranslation('auth');
  const [data] = useState(pageData);
  const [code, setCode] = useState('');

  if (!data) {
    return (
      <AuthLayout title={t('device.title')}>
        <p>{t('device.start')}</p>
        <p>
          <a href="/oauth/device">{t('device.enterCode')}</a>
        </p>
      </AuthLayout>
    );
  }
  if (data.step === 'done') {
    return (
      <AuthLayout title={t('device.doneTitle')}>
        <p>{data.client ? t('device.doneNamed', { app: data.client }) : t('device.done')}</p>
      </AuthLayout>
    );
  }
  if (data.step === 'confirm') {
    return (
      <AuthLayout title={t('device.title')}>
        <p>{t('device.confirm', { app: data.client, code: data.user_code })}</p>
        <p className="muted">{t('device.confirmWarning')}</p>
        <form method="post" action="/oauth/device" className="actions">
          <input type="hidden" name="xsrf" value={data.xsrf} />
          <input type="hidden" name="user_code" value={data.user_code} />
          <input type="hidden" name="confirm" value="yes" />
          <Button type="submit">{t('device.continue')}</Button>
          <Button type="submit" variant="secondary" name="abort" value="yes">
            {t('device.cancel')}
          </Button>
        </form>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title={t('device.title')}>
      {data.error ? <Alert>{data.error === 'wrong_code' ? t('device.wrongCode') : t('device.failed')}</Alert> : <p>{t('device.intro')}</p>}
      <form method="post" action="/oauth/device">
        <input type="hidden" name="xsrf" value={data.xsrf} />
        <Field
          label={t('device.code')}
          name="user_code"
          value={code}
          onChange={(event) => setCode(event.target.value)}
          autoComplete="off"
          autoCapitalize="characters"
          spellCheck={false}
          required
        />
        <Button type="submit" className="btn--block">
          {t('device.continue')}
        </Button>
      </form>
    </AuthLayout>
  );
}
