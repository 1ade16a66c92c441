import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

/*
 * A small Server-Sent Events client over node:http, reading the stream as a browser's EventSource
 * would (fields `id`, `event`, `data`, `retry`; lines starting with `:` are comments), so tests see
 * exactly the bytes the server wrote.
 */

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

export interface SseStream {
  status: number;
  headers: IncomingHttpHeaders;
  events: SseEvent[];
  comments: string[];
  retry: number | null;
  /** Resolves when the server ends the response (or the connection closes). */
  ended: Promise<void>;
  isEnded(): boolean;
  /** Waits for the `index`-th event (0-based) to arrive. */
  event(index: number, timeoutMs?: number): Promise<SseEvent>;
  /** Waits for a comment containing `text`. */
  comment(text: string, timeoutMs?: number): Promise<void>;
  /** Goes away like a closed browser tab: the connection is destroyed. */
  close(): void;
}

/** Opens `url`; resolves once the status line and the first bytes of the body (when 200) have arrived. */
export function openStream(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false });
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      const events: SseEvent[] = [];
      const comments: string[] = [];
      const waiters = new Set<() => void>();
      let buffer = '';
      let ended = false;
      let retry: number | null = null;
      let firstChunk = true;
      let endResolve: () => void = () => undefined;
      const endedPromise = new Promise<void>((done) => (endResolve = done));
      const notify = (): void => {
        for (const waiter of [...waiters]) waiter();
      };
      const finish = (): void => {
        if (ended) return;
        ended = true;
        endResolve();
        notify();
      };
      const stream: SseStream = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        comments,
        get retry() {
          return retry;
        },
        ended: endedPromise,
        isEnded: () => ended,
        event: (index, timeoutMs = 10_000) => waitUntil(() => events[index], timeoutMs, `event #${index} (have ${events.length})`),
        comment: (text, timeoutMs = 10_000) =>
          waitUntil(() => (comments.some((c) => c.includes(text)) ? true : undefined), timeoutMs, `a comment with ${JSON.stringify(text)}`).then(() => undefined),
        close: () => {
          req.destroy();
          res.destroy();
        },
      };
      function waitUntil<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
        return new Promise((done, fail) => {
          const check = (): boolean => {
            const value = probe();
            if (value !== undefined) {
              cleanup();
              done(value);
              return true;
            }
            if (ended) {
              cleanup();
              fail(new Error(`the stream ended before ${what}`));
              return true;
            }
            return false;
          };
          const timer = setTimeout(() => {
            cleanup();
            fail(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
          }, timeoutMs);
          const cleanup = (): void => {
            clearTimeout(timer);
            waiters.delete(waiter);
          };
          const waiter = (): void => void check();
          if (!check()) waiters.add(waiter);
        });
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let split: number;
        while ((split = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, split);
          buffer = buffer.slice(split + 2);
          let id: string | null = null;
          let event = 'message';
          const data: string[] = [];
          let isEvent = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) {
              comments.push(line.slice(1).trim());
              continue;
            }
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'id') (id = value), (isEvent = true);
            else if (field === 'event') (event = value), (isEvent = true);
            else if (field === 'data') data.push(value), (isEvent = true);
            else if (field === 'retry') retry = Number(value);
          }
          if (isEvent) events.push({ id, event, data: data.join('\n') });
        }
        notify();
        if (firstChunk) {
          firstChunk = false;
          resolve(stream);
        }
      });
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);
      // An error answer is not a stream: hand it back with its body read.
      if (res.statusCode !== 200) {
        res.on('end', () => resolve(stream));
        return;
      }
    });
    req.end();
  });
}

/** The body of a non-stream answer (errors), read whole. */
export async function readBody(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
