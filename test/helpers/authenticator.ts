import * as OTPAuth from 'otpauth';

/** TOTP step length of Tessera (RFC 6238 default). */
export const PERIOD_MS = 30_000;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An authenticator app: codes from otpauth for the URI the server gave. `next()` answers a code of
 * a later step than any it answered before (a used step is refused as a replay) that the server
 * still accepts (one step of drift either way): up to three codes in one 30-second step.
 */
export function authenticator(uri: string) {
  const totp = OTPAuth.URI.parse(uri) as OTPAuth.TOTP;
  let lastStep = -Infinity;
  const stepOf = (ms: number) => Math.floor(ms / PERIOD_MS);
  return {
    totp,
    async next(): Promise<string> {
      for (;;) {
        const now = Date.now();
        const step = Math.max(lastStep + 1, stepOf(now) - 1);
        if (step > stepOf(now) + 1) {
          await sleep(PERIOD_MS - (now % PERIOD_MS) + 20);
          continue;
        }
        // A code of the previous step is refused once the server's clock passes into the next: keep clear of the edge.
        if (step < stepOf(now) && now % PERIOD_MS > PERIOD_MS - 3000) {
          await sleep(PERIOD_MS - (now % PERIOD_MS) + 20);
          continue;
        }
        lastStep = step;
        return totp.generate({ timestamp: step * PERIOD_MS });
      }
    },
    /** Six digits that are none of the codes the server would accept now. */
    wrong(): string {
      const now = Date.now();
      const valid = new Set([-2, -1, 0, 1, 2].map((offset) => totp.generate({ timestamp: now + offset * PERIOD_MS })));
      for (;;) {
        const code = String(Math.floor(Math.random() * 1_000_000)).padStart(6, '0');
        if (!valid.has(code)) return code;
      }
    },
  };
}
export type Authenticator = ReturnType<typeof authenticator>;

/** The token of the `/mfa/recover?token=…` link of a recovery mail. */
export function recoveryToken(mail: { text: string; template: string }): string {
  const match = /\/mfa\/recover\?token=([^\s"'<>&]+)/.exec(mail.text);
  if (!match) throw new Error(`No /mfa/recover?token= link in the ${mail.template} mail:\n${mail.text}`);
  return decodeURIComponent(match[1]!);
}
