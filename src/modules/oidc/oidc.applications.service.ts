import type { Database, DbHandle } from '../../platform/db/database.js';
import { databaseErrorOf } from '../../platform/db/errors.js';
import type { SecretBox } from '../../platform/crypto/secret-box.js';
import { isId, newId } from '../../platform/crypto/ids.js';
import { randomToken, safeEqual } from '../../platform/crypto/tokens.js';
import { recordChange, type Audit, type Events } from '../../platform/events/index.js';
import type { ClientInfo } from '../../platform/http/client.js';
import { oidcErrors } from './oidc.errors.js';
import {
  backchannelUriProblem, grantTypesOf, isConfidential, isRedirecting, originProblem, redirectUriProblem, responseTypesOf, type ApplicationType,
} from './oidc.applications.uris.js';
import {
  deleteApplication, findApplication, grantsOf, insertApplication, listApplications, replaceGrants, updateApplication, type ApplicationRow, type GrantRow,
} from './oidc.applications.queries.js';
import { resourcesByIndicators, scopesOf } from './oidc.resources.queries.js';
import type { AdminActor, ResourceView } from './oidc.resources.service.js';

/**
 * Applications: the clients of Tessera's OpenID provider, registered by platform admins. An
 * application's id (`app_…`) is its client_id. Confidential types (`web`, `m2m`) get a client secret
 * of 32 random bytes (base64url), answered once at creation and at each rotation and stored sealed
 * with TESSERA_SECRET (sealed rather than hashed: the provider compares the presented secret); a
 * rotation keeps the previous secret, sealed, accepted until APPLICATION_SECRET_OVERLAP_SECONDS
 * (default one day) have passed. Public types (`spa`, `native`, `device`) have no secret.
 *
 * Every change writes its audit entry and its outbox event in its own transaction:
 * `application.created|updated|deleted|secret_rotated` (a change of grants is audited as
 * `application.grants_changed` and announced as `application.updated` with `changes: ["grants"]`).
 * No secret is in any entry, event or log. An application with an `org_id` belongs to that
 * organization: its events carry the org_id and reach that organization's webhook endpoints, and its
 * audit entries are in that organization's log. A platform-wide application (no org_id) is audited
 * and announced with no organization: the events stay in the outbox for platform-level consumers and
 * reach no organization's endpoint (no organization is told about applications it does not own).
 */

export interface Grant {
  /** The resource indicator. */
  resource: string;
  scopes: string[];
}

export interface ApplicationView extends ApplicationRow {
  type: ApplicationType;
  grants: Grant[];
}

export interface ApplicationInput {
  name: string;
  type: ApplicationType;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  allowedOrigins?: string[];
  backchannelLogoutUri?: string | null;
  firstParty?: boolean;
  orgId?: string | null;
  tokenEndpointAuthMethod?: ConfidentialAuthMethod;
}

export type ConfidentialAuthMethod = 'client_secret_basic' | 'client_secret_post';
export type ApplicationChanges = Partial<Omit<ApplicationInput, 'type' | 'orgId'>>;

export interface ApplicationsService {
  /** The application, and its client secret (confidential types) in clear for this one answer. */
  create(input: ApplicationInput, actor: AdminActor, client: ClientInfo): Promise<{ application: ApplicationView; secret: string | null }>;
  /** Newest first; `before` is the last id of the previous page. */
  list(options: { limit: number; before?: string; orgId?: string }): Promise<ApplicationView[]>;
  get(id: string): Promise<ApplicationView>;
  update(id: string, changes: ApplicationChanges, actor: AdminActor, client: ClientInfo): Promise<ApplicationView>;
  remove(id: string, actor: AdminActor, client: ClientInfo): Promise<void>;
  /** A new secret, answered once; the previous one keeps working for the overlap. 409 public_client for public types. */
  rotateSecret(id: string, actor: AdminActor, client: ClientInfo): Promise<{ application: ApplicationView; secret: string }>;
  grants(id: string): Promise<Grant[]>;
  /** Makes the application's resource scopes exactly these; 422 unknown_resource / unknown_scope (nothing written). */
  replaceGrants(id: string, grants: Grant[], actor: AdminActor, client: ClientInfo): Promise<ApplicationView>;
}

