-- The backfill and reconcile functions for organizations and memberships, one block per actor:
-- anon and authenticated may call none of them; service_role (the CLI) applies pages with the
-- webhook's rules, lifts inferred tombstones and never announced ones, compares and lists
-- without writing, and tombstones what Clerk no longer lists as inferred.
begin;
create extension if not exists pgtap with schema extensions;
select plan(34);

-- Privileges.
select ok(
  not has_function_privilege('anon', f, 'execute')
    and not has_function_privilege('authenticated', f, 'execute')
    and has_function_privilege('service_role', f, 'execute'),
  f || ': service_role only'
)
from unnest(array[
  'public.sync_clerk_organizations(jsonb)', 'public.sync_clerk_memberships(jsonb)',
  'public.diff_clerk_organizations(jsonb)', 'public.diff_clerk_memberships(jsonb)',
  'public.list_organization_ids(text, integer)', 'public.list_membership_keys(text, text, integer)',
  'public.tombstone_clerk_organizations(text[], timestamp with time zone)',
  'public.tombstone_clerk_memberships(jsonb, timestamp with time zone)'
]) f;

-- anon: refused.
set local role anon;
select throws_ok($$ select public.sync_clerk_organizations('[]') $$, '42501', null,
  'anon: cannot apply organizations');
reset role;

-- Known state, written as the owner: Acme (row), Globex (inferred tombstone), Umbrella
-- (announced tombstone); a deleted user; a membership tombstone of each kind.
insert into public.organizations (org_id, name, clerk_updated_at) values
  ('org_2bAcme', 'Acme', '2026-01-01 10:00:00+00');
insert into clerk_sync.deleted_organizations (org_id, deleted_at, kind) values
  ('org_2bGlobex', '2026-01-05 00:00:00+00', 'inferred'),
  ('org_2bUmbrella', '2026-01-05 00:00:00+00', 'announced');
insert into clerk_sync.deleted_users (user_id, deleted_at, kind) values
  ('user_2bGone', '2026-01-05 00:00:00+00', 'announced');
insert into clerk_sync.deleted_memberships (org_id, user_id, deleted_at, kind) values
  ('org_2bAcme', 'user_2bInferred', '2026-01-05 00:00:00+00', 'inferred'),
  ('org_2bAcme', 'user_2bRemoved', '2026-01-05 00:00:00+00', 'announced');

-- service_role: organizations.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';
select is(
  public.sync_clerk_organizations('[
    {"org_id": "org_2bAcme", "name": "Acme", "clerk_updated_at": "2026-01-01T10:00:00Z"},
    {"org_id": "org_2bNew", "name": "New", "clerk_updated_at": "2026-01-02T10:00:00Z"},
    {"org_id": "org_2bGlobex", "name": "Globex", "clerk_updated_at": "2026-01-01T10:00:00Z"},
    {"org_id": "org_2bUmbrella", "name": "Umbrella", "clerk_updated_at": "2026-01-09T10:00:00Z"}
  ]'),
  '{"applied": ["org_2bNew"], "restored": ["org_2bGlobex"], "stale": ["org_2bUmbrella"],
    "unchanged": ["org_2bAcme"]}'::jsonb,
  'organizations: new applied, inferred tombstone restored, announced stale, equal unchanged');
select is(
  public.sync_clerk_organizations('[
    {"org_id": "org_2bAcme", "name": "Old", "clerk_updated_at": "2026-01-01T09:00:00Z"}]'),
  '{"applied": [], "restored": [], "stale": ["org_2bAcme"], "unchanged": []}'::jsonb,
  'organizations: an older listing is stale');
select throws_ok(
  $$ select public.sync_clerk_organizations('[
       {"org_id": "org_2bX", "name": "X", "clerk_updated_at": "2026-01-01T00:00:00Z"},
       {"org_id": "org_2bX", "name": "X", "clerk_updated_at": "2026-01-01T00:00:00Z"}]') $$,
  '22023', 'an organization is listed twice', 'organizations: a repeated id is refused');
select throws_ok($$ select public.sync_clerk_organizations('[{"org_id": "org_2bY"}]') $$,
  '22023', null, 'organizations: an entry without name or updated_at is refused');

