-- The webhook's three sync functions (20261207110000): who may call them, the instance rule (an
-- event of another Clerk instance writes nothing, checked before any lock), answers that say what
-- a deletion did ('stale' when it removed nothing and recorded nothing new), and a membership id
-- that names one membership only (CSMEM, nothing written). Rolled back at the end.
begin;
create extension if not exists pgtap with schema extensions;
select plan(49);

-- Owner: signatures, grants, settings, the order of the checks.
select hasnt_function(
  'public', 'sync_clerk_user', array['text', 'text', 'text', 'timestamp with time zone', 'jsonb'],
  'the old sync_clerk_user (without p_instance_id) is gone'
);
select hasnt_function(
  'public', 'sync_clerk_organization',
  array['text', 'text', 'text', 'timestamp with time zone', 'jsonb'],
  'the old sync_clerk_organization is gone'
);
select hasnt_function(
  'public', 'sync_clerk_membership',
  array['text', 'text', 'timestamp with time zone', 'jsonb', 'jsonb'],
  'the old sync_clerk_membership is gone'
);

create temp view sync_functions as
  select p.oid, p.proname::text collate "default" as name, p.prosecdef, p.proconfig, p.prosrc
  from pg_proc p
  where p.oid in (
    'public.sync_clerk_user(text, text, text, timestamptz, jsonb, text)'::regprocedure,
    'public.sync_clerk_organization(text, text, text, timestamptz, jsonb, text)'::regprocedure,
    'public.sync_clerk_membership(text, text, timestamptz, jsonb, jsonb, text)'::regprocedure);

select is((select count(*) from sync_functions), 3::bigint, 'the three sync functions exist');
select is_empty(
  $$ select name from sync_functions
     where not prosecdef or proconfig is distinct from array['search_path=""'] $$,
  'each is SECURITY DEFINER with search_path pinned to the empty string'
);
select results_eq(
  $$ select name, has_function_privilege('anon', oid, 'EXECUTE'),
       has_function_privilege('authenticated', oid, 'EXECUTE'),
       has_function_privilege('service_role', oid, 'EXECUTE')
     from sync_functions order by name $$,
  $$ values ('sync_clerk_membership', false, false, true),
            ('sync_clerk_organization', false, false, true),
            ('sync_clerk_user', false, false, true) $$,
  'only service_role may execute them'
);
select results_eq(
  $$ select name, (select count(*) from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner)))
                   where grantee = 0)
     from pg_proc p join sync_functions f using (oid) order by name $$,
  $$ values ('sync_clerk_membership', 0::bigint), ('sync_clerk_organization', 0::bigint),
            ('sync_clerk_user', 0::bigint) $$,
  'PUBLIC holds no grant on them'
);
-- The instance table is read first, before the advisory locks (its lock order, 20261207100000).
select is_empty(
  $$ select name from sync_functions
     where strpos(prosrc, 'clerk_sync.check_clerk_instance(p_instance_id, ''webhook'')') = 0
        or strpos(prosrc, 'clerk_sync.check_clerk_instance') > strpos(prosrc, 'clerk_sync.lock_users')
        or strpos(prosrc, 'clerk_sync.check_clerk_instance') > strpos(prosrc, 'insert into') $$,
  'each checks the instance before it takes a lock or writes anything'
);

-- Helpers: a mapped organization and membership as the function's mapping sends them.
create function pg_temp.org(p_id text, p_updated text) returns jsonb
language sql as $$
  select jsonb_build_object('org_id', p_id, 'name', 'Org ' || p_id, 'slug', lower(p_id),
    'clerk_created_at', '2026-01-01T00:00:00Z', 'clerk_updated_at', p_updated)
$$;
create function pg_temp.member(p_id text, p_org text, p_user text, p_created text) returns jsonb
language sql as $$
  select jsonb_build_object('membership_id', p_id, 'org_id', p_org, 'user_id', p_user,
    'role', 'org:member', 'permissions', jsonb_build_array('org:sys_memberships:read'),
    'clerk_created_at', p_created, 'clerk_updated_at', p_created)
$$;

-- Anon and authenticated cannot call them.
set local role anon;
set local request.jwt.claims = '{"role":"anon"}';
select throws_ok(
  $$ select public.sync_clerk_user('msg_15Anon', 'user.deleted', 'user_15Anon', now(), null,
       'ins_15Anon') $$,
  '42501', 'permission denied for function sync_clerk_user',
  'anon cannot call sync_clerk_user (nor record an instance through it)'
);
reset role;
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_15Ada","role":"authenticated"}';
select throws_ok(
  $$ select public.sync_clerk_membership('msg_15Auth', 'organizationMembership.created', now(),
       pg_temp.member('orgmem_15Auth', 'org_15Auth', 'user_15Ada', '2026-01-01T00:00:00Z'),
       pg_temp.org('org_15Auth', '2026-01-01T00:00:00Z'), 'ins_15Auth') $$,
  '42501', 'permission denied for function sync_clerk_membership',
  'authenticated cannot call sync_clerk_membership'
);
reset role;
select is_empty('select * from clerk_sync.clerk_instance', 'the refused calls recorded nothing');