/** An application as oidc-provider reads a client's metadata (snake_case), with Tessera's extras. */
export interface ClientMetadata {
  client_id: string;
  client_name: string;
  /** The current secret in clear (confidential types only). */
  client_secret?: string;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: 'client_secret_basic' | 'client_secret_post' | 'none';
  application_type: 'web' | 'native';
  backchannel_logout_uri?: string;
  // Tessera's extras (declare them in oidc-provider's extraClientMetadata.properties).
  first_party: boolean;
  org_id: string | null;
  allowed_origins: string[];
  /** The Tessera application type (web, spa, native, m2m, device). */
  tessera_type: ApplicationType;
}

/** What the OpenID provider reads: clients, their secrets and grants, and resources. */
export interface ClientRegistry {
  /** The client metadata of a client_id, or null when there is no such application. */
  findClient(clientId: string): Promise<ClientMetadata | null>;
  /**
   * Whether `presented` is the client's secret: the current one, or the previous one until its
   * overlap ends (`at`, default now). Constant-time comparisons; false for a public client.
   */
  verifyClientSecret(clientId: string, presented: string, options?: { at?: Date }): Promise<boolean>;
  /** The resource scopes granted to a client (empty for an unknown one). */
  resourceScopes(clientId: string): Promise<Grant[]>;
  /** The API resource of an indicator with its scopes, or null. */
  findResource(indicator: string): Promise<ResourceView | null>;
}

const SECRET_PURPOSE = 'oidc-client-secret';

/** 32 random bytes, base64url: a client secret. */
export const newClientSecret = (): string => randomToken(32);

type Changes = Record<string, { before?: unknown; after?: unknown }>;
interface Problem {
  code: 'invalid_redirect_uri' | 'invalid_client_metadata';
  path: string;
  message: string;
}

/** Every refusal of an application's settings for its type, in field order. */
function problemsOf(type: ApplicationType, app: Pick<ApplicationRow, 'redirectUris' | 'postLogoutRedirectUris' | 'allowedOrigins' | 'backchannelLogoutUri'>, authMethodGiven: boolean): Problem[] {
  const problems: Problem[] = [];
  const uris = (field: string, values: string[]) => {
    values.forEach((value, i) => {
      const problem = redirectUriProblem(value, type);
      if (problem) problems.push({ code: 'invalid_redirect_uri', path: `body.${field}.${i}`, message: `${value} ${problem}` });
    });
  };
  if (isRedirecting(type)) {
    if (app.redirectUris.length === 0) problems.push({ code: 'invalid_redirect_uri', path: 'body.redirect_uris', message: `a ${type} application needs at least one redirect URI` });
    uris('redirect_uris', app.redirectUris);
    uris('post_logout_redirect_uris', app.postLogoutRedirectUris);
  } else {
    if (app.redirectUris.length > 0) problems.push({ code: 'invalid_redirect_uri', path: 'body.redirect_uris', message: `a ${type} application signs in without a redirect: it has no redirect URIs` });
    if (app.postLogoutRedirectUris.length > 0) problems.push({ code: 'invalid_redirect_uri', path: 'body.post_logout_redirect_uris', message: `a ${type} application has no post-logout redirect URIs` });
    if (app.allowedOrigins.length > 0) problems.push({ code: 'invalid_client_metadata', path: 'body.allowed_origins', message: `a ${type} application runs in no browser: it has no allowed origins` });
  }
  app.allowedOrigins.forEach((origin, i) => {
    const problem = isRedirecting(type) ? originProblem(origin) : null;
    if (problem) problems.push({ code: 'invalid_client_metadata', path: `body.allowed_origins.${i}`, message: `${origin} ${problem}` });
  });
  if (app.backchannelLogoutUri !== null) {
    if (type === 'm2m') problems.push({ code: 'invalid_client_metadata', path: 'body.backchannel_logout_uri', message: 'an m2m application signs nobody in: it has no back-channel logout' });
    else {
      const problem = backchannelUriProblem(app.backchannelLogoutUri);
      if (problem) problems.push({ code: 'invalid_client_metadata', path: 'body.backchannel_logout_uri', message: `${app.backchannelLogoutUri} ${problem}` });
    }
  }
  if (authMethodGiven && !isConfidential(type)) {
    problems.push({ code: 'invalid_client_metadata', path: 'body.token_endpoint_auth_method', message: `a ${type} application is a public client: it authenticates with none (PKCE)` });
  }
  return problems;
}