-- Memberships.
select is(
  public.sync_clerk_memberships('[
    {"membership_id": "orgmem_2b1", "org_id": "org_2bAcme", "user_id": "user_2bAda",
     "role": "org:admin", "clerk_created_at": "2026-01-01T00:00:00Z",
     "clerk_updated_at": "2026-01-01T00:00:00Z"},
    {"membership_id": "orgmem_2b2", "org_id": "org_2bMissing", "user_id": "user_2bAda",
     "role": "org:member", "clerk_created_at": "2026-01-01T00:00:00Z",
     "clerk_updated_at": "2026-01-01T00:00:00Z"},
    {"membership_id": "orgmem_2b3", "org_id": "org_2bAcme", "user_id": "user_2bGone",
     "role": "org:member", "clerk_created_at": "2026-01-01T00:00:00Z",
     "clerk_updated_at": "2026-01-01T00:00:00Z"},
    {"membership_id": "orgmem_2b4", "org_id": "org_2bAcme", "user_id": "user_2bInferred",
     "role": "org:member", "clerk_created_at": "2026-01-01T00:00:00Z",
     "clerk_updated_at": "2026-01-01T00:00:00Z"},
    {"membership_id": "orgmem_2b5", "org_id": "org_2bAcme", "user_id": "user_2bRemoved",
     "role": "org:member", "clerk_created_at": "2026-01-01T00:00:00Z",
     "clerk_updated_at": "2026-01-01T00:00:00Z"},
    {"membership_id": "orgmem_2b6", "org_id": "org_2bAcme", "user_id": "user_2bRemoved2",
     "role": "basic_member", "clerk_created_at": "2026-01-01T00:00:00Z",
     "clerk_updated_at": "2026-01-01T00:00:00Z"}
  ]'),
  '{"applied": ["orgmem_2b1", "orgmem_2b6"], "restored": ["orgmem_2b4"],
    "stale": ["orgmem_2b2", "orgmem_2b3", "orgmem_2b5"], "unchanged": []}'::jsonb,
  'memberships: applied; missing organization, deleted user and announced removal stale; inferred removal restored');
select is(
  public.sync_clerk_memberships('[
    {"membership_id": "orgmem_2b1", "org_id": "org_2bAcme", "user_id": "user_2bAda",
     "role": "org:admin", "clerk_created_at": "2026-01-01T00:00:00Z",
     "clerk_updated_at": "2026-01-01T00:00:00Z"},
    {"membership_id": "orgmem_2b7", "org_id": "org_2bAcme", "user_id": "user_2bRemoved",
     "role": "org:member", "clerk_created_at": "2026-01-06T00:00:00Z",
     "clerk_updated_at": "2026-01-06T00:00:00Z"},
    {"membership_id": "orgmem_2b6", "org_id": "org_2bAcme", "user_id": "user_2bRemoved2",
     "role": "org:admin", "clerk_created_at": "2026-01-01T00:00:00Z",
     "clerk_updated_at": "2026-01-02T00:00:00Z"}
  ]'),
  '{"applied": ["orgmem_2b6", "orgmem_2b7"], "restored": [], "stale": [],
    "unchanged": ["orgmem_2b1"]}'::jsonb,
  'memberships: equal unchanged; created after an announced removal applies; a newer update applies');
select is(
  (select role from public.organization_memberships where membership_id = 'orgmem_2b6'),
  'org:admin', 'the role change is written as sent');
select is(
  public.sync_clerk_memberships('[
    {"membership_id": "orgmem_2b0", "org_id": "org_2bAcme", "user_id": "user_2bRemoved",
     "role": "org:member", "clerk_created_at": "2026-01-03T00:00:00Z",
     "clerk_updated_at": "2026-01-09T00:00:00Z"}]'),
  '{"applied": [], "restored": [], "stale": ["orgmem_2b0"], "unchanged": []}'::jsonb,
  'memberships: an older membership never replaces a newer one of the same member');
select throws_ok(
  $$ select public.sync_clerk_memberships('[
       {"membership_id": "a", "org_id": "org_2bAcme", "user_id": "user_2bZ", "role": "r",
        "clerk_created_at": "2026-01-01T00:00:00Z", "clerk_updated_at": "2026-01-01T00:00:00Z"},
       {"membership_id": "b", "org_id": "org_2bAcme", "user_id": "user_2bZ", "role": "r",
        "clerk_created_at": "2026-01-01T00:00:00Z", "clerk_updated_at": "2026-01-01T00:00:00Z"}]') $$,
  '22023', 'a member is listed twice', 'memberships: a member listed twice is refused');

-- Diffs, read-only.
select is(
  public.diff_clerk_organizations('[
    {"org_id": "org_2bAcme", "clerk_updated_at": "2026-01-01T10:00:00Z"},
    {"org_id": "org_2bNew", "clerk_updated_at": "2026-01-03T10:00:00Z"},
    {"org_id": "org_2bNone", "clerk_updated_at": "2026-01-01T10:00:00Z"},
    {"org_id": "org_2bUmbrella", "clerk_updated_at": "2026-01-01T10:00:00Z"}]'),
  '{"in_sync": ["org_2bAcme"], "missing": ["org_2bNone"], "outdated": ["org_2bNew"],
    "newer": [], "deleted": ["org_2bUmbrella"], "restorable": []}'::jsonb,
  'diff of organizations: in sync, missing, outdated, deleted');
