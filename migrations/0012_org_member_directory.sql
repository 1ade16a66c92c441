-- The member list's one query (members with their account's address and name, searchable, ordered by
-- user id) without the orgs module reading users itself. security_invoker: the row-level-security
-- policy of org_members applies as the querying role, not as the view's owner.
CREATE VIEW "public"."org_member_directory" WITH (security_invoker = true) AS (select "org_members"."org_id", "org_members"."user_id", "org_members"."role", "org_members"."created_at", "users"."email", "users"."name" from "org_members" inner join "users" on "users"."id" = "org_members"."user_id");
