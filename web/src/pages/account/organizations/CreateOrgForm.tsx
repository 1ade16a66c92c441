import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, ApiError, call } from '../../../api/client';
import { Alert } from '../../../components/Alert';
import { Button } from '../../../components/Button';
import { Field } from '../../../components/Field';
import { Form, useFormError } from '../../../components/Form';
import { useErrorMessage } from '../../../lib/errors';
import type { Org } from './OrgList';

/** A new organization (POST /v1/orgs): its name, and a short name (slug) if the person wants one. */
export function CreateOrgForm({ onCreated }: { onCreated: (org: Org) => void }) {
  const { t } = useTranslation('orgs');
  const message = useErrorMessage('orgs');
  const [name, setName] = useState('');
  const [slug, setSlug] = useState('');
  const [errors, setErrors] = useState<{ name?: string; slug?: string }>({});
  const { error, errorKey, fail: showError, setError } = useFormError();
  const [busy, setBusy] = useState(false);

  const fail = (text: string | null, fields: { name?: string; slug?: string } = {}) => {
    showError(text);
    setErrors(fields);
  };

  async function create(): Promise<void> {
    if (!name.trim()) return fail(t('common:fixErrors'), { name: t('common:required') });
    setBusy(true);
    setError(null);
    setErrors({});
    try {
      const org = await call(api.POST('/v1/orgs', { body: { name: name.trim(), ...(slug.trim() ? { slug: slug.trim() } : {}) } }));
      setName('');
      setSlug('');
      onCreated(org);
    } catch (cause) {
      const code = cause instanceof ApiError ? cause.code : '';
      if (code === 'slug_taken' || code === 'invalid_slug') fail(null, { slug: message(cause) });
      else fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="section" aria-labelledby="create-org-heading">
      <h2 id="create-org-heading">{t('create.heading')}</h2>
      <div className="card">
        <Form onSubmit={create} errorKey={errorKey}>
          {error ? <Alert>{error}</Alert> : null}
          <Field label={t('create.name')} name="org-name" value={name} onChange={(e) => setName(e.target.value)} error={errors.name} maxLength={200} required />
          <Field
            label={t('create.slug')}
            name="org-slug"
            value={slug}
            onChange={(e) => setSlug(e.target.value.toLowerCase())}
            error={errors.slug}
            description={t('create.slugHelp')}
            autoCapitalize="none"
            spellCheck={false}
            maxLength={63}
          />
          <Button type="submit" busy={busy}>
            {t('create.submit')}
          </Button>
        </Form>
      </div>
    </section>
  );
}
