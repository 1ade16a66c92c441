-- At most one open (neither accepted nor revoked) invitation per organization and address, so two
-- simultaneous invitations of one address cannot both be created. Open duplicates left by that race
-- before this migration are revoked first, keeping the newest (ids are time-ordered).
UPDATE "org_invitations" AS "older" SET "revoked_at" = now()
WHERE "older"."accepted_at" IS NULL AND "older"."revoked_at" IS NULL
  AND EXISTS (
    SELECT 1 FROM "org_invitations" AS "newer"
    WHERE "newer"."org_id" = "older"."org_id" AND lower("newer"."email") = lower("older"."email")
      AND "newer"."accepted_at" IS NULL AND "newer"."revoked_at" IS NULL AND "newer"."id" > "older"."id"
  );
--> statement-breakpoint
CREATE UNIQUE INDEX "org_invitations_open_email_key" ON "org_invitations" USING btree ("org_id",lower("email")) WHERE "org_invitations"."accepted_at" IS NULL AND "org_invitations"."revoked_at" IS NULL;
