-- Row-level security behind withTenant(): inside a tenant transaction (app.org_id set, transaction-
-- local) the org-scoped tables show and accept only that organization's rows; outside one (app.org_id
-- unset or empty: platform-wide code such as sign-in, "my organizations", token look-ups) they show
-- every row. FORCE applies it to the tables' owner too; superusers and BYPASSRLS roles are exempt by
-- PostgreSQL's design, so production should connect as an ordinary role (Tessera warns at start).
CREATE FUNCTION tessera_tenant_visible(row_org_id text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('app.org_id', true), '') IN ('', row_org_id)
$$;
--> statement-breakpoint
ALTER TABLE org_members ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE org_members FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON org_members USING (tessera_tenant_visible(org_id)) WITH CHECK (tessera_tenant_visible(org_id));
--> statement-breakpoint
ALTER TABLE org_invitations ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE org_invitations FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON org_invitations USING (tessera_tenant_visible(org_id)) WITH CHECK (tessera_tenant_visible(org_id));
--> statement-breakpoint
ALTER TABLE org_roles ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE org_roles FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON org_roles USING (tessera_tenant_visible(org_id)) WITH CHECK (tessera_tenant_visible(org_id));
--> statement-breakpoint
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON api_keys USING (tessera_tenant_visible(org_id)) WITH CHECK (tessera_tenant_visible(org_id));
--> statement-breakpoint
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON organizations USING (tessera_tenant_visible(id)) WITH CHECK (tessera_tenant_visible(id));
