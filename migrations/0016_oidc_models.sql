-- The OpenID provider's storage: every oidc-provider model instance in one table (see src/modules/oidc/oidc.tables.ts).
CREATE TABLE "oidc_models" (
	"model" text NOT NULL,
	"id" text NOT NULL,
	"payload" jsonb NOT NULL,
	"grant_id" text,
	"user_code" text,
	"uid" text,
	"expires_at" timestamp with time zone,
	"consumed_at" timestamp with time zone,
	CONSTRAINT "oidc_models_model_id_pk" PRIMARY KEY("model","id")
);
--> statement-breakpoint
CREATE INDEX "oidc_models_grant_idx" ON "oidc_models" USING btree ("grant_id") WHERE "oidc_models"."grant_id" IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "oidc_models_user_code_key" ON "oidc_models" USING btree ("model","user_code") WHERE "oidc_models"."user_code" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "oidc_models_uid_idx" ON "oidc_models" USING btree ("model","uid") WHERE "oidc_models"."uid" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "oidc_models_expires_idx" ON "oidc_models" USING btree ("expires_at") WHERE "oidc_models"."expires_at" IS NOT NULL;