import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { users } from '../../src/modules/accounts/accounts.tables.js';
import { httpErrors } from '../../src/platform/http/errors.js';
import { createLogger } from '../../src/platform/http/logger.js';
import { newId } from '../../src/platform/crypto/ids.js';
import { createTestApp, logCollector, type TestApp } from '../helpers/app.js';
import { engineCases, type Engine } from '../helpers/db.js';
import { createRedisCache } from '../../src/platform/cache/index.js';
import { expectProblem } from '../helpers/http.js';
import { inject } from 'vitest';

/*
 * A failed statement never shows its SQL or bound values (issue #12 §5): not in a response, in any
 * mode (development names the error's class and SQLSTATE, nothing more), and not in the logs at
 * the default level in production (nor at debug): neither the parameters (an argon2id hash, an
 * address) nor the row PostgreSQL quotes back ("Failing row contains (…)") nor a value it quotes in
 * its message. Error codes stay readable in the logs: secrets are redacted, not codes. Forced
 * database errors on each engine, through routes registered with `extraRoutes`.
 */

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$bGVha3Byb2JlLXNhbHQ$bGVha3Byb2JlLWhhc2gtb2YtYS1wYXNzd29yZA';
const HASH_PARTS = ['bGVha3Byb2JlLXNhbHQ', 'bGVha3Byb2JlLWhhc2gtb2YtYS1wYXNzd29yZA'];
const { redisUrl } = inject('services');

async function appFor(engine: Engine, env: Record<string, string>, email: string): Promise<TestApp> {
  const cache = engine === 'postgres' ? await createRedisCache(redisUrl!, { prefix: `test:${randomBytes(6).toString('hex')}:` }) : undefined;
  return createTestApp({
    engine,
    env,
    build: {
      workers: false,
      ...(cache ? { cache } : {}),
      extraRoutes(server, context) {
        // A NUL in a bound value: the database refuses the statement (SQLSTATE 22021).
        server.post('/test/failing-insert', async () => {
          await context.db.orm.insert(users).values({ id: newId('usr'), email, passwordHash: HASH, name: 'a\u0000b' });
          return { ok: true };
        });
        // A NOT NULL violation: PostgreSQL quotes the whole row, hash and all, in its detail.
        server.post('/test/failing-row', async () => {
          await context.db.orm.insert(users).values({ id: newId('usr'), email: null as unknown as string, passwordHash: HASH, name: email });
          return { ok: true };
        });
        // A raw statement whose message quotes the offending value.
        server.get('/test/failing-cast', async () => {
          await context.db.sql.query('SELECT $1::uuid', [email]);
          return { ok: true };
        });
        server.get('/test/unavailable', async () => {
          throw httpErrors.service_unavailable('The mail provider is down');
        });
      },
    },
  });
}

const FAILING = [
  { method: 'POST' as const, url: '/test/failing-insert', sqlstate: '22021' },
  { method: 'POST' as const, url: '/test/failing-row', sqlstate: '23502' },
  { method: 'GET' as const, url: '/test/failing-cast', sqlstate: '22P02' },
];

