import { useEffect, useRef, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { ApiError } from '../../api/client';
import { PasswordField } from '../../components/Field';
import { AuthLayout } from '../../components/Layout';
import en from '../../locales/en/auth';
import { usePasswordCheck } from '../../lib/password-check';

/*
 * What the signed-out pages share: the new-password field with its strength meter, the "expired
 * or used link" page, and one-time calls for mailed tokens.
 */

/** Where the verify page continues after the address is proven (set at sign-up; this browser only). */
export const AFTER_VERIFY_KEY = 'tessera.after_verify';

/**
 * The address this browser has just signed up with (until verified). Proving an address without
 * the password removes a password set before it (the API's guard against pre-registration), so the
 * verify page asks this browser's person for the password they chose rather than lose it.
 */
export const SIGNED_UP_KEY = 'tessera.signed_up';


const WARNINGS = new Map<string, string>(Object.entries(en.strength.warnings).map(([key, text]) => [text, key]));
const SUGGESTIONS = new Map<string, string>(Object.entries(en.strength.suggestions).map(([key, text]) => [text, key]));

/** Rules of the policy a refused password broke (422 weak_password `errors[].rule`). */
export function brokenRules(error: unknown): string[] {
  if (!(error instanceof ApiError) || error.code !== 'weak_password') return [];
  const errors = (error.problem.errors ?? []) as { rule?: string }[];
  return errors.map((item) => item.rule).filter((rule): rule is string => typeof rule === 'string');
}

/**
 * A new password: the field, then (debounced, ~300 ms after typing stops) the policy's verdict
 * from POST /v1/auth/password/check as a meter with its level, the rules it breaks and the
 * estimator's advice, in the page's language; announced politely. `rules` are the rules a refused
 * submit named (they mark the field invalid).
 */
export function NewPasswordField(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  email?: string;
  name?: string;
  rules?: string[];
  error?: string | null;
}) {
  const { t } = useTranslation('auth');
  const { value, email, name } = props;
  const { check, pending } = usePasswordCheck(value, { email, name });

  const min = check?.min_length ?? 8;
  const rules = check ? check.problems.map((p) => p.rule) : (props.rules ?? []);
  const ruleText = (rule: string) => t(`strength.rules.${rule}`, { min, defaultValue: '' }) || rule;
  const fieldError = props.error ?? (props.rules && props.rules.length > 0 && (!check || !check.acceptable) ? props.rules.map(ruleText).join(' ') : null);
  const warning = check?.feedback.warning ? WARNINGS.get(check.feedback.warning) : undefined;
  const suggestions = (check?.feedback.suggestions ?? []).map((text) => SUGGESTIONS.get(text)).filter((key): key is string => Boolean(key));

  return (
    <div className="stack">
      <PasswordField
        label={props.label}
        name="new-password"
        autoComplete="new-password"
        value={value}
        onChange={(event) => props.onChange(event.target.value)}
        error={fieldError}
        description={t('strength.hint', { min })}
        required
      />
      <div aria-live="polite" className="strength">
        {pending && !check ? <p className="muted">{t('strength.checking')}</p> : null}
        {check ? (
          <>
            <p>
              <label>
                {t('strength.label')}: <strong>{t(`strength.levels.${check.score as 0 | 1 | 2 | 3 | 4}`)}</strong>{' '}
                <meter min={0} max={4} low={2} high={3} optimum={4} value={check.score} />
              </label>
            </p>
            {rules.length > 0 ? (
              <ul>
                {rules.map((rule) => (
                  <li key={rule}>{ruleText(rule)}</li>
                ))}
              </ul>
            ) : check.acceptable ? (
              <p>{t('strength.acceptable')}</p>
            ) : null}
            {warning || suggestions.length > 0 ? (
              <ul className="muted">
                {warning ? <li>{t(`strength.warnings.${warning as keyof typeof en.strength.warnings}`)}</li> : null}
                {suggestions.map((key) => (
                  <li key={key}>{t(`strength.suggestions.${key as keyof typeof en.strength.suggestions}`)}</li>
                ))}
              </ul>
            ) : null}
          </>
        ) : null}
      </div>
    </div>
  );
}

/**
 * Runs a one-time call (a mailed token) once per token, however often React mounts the page
 * (StrictMode mounts twice in development): a second POST would find the token used.
 */
const onceCalls = new Map<string, Promise<unknown>>();
export function callOnce<T>(key: string, run: () => Promise<T>): Promise<T> {
  let promise = onceCalls.get(key) as Promise<T> | undefined;
  if (!promise) {
    promise = run();
    onceCalls.set(key, promise);
    // A failure may be retried (the network came back); a success stays done.
    promise.catch(() => onceCalls.delete(key));
  }
  return promise;
}

/** Runs `effect` once per value of `key` in this component's life. */
export function useOnceEffect(key: string, effect: () => void): void {
  const done = useRef<string | null>(null);
  useEffect(() => {
    if (done.current === key) return;
    done.current = key;
    effect();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
}

/** The page of a mailed link that is expired, used or malformed: what happened and the way on. */
export function ExpiredLink({ title, body, children }: { title: string; body: string; children: ReactNode }) {
  return (
    <AuthLayout title={title}>
      <p>{body}</p>
      {children}
    </AuthLayout>
  );
}

/** A link styled as a full-width button (the way on from a result page). */
export function ButtonLink({ to, children, variant = 'primary' }: { to: string; children: ReactNode; variant?: 'primary' | 'secondary' }) {
  return (
    <Link className={`btn btn--${variant} btn--block`} style={{ textDecoration: 'none' }} to={to}>
      {children}
    </Link>
  );
}
