import { useTranslation } from 'react-i18next';
import { Button } from '../../../components/Button';
import { BackupCodeList, useBackupCodesFile } from '../../../components/SecondFactor';
import { useExperience } from '../../../lib/experience';

/**
 * Backup codes, shown once: the list, "Download as .txt" (a Blob URL, nothing leaves the browser),
 * a note to keep them safe, and "I have saved them" to close.
 */
export function Codes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  const { t } = useTranslation('account');
  const { brand } = useExperience();
  const file = useBackupCodesFile(`${t('codes.fileHeading', { brand: brand.name })}\n\n${codes.join('\n')}\n\n${t('codes.fileNote')}\n`);

  return (
    <div className="stack" role="group" aria-labelledby="codes-title">
      <h3 id="codes-title">{t('codes.title')}</h3>
      <p>{t('codes.note')}</p>
      <BackupCodeList codes={codes} label={t('codes.title')} />
      <div className="actions">
        {file.href ? (
          <a className="btn btn--secondary" href={file.href} download={file.filename}>
            {t('codes.download')}
          </a>
        ) : null}
        <Button onClick={onDone}>{t('codes.done')}</Button>
      </div>
    </div>
  );
}
