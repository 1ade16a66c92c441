import { useEffect, useState } from 'react';
import { useExperience } from '../lib/experience';

/**
 * The parts of a second-factor set-up that the account center and the forced enrolment
 * (/mfa/enroll) share; each caller gives its own wording.
 */

/**
 * The server's QR code (SVG markup from POST /v1/me/mfa/totp: no script, no style attribute, so it
 * is drawn as markup and stays sharp) and the same key as text for those who cannot scan.
 */
export function TotpKey({ qrSvg, secret, qrLabel, keyLabel }: { qrSvg: string; secret: string; qrLabel: string; keyLabel: string }) {
  return (
    <>
      <div className="qr" role="img" aria-label={qrLabel} dangerouslySetInnerHTML={{ __html: qrSvg }} />
      <p>
        {keyLabel} <code className="secret" data-testid="totp-secret">{secret}</code>
      </p>
    </>
  );
}

/** Backup codes, shown once, as a list named `label`. */
export function BackupCodeList({ codes, label }: { codes: readonly string[]; label: string }) {
  return (
    <ul className="codes" aria-label={label}>
      {codes.map((code) => (
        <li key={code}>{code}</li>
      ))}
    </ul>
  );
}

/**
 * A download of backup codes as a .txt file: a Blob URL (nothing leaves the browser, allowed by
 * the pages' CSP), revoked when the codes go away, and the file name from the brand.
 */
export function useBackupCodesFile(text: string): { href: string | null; filename: string } {
  const { brand } = useExperience();
  const [href, setHref] = useState<string | null>(null);
  useEffect(() => {
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
    setHref(url);
    return () => URL.revokeObjectURL(url);
  }, [text]);
  return { href, filename: `${brand.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-backup-codes.txt` };
}
