import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Database } from '../../platform/db/database.js';
import type { Audit } from '../../platform/events/index.js';
import type { ClientInfo } from '../../platform/http/client.js';
import type { ClientRegistry } from './oidc.applications.service.js';
import { oidcErrors } from './oidc.errors.js';
import { OIDC_SCOPES, type OidcProvider } from './oidc.provider.js';

/**
 * The steps of an authorization the hosted page `/authorize/{uid}` carries out for oidc-provider:
 * sign-in (the person's Tessera session, fresh enough for `prompt=login` and `max_age`), consent
 * (scopes of OpenID Connect and of API resources, shown for applications not marked first-party)
 * and the organization step (`organization_id` in the authorization request). Each answers where
 * the browser goes next (back into the provider, which goes on to the application).
 *
 * The interaction is bound to the browser that started it (oidc-provider's interaction cookie):
 * another browser, or a uid that is not this browser's interaction, gets 404 interaction_not_found.
 */

export interface InteractionView {
  uid: string;
  prompt: 'select_account' | 'login' | 'consent';
  reasons: string[];
  client: { client_id: string; name: string; first_party: boolean };
  /** OpenID Connect scopes the application asks for that the person has not granted it yet. */
  scopes: string[];
  /** API resource scopes asked for and not granted yet, by resource. */
  resources: { indicator: string; name: string; scopes: { name: string; description: string }[] }[];
  /** `organization_id` of the request: an organization id, `select` (the person chooses), or null. */
  organization: string | null;
  login_hint: string | null;
  ui_locales: string | null;
  /** Set when the application asks for a fresh sign-in (prompt=login, max_age): sign-ins before it do not count. */
  sign_in_after: string | null;
}

export interface SignedIn {
  userId: string;
  sessionId: string;
  /** How the session was signed in (its access token's `amr`, RFC 8176 values with `mfa` where two factors were given). */
  amr: string[];
}

export interface InteractionService {
  details(req: IncomingMessage, res: ServerResponse, uid: string): Promise<InteractionView>;
  login(req: IncomingMessage, res: ServerResponse, uid: string, who: SignedIn): Promise<{ redirectTo: string }>;
  consent(req: IncomingMessage, res: ServerResponse, uid: string, who: SignedIn, input: { organizationId?: string }, client: ClientInfo): Promise<{ redirectTo: string }>;
  abort(req: IncomingMessage, res: ServerResponse, uid: string): Promise<{ redirectTo: string }>;
}

type Interaction = Awaited<ReturnType<Awaited<ReturnType<OidcProvider['current']>>['interactionDetails']>>;