-- Service role (the clerk-webhook function): the instance rule.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

select is(
  public.sync_clerk_user('msg_15i1', 'user.created', 'user_15iAda', '2026-02-01 10:00:00+00',
    '{"email": "ada@example.com", "clerk_created_at": "2026-02-01T10:00:00Z"}', null),
  'applied', 'an event without instance_id applies and records no instance'
);
select is(
  public.sync_clerk_user('msg_15i2', 'user.updated', 'user_15iAda', '2026-02-01 11:00:00+00',
    '{"email": "ada@example.com", "clerk_created_at": "2026-02-01T10:00:00Z"}', 'ins_15Prod'),
  'applied', 'the first event with an instance_id applies'
);
select throws_ok(
  $$ select public.sync_clerk_user('msg_15i3', 'user.updated', 'user_15iAda',
       '2026-02-01 12:00:00+00',
       '{"email": "mallory@example.com", "clerk_created_at": "2026-02-01T10:00:00Z"}',
       'ins_15Dev') $$,
  'CS409', 'this database follows Clerk instance ins_15Prod, not ins_15Dev',
  'a user event of another instance is refused with CS409, naming both'
);
select throws_ok(
  $$ select public.sync_clerk_user('msg_15i4', 'user.deleted', 'user_15iAda',
       '2026-02-01 12:00:00+00', null, 'ins_15Dev') $$,
  'CS409', 'this database follows Clerk instance ins_15Prod, not ins_15Dev',
  'a user.deleted of another instance is refused'
);
select throws_ok(
  $$ select public.sync_clerk_organization('msg_15i5', 'organization.created', 'org_15iDev',
       '2026-02-01 12:00:00+00', pg_temp.org('org_15iDev', '2026-02-01T12:00:00Z'),
       'ins_15Dev') $$,
  'CS409', 'this database follows Clerk instance ins_15Prod, not ins_15Dev',
  'an organization event of another instance is refused'
);
select throws_ok(
  $$ select public.sync_clerk_organization('msg_15i6', 'organization.deleted', 'org_15iAny',
       '2026-02-01 12:00:00+00', null, 'ins_15Dev') $$,
  'CS409', 'this database follows Clerk instance ins_15Prod, not ins_15Dev',
  'an organization.deleted of another instance is refused'
);
select throws_ok(
  $$ select public.sync_clerk_membership('msg_15i7', 'organizationMembership.created',
       '2026-02-01 12:00:00+00',
       pg_temp.member('orgmem_15iDev', 'org_15iDev', 'user_15iAda', '2026-02-01T12:00:00Z'),
       pg_temp.org('org_15iDev', '2026-02-01T12:00:00Z'), 'ins_15Dev') $$,
  'CS409', 'this database follows Clerk instance ins_15Prod, not ins_15Dev',
  'a membership event of another instance is refused'
);
select throws_ok(
  $$ select public.sync_clerk_user('msg_15i8', 'user.created', 'user_15iBad', now(),
       '{"clerk_created_at": null}', 'user_15iBad') $$,
  '22023', 'not a Clerk instance id: user_15iBad',
  'an instance_id that is not ins_... is refused'
);
select is(
  public.sync_clerk_user('msg_15i9', 'user.updated', 'user_15iAda', '2026-02-01 13:00:00+00',
    '{"email": "ada@example.com", "clerk_created_at": "2026-02-01T10:00:00Z"}', 'ins_15Prod'),
  'applied', 'an event of the recorded instance applies'
);
select is(
  public.sync_clerk_organization('msg_15i10', 'organization.created', 'org_15iProd',
    '2026-02-01 13:00:00+00', pg_temp.org('org_15iProd', '2026-02-01T13:00:00Z'), null),
  'applied', 'an organization event without instance_id applies'
);

reset role;
select results_eq(
  $$ select instance_id, recorded_by from clerk_sync.clerk_instance $$,
  $$ values ('ins_15Prod', 'webhook') $$,
  'the webhook recorded the first instance it saw'
);
select is(
  (select email from public.profiles where user_id = 'user_15iAda'),
  'ada@example.com',
  'the refused events changed no row'
);
select is_empty(
  $$ select svix_id from clerk_sync.webhook_events
     where svix_id in ('msg_15i3', 'msg_15i4', 'msg_15i5', 'msg_15i6', 'msg_15i7', 'msg_15i8') $$,
  'a refused event leaves no delivery log row'
);
select is_empty(
  $$ select org_id from public.organizations where org_id = 'org_15iDev'
     union all select org_id from clerk_sync.deleted_organizations where org_id = 'org_15iAny'
     union all select user_id from clerk_sync.deleted_users where user_id = 'user_15iAda' $$,
  'nor any organization, membership snapshot or tombstone'
);

