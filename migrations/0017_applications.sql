-- The OpenID provider's registry: applications (its clients, secrets sealed), API resources (RFC 8707) with their scopes, and the resource scopes granted to each application (see src/modules/oidc/oidc.applications.tables.ts).
CREATE TABLE "oidc_application_grants" (
	"application_id" text NOT NULL,
	"resource_id" text NOT NULL,
	"scope" text NOT NULL,
	CONSTRAINT "oidc_application_grants_application_id_resource_id_scope_pk" PRIMARY KEY("application_id","resource_id","scope")
);
--> statement-breakpoint
CREATE TABLE "oidc_applications" (
	"id" text PRIMARY KEY NOT NULL,
	"org_id" text,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"redirect_uris" jsonb NOT NULL,
	"post_logout_redirect_uris" jsonb NOT NULL,
	"allowed_origins" jsonb NOT NULL,
	"backchannel_logout_uri" text,
	"first_party" boolean DEFAULT false NOT NULL,
	"token_endpoint_auth_method" text NOT NULL,
	"secret" text,
	"previous_secret" text,
	"previous_secret_expires_at" timestamp with time zone,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "oidc_resource_scopes" (
	"resource_id" text NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	CONSTRAINT "oidc_resource_scopes_resource_id_name_pk" PRIMARY KEY("resource_id","name")
);
--> statement-breakpoint
CREATE TABLE "oidc_resources" (
	"id" text PRIMARY KEY NOT NULL,
	"indicator" text NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "oidc_application_grants" ADD CONSTRAINT "oidc_application_grants_application_id_oidc_applications_id_fk" FOREIGN KEY ("application_id") REFERENCES "public"."oidc_applications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "oidc_application_grants" ADD CONSTRAINT "oidc_application_grants_scope_fk" FOREIGN KEY ("resource_id","scope") REFERENCES "public"."oidc_resource_scopes"("resource_id","name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "oidc_applications" ADD CONSTRAINT "oidc_applications_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "oidc_resource_scopes" ADD CONSTRAINT "oidc_resource_scopes_resource_id_oidc_resources_id_fk" FOREIGN KEY ("resource_id") REFERENCES "public"."oidc_resources"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "oidc_application_grants_scope_idx" ON "oidc_application_grants" USING btree ("resource_id","scope");--> statement-breakpoint
CREATE INDEX "oidc_applications_org_idx" ON "oidc_applications" USING btree ("org_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "oidc_resources_indicator_key" ON "oidc_resources" USING btree ("indicator");