describe.each(engineCases())('no SQL or bound values on $engine', ({ engine, available }) => {
  describe.skipIf(!available || (engine === 'postgres' && !redisUrl))(`${engine}`, () => {
    describe.each([
      { mode: 'development', level: 'debug' },
      { mode: 'production', level: 'info' },
    ])('in $mode at $level', ({ mode, level }) => {
      let app: TestApp;
      const email = `leak-probe-${randomBytes(4).toString('hex')}@example.com`;
      beforeAll(async () => {
        app = await appFor(engine, { NODE_ENV: mode, LOG_LEVEL: level }, email);
      });
      afterAll(async () => app?.destroy());

      const secrets = () => [HASH, ...HASH_PARTS, email, email.split('@')[0]!];

      it('answers a failed statement with a 500 that holds neither its SQL nor its bound values', async () => {
        for (const failing of FAILING) {
          const res = await app.server.inject({ method: failing.method, url: failing.url });
          const body = expectProblem(res, 500, 'internal_error');
          for (const secret of secrets()) expect(res.body, `${failing.url} leaks ${secret}`).not.toContain(secret);
          for (const sql of ['insert into', 'select', 'params', 'Failed query', 'Failing row', 'users', '$1']) expect(res.body.toLowerCase()).not.toContain(sql.toLowerCase());
          if (mode === 'development') {
            // A safe summary: the class of the error and its SQLSTATE, to find the log line.
            expect(body.detail).toContain(`SQLSTATE ${failing.sqlstate}`);
          } else {
            expect(body.detail).toBe('An unexpected error occurred; it has been logged');
          }
        }
      });

      it(`logs a failed statement at ${level} with its SQLSTATE and without its bound values, the failed row or quoted values`, async () => {
        for (const failing of FAILING) {
          const res = await app.server.inject({ method: failing.method, url: failing.url });
          expect(res.statusCode).toBe(500);
          const requestId = res.headers['x-request-id'];
          const logged = app.logs.lines.find((line) => line.reqId === requestId && line.level === 50);
          expect(logged, failing.url).toBeDefined();
          const text = JSON.stringify(logged);
          for (const secret of secrets()) expect(text, `${failing.url} logs ${secret}`).not.toContain(secret);
          for (const leak of ['params:', 'Failing row', '"params"', '"detail"', '"where"', 'unnamed portal parameter']) expect(text).not.toContain(leak);
          // What is needed to find the fault stays: the SQLSTATE somewhere in the chain, and the stack.
          expect(text).toContain(`"code":"${failing.sqlstate}"`);
          const err = logged!.err as { type: string; message: string; stack: string };
          expect(err.stack).toContain('    at ');
          if (failing.url !== '/test/failing-cast') expect(err.message).toMatch(/^Failed query: insert into "users"/);
        }
        expect(app.logs.text()).not.toContain(HASH_PARTS[1]);
      });

      it('logs error codes as they are, not as [redacted]', async () => {
        const unavailable = await app.server.inject({ method: 'GET', url: '/test/unavailable' });
        expectProblem(unavailable, 503, 'service_unavailable');
        const logged = app.logs.lines.find((line) => line.reqId === unavailable.headers['x-request-id'] && line.level === 50);
        expect(logged?.err).toMatchObject({ type: 'AppError', code: 'service_unavailable', status: 503, message: 'The mail provider is down' });

        const refused = await app.server.inject({ method: 'GET', url: '/v1/orgs/x/members?q=a%00b' });
        expectProblem(refused, 400, 'validation_failed');
        const refusal = app.logs.lines.find((line) => line.reqId === refused.headers['x-request-id'] && line.msg === 'request refused');
        expect(refusal).toMatchObject({ code: 'validation_failed', status: 400 });
        expect(app.logs.text()).not.toContain('"code":"[redacted]"');
      });
    });
  });
});

describe('the logger', () => {
  it('redacts secrets named code in request input but keeps the code of an error', () => {
    const logs = logCollector();
    const logger = createLogger({ level: 'info', destination: logs.stream });
    logger.info({ body: { code: '123456', email: 'a@example.com' }, query: { code: '654321' } }, 'input');
    logger.info({ password: 'hunter22', nested: { token: 'tok-secret', refresh_token: 'rt-secret' } }, 'secrets');
    logger.error({ err: httpErrors.service_unavailable('down') }, 'failed');
    const text = logs.text();
    for (const secret of ['123456', '654321', 'hunter22', 'tok-secret', 'rt-secret']) expect(text).not.toContain(secret);
    const [input, , failed] = logs.lines;
    expect(input).toMatchObject({ body: { code: '[redacted]', email: 'a@example.com' }, query: { code: '[redacted]' } });
    expect(failed!.err).toMatchObject({ type: 'AppError', code: 'service_unavailable', status: 503 });
  });

  it('keeps neither the params of a statement nor a message line with them, whatever wraps the error', () => {
    const logs = logCollector();
    const logger = createLogger({ level: 'info', destination: logs.stream });
    const database = Object.assign(new Error('duplicate key value violates unique constraint "users_email_key"'), {
      severity: 'ERROR', code: '23505', constraint: 'users_email_key', table: 'users', detail: 'Key (email)=(someone@example.com) already exists.', where: "unnamed portal parameter $1 = 'someone@example.com'",
    });
    const wrapped = Object.assign(new Error('Failed query: insert into "users" ("email") values ($1)\nparams: someone@example.com'), {
      query: 'insert into "users" ("email") values ($1)', params: ['someone@example.com'], cause: database,
    });
    const outer = new Error('job failed', { cause: wrapped });
    logger.error({ err: outer }, 'job queue error');
    logger.error({ error: wrapped }, 'under another key');
    logger.error(new Error('plain message\nparams: someone@example.com'));
    expect(logs.text()).not.toContain('someone@example.com');
    const err = logs.lines[0]!.err as { cause: { message: string; cause: Record<string, unknown> } };
    expect(err.cause.message).toBe('Failed query: insert into "users" ("email") values ($1)');
    expect(err.cause.cause).toMatchObject({ type: 'DatabaseError', code: '23505', constraint: 'users_email_key', table: 'users', message: 'duplicate key value violates unique constraint "users_email_key"' });
  });
});
