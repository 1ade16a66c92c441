import { forwardRef, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { Button } from './Button';

export interface AlertProps {
  tone?: 'error' | 'info' | 'success';
  children: ReactNode;
  /** Offers "Try again" (a failed load). */
  onRetry?: () => void;
}

/**
 * A message on the page: errors are announced at once (role=alert) and take focus when shown by a
 * form (the ref), information is polite (role=status).
 */
export const Alert = forwardRef<HTMLDivElement, AlertProps>(function Alert({ tone = 'error', children, onRetry }, ref) {
  const { t } = useTranslation();
  return (
    <div ref={ref} tabIndex={-1} className={`alert alert--${tone}`} role={tone === 'error' ? 'alert' : 'status'}>
      <div className="alert__body">{children}</div>
      {onRetry ? (
        <Button variant="secondary" onClick={onRetry}>
          {t('retry')}
        </Button>
      ) : null}
    </div>
  );
});

/** A region still loading: announced politely, with a visible spinner. */
export function Loading({ label }: { label?: string }) {
  const { t } = useTranslation();
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span>{label ?? t('loading')}</span>
    </div>
  );
}
