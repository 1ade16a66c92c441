import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Button } from '../../../components/Button';
import { useExperience } from '../../../lib/experience';

/**
 * Backup codes, shown once: the list, "Download as .txt" (a Blob URL, nothing leaves the browser),
 * a note to keep them safe, and "I have saved them" to close.
 */
export function Codes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  const { t } = useTranslation('account');
  const { brand } = useExperience();
  const [url, setUrl] = useState<string | null>(null);

  useEffect(() => {
    const text = `${t('codes.fileHeading', { brand: brand.name })}\n\n${codes.join('\n')}\n\n${t('codes.fileNote')}\n`;
    const href = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
    setUrl(href);
    return () => URL.revokeObjectURL(href);
  }, [codes, brand.name, t]);

  return (
    <div className="stack" role="group" aria-labelledby="codes-title">
      <h3 id="codes-title">{t('codes.title')}</h3>
      <p>{t('codes.note')}</p>
      <ul className="codes" aria-label={t('codes.title')}>
        {codes.map((code) => (
          <li key={code}>{code}</li>
        ))}
      </ul>
      <div className="actions">
        {url ? (
          <a className="btn btn--secondary" href={url} download={`${brand.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-backup-codes.txt`}>
            {t('codes.download')}
          </a>
        ) : null}
        <Button onClick={onDone}>{t('codes.done')}</Button>
      </div>
    </div>
  );
}