-- Deletions answer what they did.
set local role service_role;
select is(
  public.sync_clerk_user('msg_15d1', 'user.deleted', 'user_15dNever', '2026-03-01 10:00:00+00'),
  'deleted', 'user.deleted of a user never stored records the deletion: deleted'
);
select is(
  public.sync_clerk_user('msg_15d2', 'user.deleted', 'user_15dNever', '2026-03-01 11:00:00+00'),
  'stale', 'the same deletion again (another svix id) changes nothing: stale'
);
select is(
  public.sync_clerk_organization('msg_15d3', 'organization.deleted', 'org_15dNever',
    '2026-03-01 10:00:00+00'),
  'deleted', 'organization.deleted of one never stored records the deletion: deleted'
);
select is(
  public.sync_clerk_organization('msg_15d4', 'organization.deleted', 'org_15dNever',
    '2026-03-01 10:00:00+00'),
  'stale', 'the same deletion again changes nothing: stale'
);
-- A member added again (created after the removal) stays when the old removal arrives late.
select is(
  public.sync_clerk_membership('msg_15d5', 'organizationMembership.created',
    '2026-03-02 10:00:00+00',
    pg_temp.member('orgmem_15dNew', 'org_15dAcme', 'user_15dBob', '2026-03-02T10:00:00Z'),
    pg_temp.org('org_15dAcme', '2026-03-01T00:00:00Z')),
  'applied', 'the re-added membership applies'
);
select is(
  public.sync_clerk_membership('msg_15d6', 'organizationMembership.deleted',
    '2026-03-01 12:00:00+00',
    pg_temp.member('orgmem_15dOld', 'org_15dAcme', 'user_15dBob', '2026-03-01T09:00:00Z'),
    pg_temp.org('org_15dAcme', '2026-03-01T00:00:00Z')),
  'stale', 'a removal older than the stored membership removes nothing: stale, not deleted'
);
select is(
  (select membership_id from public.organization_memberships where user_id = 'user_15dBob'),
  'orgmem_15dNew', 'the re-added membership stays'
);
select is(
  public.sync_clerk_membership('msg_15d7', 'organizationMembership.deleted',
    '2026-03-03 10:00:00+00',
    pg_temp.member('orgmem_15dNew', 'org_15dAcme', 'user_15dBob', '2026-03-02T10:00:00Z'),
    pg_temp.org('org_15dAcme', '2026-03-01T00:00:00Z')),
  'deleted', 'its own removal removes it: deleted'
);
select is_empty(
  $$ select 1 from public.organization_memberships where user_id = 'user_15dBob' $$,
  'the membership is gone'
);
select is(
  public.sync_clerk_membership('msg_15d8', 'organizationMembership.deleted',
    '2026-03-03 10:00:00+00',
    pg_temp.member('orgmem_15dNew', 'org_15dAcme', 'user_15dBob', '2026-03-02T10:00:00Z'),
    pg_temp.org('org_15dAcme', '2026-03-01T00:00:00Z')),
  'stale', 'the same removal again (another svix id) changes nothing: stale'
);
select is(
  public.sync_clerk_membership('msg_15d9', 'organizationMembership.deleted',
    '2026-03-03 10:00:00+00',
    pg_temp.member('orgmem_15dCy', 'org_15dAcme', 'user_15dCy', '2026-03-02T10:00:00Z'),
    pg_temp.org('org_15dAcme', '2026-03-01T00:00:00Z')),
  'deleted', 'the removal of a membership never stored records it: deleted'
);

reset role;
insert into clerk_sync.deleted_users (user_id, deleted_at, kind)
values ('user_15dGuess', '2026-03-01 10:00:00+00', 'inferred');
set local role service_role;
select is(
  public.sync_clerk_user('msg_15d10', 'user.deleted', 'user_15dGuess', '2026-03-02 10:00:00+00'),
  'deleted', 'a user.deleted that turns an inferred tombstone into an announced one: deleted'
);