function refuse(problems: Problem[]): void {
  if (problems.length === 0) return;
  const first = problems[0]!;
  const errors = problems.map(({ path, message }) => ({ path, message }));
  throw oidcErrors[first.code](problems.map((problem) => problem.message).join('; '), { errors });
}

function grantsFrom(rows: GrantRow[]): Grant[] {
  const byResource = new Map<string, string[]>();
  for (const row of rows) byResource.set(row.indicator, [...(byResource.get(row.indicator) ?? []), row.scope]);
  return [...byResource].map(([resource, scopes]) => ({ resource, scopes }));
}

const authMethodOf = (type: ApplicationType, given: ConfidentialAuthMethod | undefined): ClientMetadata['token_endpoint_auth_method'] =>
  isConfidential(type) ? (given ?? 'client_secret_basic') : 'none';

export function createApplicationsService(deps: {
  db: Database;
  box: SecretBox;
  audit: Audit;
  events: Events;
  /** Whether an organization exists (platform-wide). */
  orgExists: (orgId: string) => Promise<boolean>;
  settings: { secretOverlapSeconds: number };
}): ApplicationsService {
  const { db, box } = deps;
  const sinks = { audit: deps.audit, events: deps.events };

  /** The organization deleted between the check and the insert (its foreign key refuses the row): the same answer as one not found. */
  async function orgStillThere<T>(orgId: string | null, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      const found = databaseErrorOf(error);
      if (orgId && found?.code === '23503' && found.constraint === 'oidc_applications_org_id_organizations_id_fk') throw oidcErrors.org_not_found(`No organization ${orgId}`);
      throw error;
    }
  }

  async function views(tx: DbHandle, rows: ApplicationRow[]): Promise<ApplicationView[]> {
    const grants = await grantsOf(tx, rows.map((row) => row.id));
    return rows.map((row) => ({ ...row, type: row.type as ApplicationType, grants: grantsFrom(grants.filter((grant) => grant.applicationId === row.id)) }));
  }

  async function mustFind(tx: DbHandle, id: string, lock = false): Promise<ApplicationRow> {
    const row = await findApplication(tx, id, { lock });
    if (!row) throw oidcErrors.application_not_found();
    return row;
  }

  /** Audit entry and event of a change, in the application's organization (or none). */
  const record = (tx: DbHandle, action: string, app: ApplicationRow, actor: AdminActor, client: ClientInfo, data: Record<string, unknown>, options: { changes?: Changes; type?: string } = {}) =>
    recordChange(
      tx, sinks,
      { actor: { type: 'user', id: actor.id }, orgId: app.orgId, action, target: { type: 'oidc_application', id: app.id }, context: client, changes: options.changes ?? null },
      { ...(options.type ? { type: options.type } : {}), data: { application_id: app.id, client_id: app.id, org_id: app.orgId, ...data } },
    );

  return {
    async create(input, actor, client) {
      const draft = {
        redirectUris: input.redirectUris ?? [],
        postLogoutRedirectUris: input.postLogoutRedirectUris ?? [],
        allowedOrigins: input.allowedOrigins ?? [],
        backchannelLogoutUri: input.backchannelLogoutUri ?? null,
      };
      refuse(problemsOf(input.type, draft, input.tokenEndpointAuthMethod !== undefined));
      if (input.orgId && !(await deps.orgExists(input.orgId))) {
        throw oidcErrors.org_not_found(`No organization ${input.orgId}`, { errors: [{ path: 'body.org_id', message: 'no such organization' }] });
      }
      const secret = isConfidential(input.type) ? newClientSecret() : null;
      const application = await orgStillThere(input.orgId ?? null, () => db.transaction(async (tx) => {
        const row = await insertApplication(tx, {
          id: newId('app'), orgId: input.orgId ?? null, name: input.name, type: input.type, ...draft, firstParty: input.firstParty ?? false,
          tokenEndpointAuthMethod: authMethodOf(input.type, input.tokenEndpointAuthMethod), secret: secret ? box.seal(secret, SECRET_PURPOSE) : null, createdBy: actor.id,
        });
        await record(tx, 'application.created', row, actor, client, { name: row.name, type: row.type, first_party: row.firstParty }, {
          changes: { name: { after: row.name }, type: { after: row.type }, redirect_uris: { after: row.redirectUris }, first_party: { after: row.firstParty } },
        });
        return (await views(tx, [row]))[0]!;
      }));
      return { application, secret };
    },

    list: (options) => db.transaction(async (tx) => views(tx, await listApplications(tx, options))),

    get: (id) => db.transaction(async (tx) => (await views(tx, [await mustFind(tx, id)]))[0]!),

    async update(id, changes, actor, client) {
      return db.transaction(async (tx) => {
        const before = await mustFind(tx, id, true);
        const type = before.type as ApplicationType;
        const set: Partial<ApplicationRow> = {};
        if (changes.name !== undefined) set.name = changes.name;
        if (changes.redirectUris !== undefined) set.redirectUris = changes.redirectUris;
        if (changes.postLogoutRedirectUris !== undefined) set.postLogoutRedirectUris = changes.postLogoutRedirectUris;
        if (changes.allowedOrigins !== undefined) set.allowedOrigins = changes.allowedOrigins;
        if (changes.backchannelLogoutUri !== undefined) set.backchannelLogoutUri = changes.backchannelLogoutUri;
        if (changes.firstParty !== undefined) set.firstParty = changes.firstParty;
        if (changes.tokenEndpointAuthMethod !== undefined) set.tokenEndpointAuthMethod = changes.tokenEndpointAuthMethod;
        // The settings are judged as they would be after the change, for the application's type.
        refuse(problemsOf(type, { ...before, ...set }, changes.tokenEndpointAuthMethod !== undefined));
        const after = (await updateApplication(tx, id, set))!;
        const diff: Changes = {};
        const fields = {
          name: 'name', redirectUris: 'redirect_uris', postLogoutRedirectUris: 'post_logout_redirect_uris', allowedOrigins: 'allowed_origins',
          backchannelLogoutUri: 'backchannel_logout_uri', firstParty: 'first_party', tokenEndpointAuthMethod: 'token_endpoint_auth_method',
        } as const;
        for (const [key, wire] of Object.entries(fields) as [keyof typeof fields, string][]) {
          if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) diff[wire] = { before: before[key], after: after[key] };
        }
        await record(tx, 'application.updated', after, actor, client, { changes: Object.keys(diff) }, { changes: diff });
        return (await views(tx, [after]))[0]!;
      });
    },

    async remove(id, actor, client) {
      await db.transaction(async (tx) => {
        const row = await deleteApplication(tx, id);
        if (!row) throw oidcErrors.application_not_found();
        await record(tx, 'application.deleted', row, actor, client, { name: row.name });
      });
    },

    async rotateSecret(id, actor, client) {
      const secret = newClientSecret();
      const application = await db.transaction(async (tx) => {
        const before = await mustFind(tx, id, true);
        if (!before.secret) throw oidcErrors.public_client(`A ${before.type} application is a public client: it has no secret to rotate`);
        const expiresAt = new Date(Date.now() + deps.settings.secretOverlapSeconds * 1000);
        const row = (await updateApplication(tx, id, { secret: box.seal(secret, SECRET_PURPOSE), previousSecret: before.secret, previousSecretExpiresAt: expiresAt }))!;
        await record(tx, 'application.secret_rotated', row, actor, client, { previous_secret_expires_at: expiresAt.toISOString() });
        return (await views(tx, [row]))[0]!;
      });
      return { application, secret };
    },

    grants: (id) => db.transaction(async (tx) => (await views(tx, [await mustFind(tx, id)]))[0]!.grants),

    async replaceGrants(id, wanted, actor, client) {
      return db.transaction(async (tx) => {
        const app = await mustFind(tx, id, true);
        const resources = await resourcesByIndicators(tx, [...new Set(wanted.map((grant) => grant.resource))]);
        const scopes = await scopesOf(tx, resources.map((resource) => resource.id));
        const rows = new Map<string, { resourceId: string; scope: string }>();
        wanted.forEach((grant, i) => {
          const resource = resources.find((candidate) => candidate.indicator === grant.resource);
          if (!resource) {
            throw oidcErrors.unknown_resource(`No API resource has the indicator ${grant.resource}`, { errors: [{ path: `body.grants.${i}.resource`, message: `unknown resource ${grant.resource}` }] });
          }
          grant.scopes.forEach((scope, j) => {
            if (!scopes.some((candidate) => candidate.resourceId === resource.id && candidate.name === scope)) {
              throw oidcErrors.unknown_scope(`The API resource ${grant.resource} has no scope ${scope}`, { errors: [{ path: `body.grants.${i}.scopes.${j}`, message: `unknown scope ${scope} of ${grant.resource}` }] });
            }
            rows.set(`${resource.id} ${scope}`, { resourceId: resource.id, scope });
          });
        });
        const before = (await views(tx, [app]))[0]!.grants;
        await replaceGrants(tx, id, [...rows.values()]);
        const after = (await views(tx, [app]))[0]!;
        await record(tx, 'application.grants_changed', app, actor, client, { changes: ['grants'] }, { type: 'application.updated', changes: { grants: { before, after: after.grants } } });
        return after;
      });
    },
  };
}

