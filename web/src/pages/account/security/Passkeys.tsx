import { browserSupportsWebAuthn, startRegistration } from '@simplewebauthn/browser';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../../api/client';
import type { paths } from '../../../api/schema';
import { Alert, Loading } from '../../../components/Alert';
import { Button } from '../../../components/Button';
import { Dialog } from '../../../components/Dialog';
import { Field } from '../../../components/Field';
import { Form, useFormError } from '../../../components/Form';
import { useStepUp } from '../../../components/StepUp';
import { useErrorMessage } from '../../../lib/errors';
import { formatDateTime } from '../../../lib/format';
import { cancelled, useLoad } from '../profile/useLoad';

type Passkey = paths['/v1/me/passkeys']['get']['responses'][200]['content']['application/json']['data'][number];
type CreationOptions = Parameters<typeof startRegistration>[0]['optionsJSON'];

/** Passkeys: the list (name, added, last used), add one, rename, remove (step-up). */
export function Passkeys({ onChange }: { onChange: () => Promise<void> }) {
  const { t } = useTranslation('account');
  const message = useErrorMessage('account');
  const withStepUp = useStepUp();
  const { state, reload } = useLoad(async () => (await call(api.GET('/v1/me/passkeys'))).data);
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<{ tone: 'success' | 'error'; text: string } | null>(null);
  const [renaming, setRenaming] = useState<Passkey | null>(null);
  const [removing, setRemoving] = useState<Passkey | null>(null);
  const supported = browserSupportsWebAuthn();

  const refresh = async () => {
    await reload();
    await onChange();
  };

  async function add(): Promise<void> {
    setBusy('add');
    setNotice(null);
    try {
      const options = await call(api.POST('/v1/me/passkeys/options', {}));
      const response = await startRegistration({ optionsJSON: options as unknown as CreationOptions });
      const created = await call(api.POST('/v1/me/passkeys', { body: { response: response as unknown as Record<string, unknown> } }));
      setNotice({ tone: 'success', text: t('passkeys.added', { name: created.name }) });
      await refresh();
    } catch (cause) {
      const name = (cause as { name?: string }).name;
      if (name === 'NotAllowedError' || name === 'AbortError') setNotice({ tone: 'error', text: t('passkeys.cancelled') });
      else if (name === 'InvalidStateError') setNotice({ tone: 'error', text: t('errors.passkey_already_registered') });
      else setNotice({ tone: 'error', text: message(cause) });
    } finally {
      setBusy(null);
    }
  }

  async function remove(passkey: Passkey): Promise<void> {
    setRemoving(null);
    setBusy(passkey.id);
    try {
      await withStepUp(() => call(api.DELETE('/v1/me/passkeys/{id}', { params: { path: { id: passkey.id } } })));
      setNotice({ tone: 'success', text: t('passkeys.removed', { name: passkey.name }) });
      await refresh();
    } catch (cause) {
      if (!cancelled(cause)) setNotice({ tone: 'error', text: message(cause) });
    } finally {
      setBusy(null);
    }
  }

  return (
    <div className="card">
      <h2>{t('passkeys.title')}</h2>
      <p className="muted">{t('passkeys.intro')}</p>
      {notice ? <Alert tone={notice.tone}>{notice.text}</Alert> : null}
      {state.status === 'loading' ? <Loading /> : null}
      {state.status === 'error' ? (
        <Alert onRetry={() => void reload()}>
          {t('passkeys.loadFailed')} {message(state.error)}
        </Alert>
      ) : null}
      {state.status === 'ready' ? (
        state.data.length === 0 ? (
          <p>{t('passkeys.none')}</p>
        ) : (
          <ul className="list" aria-label={t('passkeys.title')}>
            {state.data.map((passkey) => (
              <li key={passkey.id}>
                {renaming?.id === passkey.id ? (
                  <Rename
                    passkey={passkey}
                    onDone={async (renamed) => {
                      setRenaming(null);
                      if (renamed) {
                        setNotice({ tone: 'success', text: t('passkeys.renamed', { name: renamed }) });
                        await reload();
                      }
                    }}
                  />
                ) : (
                  <>
                    <div className="list__main">
                      <div>
                        <strong>{passkey.name}</strong> {passkey.backed_up ? <span className="tag">{t('passkeys.synced')}</span> : null}
                      </div>
                      <div className="muted small">
                        {t('passkeys.addedAt', { at: formatDateTime(passkey.created_at) })} ·{' '}
                        {passkey.last_used_at ? t('passkeys.lastUsed', { at: formatDateTime(passkey.last_used_at) }) : t('passkeys.neverUsed')}
                      </div>
                    </div>
                    <div className="actions">
                      <Button variant="secondary" onClick={() => setRenaming(passkey)} aria-label={t('passkeys.renameNamed', { name: passkey.name })}>
                        {t('passkeys.rename')}
                      </Button>
                      <Button variant="danger" busy={busy === passkey.id} onClick={() => setRemoving(passkey)} aria-label={t('passkeys.removeNamed', { name: passkey.name })}>
                        {t('passkeys.remove')}
                      </Button>
                    </div>
                  </>
                )}
              </li>
            ))}
          </ul>
        )
      ) : null}
      <div className="actions">
        {supported ? (
          <Button busy={busy === 'add'} onClick={() => void add()}>
            {t('passkeys.add')}
          </Button>
        ) : (
          <p className="muted">{t('passkeys.unsupported')}</p>
        )}
      </div>
      <Dialog open={removing !== null} title={t('passkeys.removeTitle')} onClose={() => setRemoving(null)}>
        <p>{t('passkeys.removeBody', { name: removing?.name ?? '' })}</p>
        <div className="actions">
          <Button variant="danger" onClick={() => removing && void remove(removing)}>
            {t('passkeys.removeConfirm')}
          </Button>
          <Button variant="secondary" onClick={() => setRemoving(null)}>
            {t('common:cancel')}
          </Button>
        </div>
      </Dialog>
    </div>
  );
}

function Rename({ passkey, onDone }: { passkey: Passkey; onDone: (renamed: string | null) => Promise<void> }) {
  const { t } = useTranslation('account');
  const message = useErrorMessage('account');
  const [name, setName] = useState(passkey.name);
  const { error, errorKey, fail } = useFormError();
  const [busy, setBusy] = useState(false);

  async function save(): Promise<void> {
    const trimmed = name.trim();
    if (!trimmed) {
      fail(t('common:required'));
      return;
    }
    setBusy(true);
    try {
      const renamed = await call(api.PATCH('/v1/me/passkeys/{id}', { params: { path: { id: passkey.id } }, body: { name: trimmed } }));
      await onDone(renamed.name);
    } catch (cause) {
      fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Form onSubmit={save} errorKey={errorKey} className="list__main">
      <Field label={t('passkeys.name')} value={name} maxLength={100} onChange={(e) => setName(e.target.value)} error={error} autoFocus />
      <div className="actions">
        <Button type="submit" busy={busy}>
          {t('common:save')}
        </Button>
        <Button variant="secondary" onClick={() => void onDone(null)}>
          {t('common:cancel')}
        </Button>
      </div>
    </Form>
  );
}
