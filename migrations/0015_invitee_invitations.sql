-- The open invitations of one address across organizations, in id order: what GET /v1/me/invitations
-- lists and what accepting or declining one by id looks up.
CREATE INDEX "org_invitations_open_invitee_idx" ON "org_invitations" USING btree (lower("email"),"id") WHERE "org_invitations"."accepted_at" IS NULL AND "org_invitations"."revoked_at" IS NULL;