export function createClientRegistry(deps: { db: Database; box: SecretBox }): ClientRegistry {
  const { db, box } = deps;
  const find = async (clientId: string): Promise<ApplicationRow | null> => (isId(clientId, 'app') ? findApplication(db, clientId) : null);

  return {
    async findClient(clientId) {
      const row = await find(clientId);
      if (!row) return null;
      const type = row.type as ApplicationType;
      return {
        client_id: row.id,
        client_name: row.name,
        ...(row.secret ? { client_secret: box.open(row.secret, SECRET_PURPOSE) } : {}),
        redirect_uris: row.redirectUris,
        post_logout_redirect_uris: row.postLogoutRedirectUris,
        grant_types: grantTypesOf(type),
        response_types: responseTypesOf(type),
        token_endpoint_auth_method: row.tokenEndpointAuthMethod as ClientMetadata['token_endpoint_auth_method'],
        application_type: type === 'native' ? 'native' : 'web',
        ...(row.backchannelLogoutUri ? { backchannel_logout_uri: row.backchannelLogoutUri } : {}),
        first_party: row.firstParty,
        org_id: row.orgId,
        allowed_origins: row.allowedOrigins,
        tessera_type: type,
      };
    },

    async verifyClientSecret(clientId, presented, options = {}) {
      const row = await find(clientId);
      if (!row?.secret) return false;
      const at = options.at ?? new Date();
      const current = safeEqual(box.open(row.secret, SECRET_PURPOSE), presented);
      const previousLive = row.previousSecret !== null && row.previousSecretExpiresAt !== null && at < row.previousSecretExpiresAt;
      const previous = previousLive && safeEqual(box.open(row.previousSecret!, SECRET_PURPOSE), presented);
      return current || previous;
    },

    async resourceScopes(clientId) {
      if (!isId(clientId, 'app')) return [];
      return grantsFrom(await grantsOf(db, [clientId]));
    },

    async findResource(indicator) {
      const [row] = await resourcesByIndicators(db, [indicator]);
      if (!row) return null;
      return { ...row, scopes: (await scopesOf(db, [row.id])).map(({ name, description }) => ({ name, description })) };
    },
  };
}
