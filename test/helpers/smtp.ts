import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

/** One message the sink accepted: its SMTP envelope and the parsed message. */
export interface SinkMessage {
  /** MAIL FROM of the envelope. */
  envelopeFrom: string | null;
  /** RCPT TO addresses of the envelope (lower-cased). */
  rcptTo: string[];
  subject: string;
  text: string;
  html: string | null;
  mail: ParsedMail;
}

export interface SmtpSink {
  port: number;
  /** `smtp://127.0.0.1:<port>`, for SMTP_URL. */
  url: string;
  /** Every message received so far, in arrival order. */
  readonly messages: readonly SinkMessage[];
  /** Messages whose envelope names this recipient. */
  messagesTo(address: string): SinkMessage[];
  /**
   * The first message (received before or after the call) that satisfies `predicate`; rejects after
   * `timeoutMs` naming what it waited for and what arrived instead.
   */
  waitFor(predicate: (message: SinkMessage) => boolean, timeoutMs?: number, what?: string): Promise<SinkMessage>;
  /** DATA commands seen, accepted or not. */
  readonly attempts: number;
  close(): Promise<void>;
}

export interface SmtpSinkOptions {
  /** Listen on this port (default: one the OS picks). */
  port?: number;
  /**
   * Answer the n-th DATA (1-based) with a failure instead of accepting it: `true` is a 451 temporary
   * failure, a number is that SMTP reply code (e.g. 550, a permanent refusal). The envelope's
   * recipients are given so one sink can refuse only some addresses.
   */
  reject?: (attempt: number, envelope: { rcptTo: string[] }) => boolean | number;
}

/**
 * A real SMTP server on 127.0.0.1 (a free port the OS picks; no authentication required, no
 * STARTTLS) that parses every message it accepts with mailparser.
 */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const messages: SinkMessage[] = [];
  let attempts = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (error?: Error | null) => void) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        attempts += 1;
        const from = session.envelope.mailFrom;
        const envelopeFrom = from ? from.address : null;
        const rcptTo = session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase());
        const refusal = options.reject?.(attempts, { rcptTo });
        if (refusal) {
          const code = refusal === true ? 451 : refusal;
          callback(Object.assign(new Error(code >= 500 ? 'Mailbox unavailable' : 'Try again later'), { responseCode: code }));
          return;
        }
        simpleParser(Buffer.concat(chunks)).then(
          (mail) => {
            messages.push({
              envelopeFrom,
              rcptTo,
              subject: mail.subject ?? '',
              text: mail.text ?? '',
              html: typeof mail.html === 'string' ? mail.html : null,
              mail,
            });
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;

  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    get attempts() {
      return attempts;
    },
    messagesTo: (address) => messages.filter((message) => message.rcptTo.includes(address.toLowerCase())),
    async waitFor(predicate, timeoutMs = 10_000, what = 'a matching message') {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find(predicate);
        if (found) return found;
        if (Date.now() > deadline) {
          const seen = messages.map((message) => `${message.rcptTo.join(',')}: ${message.subject}`).join('; ') || 'nothing';
          throw new Error(`SMTP sink: timed out after ${timeoutMs} ms waiting for ${what} (received: ${seen})`);
        }
        await sleep(50);
      }
    },
    close() {
      closed ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closed;
    },
  };
}
