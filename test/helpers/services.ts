import pg from 'pg';
import { Redis } from 'ioredis';

export interface Services {
  /** Admin URL of a reachable PostgreSQL (a database we may CREATE DATABASE from), or null. */
  postgresUrl: string | null;
  /** URL of a reachable Redis, or null. */
  redisUrl: string | null;
}

const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/test';
const DEFAULT_REDIS = 'redis://127.0.0.1:6379';

async function pgAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export async function probeServices(): Promise<Services> {
  const pgUrl = process.env.TEST_DATABASE_URL ?? DEFAULT_PG;
  const redisUrl = process.env.TEST_REDIS_URL ?? DEFAULT_REDIS;
  const [pgOk, redisOk] = await Promise.all([pgAnswers(pgUrl), redisAnswers(redisUrl)]);
  return { postgresUrl: pgOk ? pgUrl : null, redisUrl: redisOk ? redisUrl : null };
}
