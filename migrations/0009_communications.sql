CREATE TABLE "communication_logs" (
	"id" text PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"requested_channel" text,
	"template" text NOT NULL,
	"category" text NOT NULL,
	"recipient" text NOT NULL,
	"user_id" text,
	"status" text NOT NULL,
	"reason" text,
	"provider" text,
	"provider_message_id" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "communication_settings" (
	"version" integer PRIMARY KEY NOT NULL,
	"settings" jsonb NOT NULL,
	"updated_by" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "communication_suppressions" (
	"channel" text NOT NULL,
	"recipient" text NOT NULL,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "communication_suppressions_channel_recipient_pk" PRIMARY KEY("channel","recipient")
);
--> statement-breakpoint
CREATE INDEX "communication_logs_created_idx" ON "communication_logs" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "communication_logs_recipient_idx" ON "communication_logs" USING btree (lower("recipient"));