reset role;
select results_eq(
  $$ select svix_id, outcome from clerk_sync.webhook_events
     where svix_id in ('msg_15d1', 'msg_15d2', 'msg_15d6', 'msg_15d7') order by svix_id $$,
  $$ values ('msg_15d1', 'deleted'), ('msg_15d2', 'stale'), ('msg_15d6', 'stale'),
            ('msg_15d7', 'deleted') $$,
  'the delivery log says the same as the answers'
);
select results_eq(
  $$ select org_id, user_id, deleted_at, kind from clerk_sync.deleted_memberships
     where org_id = 'org_15dAcme' order by user_id $$,
  $$ values ('org_15dAcme', 'user_15dBob', '2026-03-03 10:00:00+00'::timestamptz, 'announced'),
            ('org_15dAcme', 'user_15dCy', '2026-03-03 10:00:00+00'::timestamptz, 'announced') $$,
  'the removals are recorded at their latest time'
);
select results_eq(
  $$ select recorded, removed from clerk_sync.delete_memberships(
       '[{"org_id": "org_15dAcme", "user_id": "user_15dCy"}]', '2026-03-03 10:00:00+00',
       'inferred') $$,
  $$ values (0, 0) $$,
  'delete_memberships reports a removal that changes nothing as (0, 0)'
);
select results_eq(
  $$ select recorded, removed from clerk_sync.delete_users(array['user_15iAda'],
       '2026-03-04 10:00:00+00', 'inferred') $$,
  $$ values (1, 1) $$,
  'delete_users reports the tombstone and the profile it removed'
);

-- A membership id names one membership: one organization and one user.
set local role service_role;
select is(
  public.sync_clerk_membership('msg_15m1', 'organizationMembership.created',
    '2026-04-01 10:00:00+00',
    pg_temp.member('orgmem_15mOne', 'org_15mAcme', 'user_15mDee', '2026-04-01T10:00:00Z'),
    pg_temp.org('org_15mAcme', '2026-04-01T00:00:00Z')),
  'applied', 'a membership applies'
);
select throws_ok(
  $$ select public.sync_clerk_membership('msg_15m2', 'organizationMembership.updated',
       '2026-04-02 10:00:00+00',
       pg_temp.member('orgmem_15mOne', 'org_15mOther', 'user_15mDee', '2026-04-01T10:00:00Z'),
       pg_temp.org('org_15mOther', '2026-04-02T00:00:00Z')) $$,
  'CSMEM',
  'membership orgmem_15mOne is stored for organization org_15mAcme user user_15mDee, not organization org_15mOther user user_15mDee',
  'the same membership id in another organization is refused with CSMEM, naming both'
);
select throws_ok(
  $$ select public.sync_clerk_membership('msg_15m3', 'organizationMembership.created',
       '2026-04-02 10:00:00+00',
       pg_temp.member('orgmem_15mOne', 'org_15mAcme', 'user_15mEve', '2026-04-02T10:00:00Z'),
       pg_temp.org('org_15mAcme', '2026-04-02T00:00:00Z')) $$,
  'CSMEM',
  'membership orgmem_15mOne is stored for organization org_15mAcme user user_15mDee, not organization org_15mAcme user user_15mEve',
  'the same membership id for another user is refused'
);
select throws_ok(
  $$ select public.sync_clerk_membership('msg_15m4', 'organizationMembership.deleted',
       '2026-04-02 10:00:00+00',
       pg_temp.member('orgmem_15mOne', 'org_15mOther', 'user_15mEve', '2026-04-01T10:00:00Z'),
       pg_temp.org('org_15mOther', '2026-04-02T00:00:00Z')) $$,
  'CSMEM', null,
  'a removal naming a membership id of another pair is refused too'
);
reset role;
select is_empty(
  $$ select org_id from public.organizations where org_id = 'org_15mOther'
     union all select user_id from public.organization_memberships where user_id = 'user_15mEve'
     union all select user_id from clerk_sync.deleted_memberships where user_id = 'user_15mEve'
     union all select svix_id from clerk_sync.webhook_events
       where svix_id in ('msg_15m2', 'msg_15m3', 'msg_15m4') $$,
  'a refused membership event writes nothing: no snapshot, row, tombstone or log row'
);
select results_eq(
  $$ select org_id, user_id, membership_id from public.organization_memberships
     where membership_id = 'orgmem_15mOne' $$,
  $$ values ('org_15mAcme', 'user_15mDee', 'orgmem_15mOne') $$,
  'the stored membership is unchanged'
);
set local role service_role;
select is(
  public.sync_clerk_membership('msg_15m1', 'organizationMembership.created',
    '2026-04-01 10:00:00+00',
    pg_temp.member('orgmem_15mOne', 'org_15mAcme', 'user_15mDee', '2026-04-01T10:00:00Z'),
    pg_temp.org('org_15mAcme', '2026-04-01T00:00:00Z')),
  'duplicate', 'a redelivery of the stored membership is still a duplicate'
);
select is(
  public.sync_clerk_membership('msg_15m5', 'organizationMembership.updated',
    '2026-04-03 10:00:00+00',
    pg_temp.member('orgmem_15mOne', 'org_15mAcme', 'user_15mDee', '2026-04-01T10:00:00Z'),
    pg_temp.org('org_15mAcme', '2026-04-01T00:00:00Z')),
  'applied', 'an update of the stored membership applies'
);
reset role;

select * from finish();
rollback;
