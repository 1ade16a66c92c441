import { useId, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../../api/client';
import { Alert } from '../../../components/Alert';
import { Button } from '../../../components/Button';
import { PasswordField } from '../../../components/Field';
import { Form, useFormError } from '../../../components/Form';
import { useStepUp } from '../../../components/StepUp';
import { useErrorMessage } from '../../../lib/errors';
import { usePasswordCheck } from '../../../lib/password-check';
import type { User } from '../../../lib/session';
import { cancelled } from './useLoad';

const RULES = ['too_short', 'too_long', 'too_common', 'same_as_email', 'whitespace_only', 'needs_uppercase', 'needs_lowercase', 'needs_digit', 'needs_symbol'] as const;

/**
 * The password: current and new (with a strength meter from POST /v1/auth/password/check, asked
 * once typing pauses), POST /v1/me/password with step-up when needed. The other sessions end.
 */
export function PasswordChange({ user }: { user: User }) {
  const { t, i18n } = useTranslation('account');
  const message = useErrorMessage('account');
  const withStepUp = useStepUp();
  const strengthId = useId();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const { check } = usePasswordCheck(next, { email: user.email, name: user.name });
  const [errors, setErrors] = useState<{ current?: string; next?: string }>({});
  const { error, errorKey, fail: showError, setError } = useFormError();
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  const fail = (text: string) => {
    showError(text);
    setDone(false);
  };

  const ruleText = (rule: string, minLength: number) => (RULES.includes(rule as (typeof RULES)[number]) ? t(`password.rules.${rule as (typeof RULES)[number]}`, { min: minLength }) : null);

  async function submit(): Promise<void> {
    const missing = { ...(current ? {} : { current: t('common:required') }), ...(next ? {} : { next: t('common:required') }) };
    setErrors(missing);
    if (Object.keys(missing).length > 0) return fail(t('common:fixErrors'));
    setBusy(true);
    try {
      await withStepUp(() => call(api.POST('/v1/me/password', { body: { current_password: current, new_password: next } })));
      setCurrent('');
      setNext('');
      setError(null);
      setDone(true);
    } catch (cause) {
      if (cancelled(cause)) return;
      const code = (cause as { code?: string }).code;
      if (code === 'invalid_credentials') {
        setErrors({ current: t('errors.wrong_password') });
        return fail(t('errors.wrong_password'));
      }
      if (code === 'weak_password') {
        const problems = (cause as { problem: { errors?: { path: string; message: string; rule?: string }[] } }).problem.errors ?? [];
        const first = problems.map((p) => ruleText(p.rule ?? p.path.split('/').pop() ?? '', check?.min_length ?? 0)).find(Boolean);
        setErrors({ next: first ?? t('errors.weak_password') });
        return fail(t('errors.weak_password'));
      }
      fail(message(cause));
    } finally {
      setBusy(false);
    }
  }

  const strength = check ? (check.acceptable ? Math.max(1, check.score) : 0) : null;
  return (
    <div className="card">
      <h2>{t('password.title')}</h2>
      {error ? <Alert>{error}</Alert> : null}
      {done ? <Alert tone="success">{t('password.changed')}</Alert> : null}
      <Form onSubmit={submit} errorKey={errorKey}>
        <PasswordField label={t('password.current')} name="current_password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} error={errors.current} required />
        <PasswordField
          label={t('password.new')}
          name="new_password"
          autoComplete="new-password"
          value={next}
          onChange={(e) => {
            setNext(e.target.value);
            setDone(false);
          }}
          error={errors.next}
          description={check ? undefined : t('password.help')}
          {...(check && !errors.next ? { 'aria-describedby': strengthId } : {})}
          required
        />
        {check && strength !== null ? (
          <div id={strengthId} className="strength" aria-live="polite">
            <div className={`strength__bar strength__bar--${strength}`} aria-hidden="true">
              <span />
            </div>
            <p className="small">
              <strong>{t(`password.strength.${strength as 0 | 1 | 2 | 3 | 4}`)}</strong>
            </p>
            {check.problems.length > 0 ? (
              <ul className="small">
                {check.problems.map((p) => (
                  <li key={p.rule}>{ruleText(p.rule, check.min_length) ?? p.message}</li>
                ))}
              </ul>
            ) : i18n.language === 'en' && (check.feedback.warning || check.feedback.suggestions.length > 0) ? (
              <ul className="small muted">
                {check.feedback.warning ? <li>{check.feedback.warning}</li> : null}
                {check.feedback.suggestions.map((s) => (
                  <li key={s}>{s}</li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null}
        <Button type="submit" busy={busy}>
          {t('password.submit')}
        </Button>
      </Form>
    </div>
  );
}
