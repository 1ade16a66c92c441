import { useTranslation } from 'react-i18next';
import { ApiError } from '../api/client';

/**
 * The message a page shows for a failed call: the namespace's own wording for the problem's code
 * (`<ns>:errors.<code>`), else the shared wording, else the API's title. Never a raw error.
 */
export function useErrorMessage(ns: string = 'common'): (error: unknown, values?: Record<string, unknown>) => string {
  const { t, i18n } = useTranslation(ns);
  return (error, values = {}) => {
    if (!(error instanceof ApiError)) return t('common:errors.network_error');
    const code = error.code;
    const retry = typeof error.problem.retry_after === 'number' ? Math.max(1, Math.ceil(error.problem.retry_after)) : null;
    const all = { ...error.problem, status: error.status, seconds: retry, minutes: retry ? Math.ceil(retry / 60) : null, ...values };
    if (i18n.exists(`${ns}:errors.${code}`)) return t(`${ns}:errors.${code}`, all);
    if (code === 'rate_limited' || error.status === 429) return retry ? t('common:errors.rate_limited', all) : t('common:errors.rate_limited_later');
    if (i18n.exists(`common:errors.${code}`)) return t(`common:errors.${code}`, all);
    if (error.status >= 500) return t('common:errors.internal_error');
    // A refusal the pages have no wording for: the API's own title is readable English.
    return error.problem.detail ?? error.problem.title ?? t('common:errors.unknown', all);
  };
}

/** Field errors of a 400 validation problem, by the body property they name (`body.email` → `email`). */
export function fieldErrors(error: unknown): Record<string, string> {
  if (!(error instanceof ApiError) || !error.problem.errors) return {};
  const out: Record<string, string> = {};
  for (const item of error.problem.errors) {
    const key = item.path.replace(/^\/?(body[./])?/, '').split(/[./]/)[0] ?? '';
    if (key && !out[key]) out[key] = item.message;
  }
  return out;
}