select is(
  public.diff_clerk_memberships('[
    {"membership_id": "orgmem_2b1", "org_id": "org_2bAcme", "user_id": "user_2bAda",
     "clerk_created_at": "2026-01-01T00:00:00Z", "clerk_updated_at": "2026-01-01T00:00:00Z"},
    {"membership_id": "orgmem_2b6", "org_id": "org_2bAcme", "user_id": "user_2bRemoved2",
     "clerk_created_at": "2026-01-01T00:00:00Z", "clerk_updated_at": "2026-01-01T00:00:00Z"},
    {"membership_id": "orgmem_2b8", "org_id": "org_2bNew", "user_id": "user_2bAda",
     "clerk_created_at": "2026-01-01T00:00:00Z", "clerk_updated_at": "2026-01-01T00:00:00Z"},
    {"membership_id": "orgmem_2b3", "org_id": "org_2bAcme", "user_id": "user_2bGone",
     "clerk_created_at": "2026-01-01T00:00:00Z", "clerk_updated_at": "2026-01-01T00:00:00Z"}]'),
  '{"in_sync": ["orgmem_2b1"], "missing": ["orgmem_2b8"], "outdated": [],
    "newer": ["orgmem_2b6"], "deleted": ["orgmem_2b3"], "restorable": []}'::jsonb,
  'diff of memberships: in sync, missing, newer, deleted with its user');

-- Lists.
select is(public.list_organization_ids(null, 2), '["org_2bAcme", "org_2bGlobex"]'::jsonb,
  'organization ids, first page');
select is(public.list_organization_ids('org_2bGlobex', 10), '["org_2bNew"]'::jsonb,
  'organization ids, after a key');
select is(
  jsonb_array_length(public.list_membership_keys(null, null, 10)), 4,
  'membership keys: every membership');
select is(
  public.list_membership_keys('org_2bAcme', 'user_2bInferred', 10),
  '[{"org_id": "org_2bAcme", "user_id": "user_2bRemoved", "membership_id": "orgmem_2b7"},
    {"org_id": "org_2bAcme", "user_id": "user_2bRemoved2", "membership_id": "orgmem_2b6"}]'::jsonb,
  'membership keys after a (org, user) key, in order');
select throws_ok($$ select public.list_organization_ids(null, 0) $$, '22023', null,
  'a page size of 0 is refused');

-- Inferred tombstones.
select is(
  public.tombstone_clerk_memberships('[{"org_id": "org_2bAcme", "user_id": "user_2bAda"}]',
    '2026-01-10 00:00:00+00'),
  '{"deleted": [{"org_id": "org_2bAcme", "user_id": "user_2bAda"}]}'::jsonb,
  'tombstone_clerk_memberships answers the members');
select is_empty(
  $$ select * from public.organization_memberships where user_id = 'user_2bAda' $$,
  'the orphaned membership row is gone');
select is(
  public.tombstone_clerk_organizations(array['org_2bNew'], '2026-01-10 00:00:00+00'),
  '{"deleted": ["org_2bNew"]}'::jsonb, 'tombstone_clerk_organizations answers the ids');
select is_empty($$ select * from public.organizations where org_id = 'org_2bNew' $$,
  'the orphaned organization row is gone');
select is(
  public.sync_clerk_organizations('[
    {"org_id": "org_2bNew", "name": "New", "clerk_updated_at": "2026-01-02T10:00:00Z"}]'),
  '{"applied": [], "restored": ["org_2bNew"], "stale": [], "unchanged": []}'::jsonb,
  'a later listing restores the organization an earlier reconcile tombstoned');
select is(
  public.sync_clerk_memberships('[
    {"membership_id": "orgmem_2b1", "org_id": "org_2bAcme", "user_id": "user_2bAda",
     "role": "org:admin", "clerk_created_at": "2026-01-01T00:00:00Z",
     "clerk_updated_at": "2026-01-01T00:00:00Z"}]'),
  '{"applied": [], "restored": ["orgmem_2b1"], "stale": [], "unchanged": []}'::jsonb,
  '... and the membership');

-- As the owner: the kinds recorded.
reset role;
select results_eq(
  $$ select org_id, kind from clerk_sync.deleted_organizations order by org_id $$,
  $$ values ('org_2bUmbrella', 'announced') $$,
  'only the announced organization tombstone is left');
select results_eq(
  $$ select user_id, kind from clerk_sync.deleted_memberships order by user_id $$,
  $$ values ('user_2bRemoved', 'announced') $$,
  'only the announced membership tombstone is left');
select is(
  (select count(*)::int from public.organization_memberships where org_id = 'org_2bAcme'), 4,
  'Acme holds the restored and the applied memberships');

select * from finish();
rollback;
