import { and, eq, sql } from 'drizzle-orm';
import type { DbHandle } from '../../platform/db/database.js';
import { users } from './accounts.tables.js';

export type UserRow = typeof users.$inferSelect;
export type NewUserRow = typeof users.$inferInsert;

export async function insertUser(db: DbHandle, row: NewUserRow): Promise<UserRow> {
  const [created] = await db.orm.insert(users).values(row).returning();
  return created!;
}

export async function findUserById(db: DbHandle, id: string): Promise<UserRow | null> {
  const [row] = await db.orm.select().from(users).where(eq(users.id, id)).limit(1);
  return row ?? null;
}

/** Case-insensitive, using the unique index on lower(email). */
export async function findUserByEmail(db: DbHandle, email: string): Promise<UserRow | null> {
  const [row] = await db.orm.select().from(users).where(sql`lower(${users.email}) = lower(${email})`).limit(1);
  return row ?? null;
}

export async function isPlatformAdmin(db: DbHandle, id: string): Promise<boolean> {
  const [row] = await db.orm.select({ id: users.id }).from(users).where(and(eq(users.id, id), eq(users.isPlatformAdmin, true))).limit(1);
  return Boolean(row);
}

export async function countPlatformAdmins(db: DbHandle): Promise<number> {
  const [row] = await db.orm.select({ n: sql<number>`count(*)::int` }).from(users).where(eq(users.isPlatformAdmin, true));
  return row?.n ?? 0;
}

export async function promoteToPlatformAdmin(db: DbHandle, id: string): Promise<void> {
  await db.orm.update(users).set({ isPlatformAdmin: true, updatedAt: new Date() }).where(eq(users.id, id));
}
