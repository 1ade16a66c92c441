import { UAParser } from 'ua-parser-js';
import { sha256 } from '../../platform/crypto/tokens.js';

/** A readable device name from a User-Agent: `Chrome on macOS`, `Mobile Safari on iOS`, or `Unknown device`. */
export function deviceName(userAgent: string | null | undefined): string {
  if (!userAgent) return 'Unknown device';
  const result = new UAParser(userAgent.slice(0, 512)).getResult();
  const browser = result.browser.name;
  const os = result.os.name;
  if (browser && os) return `${browser} on ${os}`;
  if (browser) return browser;
  if (os) return `Unknown browser on ${os}`;
  // A client library (curl, okhttp…): its product token is still a useful name.
  const product = /^([A-Za-z][\w.-]{0,40})\//.exec(userAgent)?.[1];
  return product ?? 'Unknown device';
}

/** What counts as "the same device" for new-sign-in notices: browser and OS family, not versions. */
export function deviceFingerprint(userAgent: string | null | undefined): string {
  return sha256(deviceName(userAgent).toLowerCase());
}