interface PromptDetails {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

export function createInteractionService(deps: {
  db: Database;
  provider: OidcProvider;
  registry: ClientRegistry;
  audit: Audit;
  /** When the session last proved its user (sign-in or step-up), or null when it has ended. */
  authenticatedAt(sessionId: string): Promise<Date | null>;
  roleIn(orgId: string, userId: string): Promise<string | null>;
}): InteractionService {
  async function find(req: IncomingMessage, res: ServerResponse, uid: string): Promise<Interaction> {
    const provider = await deps.provider.current();
    let interaction: Interaction;
    try {
      interaction = await provider.interactionDetails(req, res);
    } catch {
      throw oidcErrors.interaction_not_found('Start again from the application');
    }
    if (interaction.uid !== uid) throw oidcErrors.interaction_not_found('Start again from the application');
    return interaction;
  }

  function expectPrompt(interaction: Interaction, ...names: InteractionView['prompt'][]): void {
    if (!names.includes(interaction.prompt.name as InteractionView['prompt'])) {
      throw oidcErrors.interaction_prompt_mismatch(`This sign-in request is at its ${interaction.prompt.name} step, not ${names.join(' or ')}`);
    }
  }

  /** The earliest sign-in that counts for this request: after it began (prompt=login), within max_age. */
  function signInAfter(interaction: Interaction): Date | null {
    const bounds: number[] = [];
    if (interaction.prompt.reasons.includes('login_prompt')) bounds.push((interaction.iat ?? 0) * 1000);
    const maxAge = Number(interaction.params.max_age);
    if (interaction.params.max_age !== undefined && Number.isFinite(maxAge)) bounds.push(Date.now() - maxAge * 1000);
    return bounds.length ? new Date(Math.max(...bounds)) : null;
  }

  async function finish(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, merge: boolean): Promise<{ redirectTo: string }> {
    const provider = await deps.provider.current();
    return { redirectTo: await provider.interactionResult(req, res, result, { mergeWithLastSubmission: merge }) };
  }

  return {
    async details(req, res, uid) {
      const interaction = await find(req, res, uid);
      const clientId = String(interaction.params.client_id);
      const client = await deps.registry.findClient(clientId);
      if (!client) throw oidcErrors.interaction_not_found('The application of this request no longer exists');
      const details = interaction.prompt.details as PromptDetails;
      const requested = String(interaction.params.scope ?? '').split(' ').filter((scope) => scope in OIDC_SCOPES);
      const resources = await Promise.all(
        Object.entries(details.missingResourceScopes ?? {}).map(async ([indicator, scopes]) => {
          const resource = await deps.registry.findResource(indicator);
          return {
            indicator,
            name: resource?.name ?? indicator,
            scopes: scopes.map((name) => ({ name, description: resource?.scopes.find((scope) => scope.name === name)?.description ?? '' })),
          };
        }),
      );
      const after = signInAfter(interaction);
      const str = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
      return {
        uid: interaction.uid,
        prompt: interaction.prompt.name as InteractionView['prompt'],
        reasons: interaction.prompt.reasons,
        client: { client_id: client.client_id, name: client.client_name, first_party: client.first_party },
        scopes: interaction.prompt.name === 'consent' ? (details.missingOIDCScope ?? []) : requested,
        resources,
        organization: str(interaction.params.organization_id),
        login_hint: str(interaction.params.login_hint),
        ui_locales: str(interaction.params.ui_locales),
        sign_in_after: after ? after.toISOString() : null,
      };
    },

    async login(req, res, uid, who) {
      const interaction = await find(req, res, uid);
      // select_account is answered by going on as the person signed in now (who may just have switched).
      expectPrompt(interaction, 'login', 'select_account');
      const at = await deps.authenticatedAt(who.sessionId);
      if (!at) throw oidcErrors.interaction_not_found('Your session has ended: sign in again');
      const after = signInAfter(interaction);
      if (after && at.getTime() < after.getTime() - 1000) {
        throw oidcErrors.fresh_sign_in_required('Sign in again to continue to the application', { sign_in_after: after.toISOString() });
      }
      // `tessera.sessionId`: the provider links its session to this one when it resumes (oidc.provider.ts).
      const result = {
        ...(interaction.prompt.name === 'select_account' ? { select_account: {} } : {}),
        login: { accountId: who.userId, amr: who.amr, ts: Math.floor(at.getTime() / 1000), remember: true },
        tessera: { sessionId: who.sessionId },
      };
      return finish(req, res, result, false);
    },

    async consent(req, res, uid, who, input, client) {
      const interaction = await find(req, res, uid);
      expectPrompt(interaction, 'consent');
      const accountId = interaction.session?.accountId;
      if (accountId !== who.userId) throw oidcErrors.account_mismatch('Sign in as the person this request is for, or start again from the application');
      const provider = await deps.provider.current();
      const clientId = String(interaction.params.client_id);
      const details = interaction.prompt.details as PromptDetails;
      const grant = interaction.grantId ? await provider.Grant.find(interaction.grantId) : new provider.Grant({ accountId, clientId });
      if (!grant) throw oidcErrors.interaction_not_found('Start again from the application');

      const requestedOrg = typeof interaction.params.organization_id === 'string' ? interaction.params.organization_id : undefined;
      let orgId: string | undefined;
      if (requestedOrg) {
        orgId = requestedOrg === 'select' ? input.organizationId : requestedOrg;
        if (!orgId) throw oidcErrors.not_a_member('Choose one of your organizations', { errors: [{ path: 'body.organization_id', message: 'choose an organization' }] });
        if (requestedOrg !== 'select' && input.organizationId && input.organizationId !== requestedOrg) {
          throw oidcErrors.not_a_member('The application asked for another organization');
        }
        if (!(await deps.roleIn(orgId, accountId))) throw oidcErrors.not_a_member('You are not a member of this organization');
      }

      if (details.missingOIDCScope?.length) grant.addOIDCScope(details.missingOIDCScope.join(' '));
      if (details.missingOIDCClaims?.length) grant.addOIDCClaims(details.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
      const grantId = await grant.save();
      if (orgId) await deps.provider.setGrantOrganization(grantId, orgId);
      await deps.db.transaction((tx) =>
        deps.audit.record(tx, {
          actor: { type: 'user', id: accountId },
          action: 'oidc.consent_given',
          target: { type: 'application', id: clientId },
          ...(orgId ? { orgId } : {}),
          changes: {
            scopes: { before: null, after: details.missingOIDCScope ?? [] },
            resources: { before: null, after: details.missingResourceScopes ?? {} },
            ...(orgId ? { organization: { before: null, after: orgId } } : {}),
          },
          context: client,
        }),
      );
      return finish(req, res, { consent: { grantId }, organization: orgId ? { id: orgId } : undefined }, true);
    },

    async abort(req, res, uid) {
      await find(req, res, uid);
      return finish(req, res, { error: 'access_denied', error_description: 'The person declined the request' }, false);
    },
  };
}
