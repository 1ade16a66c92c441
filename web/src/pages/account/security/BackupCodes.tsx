import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, call } from '../../../api/client';
import { Alert } from '../../../components/Alert';
import { Button } from '../../../components/Button';
import { Dialog } from '../../../components/Dialog';
import { useStepUp } from '../../../components/StepUp';
import { useErrorMessage } from '../../../lib/errors';
import { formatNumber } from '../../../lib/format';
import { cancelled } from '../profile/useLoad';
import { Codes } from './Codes';

/** Backup codes: how many are left, and a new set (step-up) shown once; the old ones stop working. */
export function BackupCodes({ remaining, onChange }: { remaining: number; onChange: () => Promise<void> }) {
  const { t } = useTranslation('account');
  const message = useErrorMessage('account');
  const withStepUp = useStepUp();
  const [codes, setCodes] = useState<string[] | null>(null);
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function regenerate(): Promise<void> {
    setConfirm(false);
    setBusy(true);
    try {
      const result = await withStepUp(() => call(api.POST('/v1/me/mfa/backup-codes', {})));
      setCodes(result.backup_codes);
      setError(null);
      await onChange();
    } catch (cause) {
      if (!cancelled(cause)) setError(message(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="card">
      <h2>{t('backup.title')}</h2>
      <p className="muted">{t('backup.intro')}</p>
      {error ? <Alert>{error}</Alert> : null}
      {codes ? (
        <Codes codes={codes} onDone={() => setCodes(null)} />
      ) : (
        <>
          <p className={remaining <= 3 ? 'warning' : undefined}>{t('backup.remaining', { count: remaining, n: formatNumber(remaining) })}</p>
          <Button variant="secondary" busy={busy} onClick={() => setConfirm(true)}>
            {t('backup.regenerate')}
          </Button>
        </>
      )}
      <Dialog open={confirm} title={t('backup.regenerateTitle')} onClose={() => setConfirm(false)}>
        <p>{t('backup.regenerateBody')}</p>
        <div className="actions">
          <Button onClick={() => void regenerate()}>{t('backup.regenerateConfirm')}</Button>
          <Button variant="secondary" onClick={() => setConfirm(false)}>
            {t('common:cancel')}
          </Button>
        </div>
      </Dialog>
    </div>
  );
}
