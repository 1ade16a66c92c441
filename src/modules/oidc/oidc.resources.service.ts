import type { Database, DbHandle } from '../../platform/db/database.js';
import { isUniqueViolation } from '../../platform/db/errors.js';
import { newId } from '../../platform/crypto/ids.js';
import { recordChange, type Audit, type Events } from '../../platform/events/index.js';
import type { ClientInfo } from '../../platform/http/client.js';
import { oidcErrors } from './oidc.errors.js';
import { indicatorProblem } from './oidc.applications.uris.js';
import {
  deleteResource, findResource, insertResource, listResources, replaceScopes, resourcesByIndicators, scopesOf, updateResource, type ResourceRow,
} from './oidc.resources.queries.js';

/*
 * API resources (RFC 8707 resource indicators): what an access token may be issued for (its `aud`)
 * and the scopes it may carry. Platform-wide, managed by platform admins; every change is audited
 * and announced as `resource.created|updated|deleted` with no organization (the outbox keeps them;
 * no organization's webhook endpoint hears them). The indicator never changes once created: resource
 * servers check it as the audience of their tokens. Replacing a resource's scopes drops the grants
 * of the scopes it no longer has, and deleting a resource drops every grant of it.
 */

export interface ResourceScope {
  name: string;
  description: string;
}

export interface ResourceView extends ResourceRow {
  scopes: ResourceScope[];
}

export interface ResourceInput {
  indicator: string;
  name: string;
  scopes: ResourceScope[];
}

/** A platform admin acting. */
export interface AdminActor {
  id: string;
}

export interface ResourcesService {
  create(input: ResourceInput, actor: AdminActor, client: ClientInfo): Promise<ResourceView>;
  /** Newest first; `before` is the last id of the previous page. */
  list(options: { limit: number; before?: string }): Promise<ResourceView[]>;
  get(id: string): Promise<ResourceView>;
  update(id: string, changes: { name?: string; scopes?: ResourceScope[] }, actor: AdminActor, client: ClientInfo): Promise<ResourceView>;
  remove(id: string, actor: AdminActor, client: ClientInfo): Promise<void>;
  /** The resource of an indicator with its scopes, or null (for the provider). */
  findResource(indicator: string): Promise<ResourceView | null>;
}

/** OpenID Connect's own scopes: a resource may not define them (they would mean two things in one `scope` parameter). */
export const RESERVED_SCOPES: readonly string[] = ['openid', 'profile', 'email', 'phone', 'address', 'offline_access', 'organizations'];

function checkScopes(scopes: ResourceScope[]): ResourceScope[] {
  const seen = new Set<string>();
  scopes.forEach((scope, i) => {
    if (RESERVED_SCOPES.includes(scope.name)) {
      throw oidcErrors.reserved_scope(`The scope name ${scope.name} is reserved for OpenID Connect`, { errors: [{ path: `body.scopes.${i}.name`, message: `${scope.name} is reserved` }] });
    }
    if (seen.has(scope.name)) throw oidcErrors.duplicate_scope(`The scope ${scope.name} is named twice`, { errors: [{ path: `body.scopes.${i}.name`, message: `${scope.name} is named twice` }] });
    seen.add(scope.name);
  });
  return [...scopes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function createResourcesService(deps: { db: Database; audit: Audit; events: Events }): ResourcesService {
  const { db } = deps;
  const sinks = { audit: deps.audit, events: deps.events };

  async function withScopes(tx: DbHandle, rows: ResourceRow[]): Promise<ResourceView[]> {
    const scopes = await scopesOf(tx, rows.map((row) => row.id));
    return rows.map((row) => ({ ...row, scopes: scopes.filter((scope) => scope.resourceId === row.id).map(({ name, description }) => ({ name, description })) }));
  }

  const record = (tx: DbHandle, action: string, resource: ResourceRow, actor: AdminActor, client: ClientInfo, data: Record<string, unknown>, changes: Record<string, { before?: unknown; after?: unknown }> | null = null) =>
    recordChange(
      tx, sinks,
      { actor: { type: 'user', id: actor.id }, orgId: null, action, target: { type: 'oidc_resource', id: resource.id }, context: client, changes },
      { data: { resource_id: resource.id, indicator: resource.indicator, ...data } },
    );

  async function mustFind(tx: DbHandle, id: string, lock = false): Promise<ResourceRow> {
    const row = await findResource(tx, id, { lock });
    if (!row) throw oidcErrors.resource_not_found();
    return row;
  }

  return {
    async create(input, actor, client) {
      const problem = indicatorProblem(input.indicator);
      if (problem) throw oidcErrors.invalid_resource_indicator(`The indicator ${problem}`, { errors: [{ path: 'body.indicator', message: problem }] });
      const scopes = checkScopes(input.scopes);
      try {
        return await db.transaction(async (tx) => {
          if ((await resourcesByIndicators(tx, [input.indicator])).length > 0) throw oidcErrors.resource_indicator_taken();
          const row = await insertResource(tx, { id: newId('res'), indicator: input.indicator, name: input.name });
          await replaceScopes(tx, row.id, scopes);
          await record(tx, 'resource.created', row, actor, client, { name: row.name, scopes: scopes.map((scope) => scope.name) }, {
            indicator: { after: row.indicator }, name: { after: row.name }, scopes: { after: scopes.map((scope) => scope.name) },
          });
          return { ...row, scopes };
        });
      } catch (error) {
        // Two requests racing for one indicator: the same answer as one found taken.
        if (isUniqueViolation(error, 'oidc_resources_indicator_key')) throw oidcErrors.resource_indicator_taken();
        throw error;
      }
    },

    list: (options) => db.transaction(async (tx) => withScopes(tx, await listResources(tx, options))),

    get: (id) => db.transaction(async (tx) => (await withScopes(tx, [await mustFind(tx, id)]))[0]!),

    async update(id, changes, actor, client) {
      const scopes = changes.scopes ? checkScopes(changes.scopes) : undefined;
      return db.transaction(async (tx) => {
        const [before] = await withScopes(tx, [await mustFind(tx, id, true)]);
        const row = changes.name !== undefined ? (await updateResource(tx, id, { name: changes.name }))! : (await updateResource(tx, id, {}))!;
        if (scopes) await replaceScopes(tx, id, scopes);
        const [after] = await withScopes(tx, [row]);
        const diff: Record<string, { before?: unknown; after?: unknown }> = {};
        if (before!.name !== after!.name) diff.name = { before: before!.name, after: after!.name };
        if (JSON.stringify(before!.scopes) !== JSON.stringify(after!.scopes)) diff.scopes = { before: before!.scopes.map((s) => s.name), after: after!.scopes.map((s) => s.name) };
        await record(tx, 'resource.updated', row, actor, client, { changes: Object.keys(diff) }, diff);
        return after!;
      });
    },

    async remove(id, actor, client) {
      await db.transaction(async (tx) => {
        const row = await deleteResource(tx, id);
        if (!row) throw oidcErrors.resource_not_found();
        await record(tx, 'resource.deleted', row, actor, client, {});
      });
    },

    async findResource(indicator) {
      return db.transaction(async (tx) => {
        const [row] = await resourcesByIndicators(tx, [indicator]);
        return row ? (await withScopes(tx, [row]))[0]! : null;
      });
    },
  };
}
