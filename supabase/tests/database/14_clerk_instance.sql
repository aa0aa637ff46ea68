-- One database, one Clerk instance: clerk_sync.clerk_instance records the instance on first use,
-- every later use is compared with it, and only the owner may move the database to another
-- instance (removing the old instance's rows). Rolled back at the end.
begin;
create extension if not exists pgtap with schema extensions;
select plan(37);

-- Grants and settings.
select function_privs_are(
  'public', 'follow_clerk_instance', array['text', 'text', 'boolean'], 'anon', array[]::text[],
  'anon has no EXECUTE on public.follow_clerk_instance'
);
select function_privs_are(
  'public', 'follow_clerk_instance', array['text', 'text', 'boolean'], 'authenticated',
  array[]::text[],
  'authenticated has no EXECUTE on public.follow_clerk_instance'
);
select function_privs_are(
  'public', 'follow_clerk_instance', array['text', 'text', 'boolean'], 'service_role',
  array['EXECUTE'],
  'service_role has EXECUTE on public.follow_clerk_instance (the backfill and reconcile)'
);
select is_definer(
  'public', 'follow_clerk_instance', array['text', 'text', 'boolean'],
  'public.follow_clerk_instance is SECURITY DEFINER: service_role cannot read clerk_sync'
);
select function_privs_are(
  'clerk_sync', 'move_to_clerk_instance', array['text'], 'service_role', array[]::text[],
  'service_role has no EXECUTE on move_to_clerk_instance: only the owner moves the database'
);
select function_privs_are(
  'clerk_sync', 'check_clerk_instance', array['text', 'text'], 'service_role', array[]::text[],
  'service_role has no EXECUTE on check_clerk_instance (the sync functions call it)'
);
select table_privs_are(
  'clerk_sync', 'clerk_instance', 'service_role', array[]::text[],
  'service_role has no privilege on clerk_sync.clerk_instance'
);
select is(
  (select relrowsecurity from pg_class where oid = 'clerk_sync.clerk_instance'::regclass),
  true,
  'clerk_sync.clerk_instance has RLS enabled'
);

-- Anon
set local role anon;
set local request.jwt.claims = '{"role":"anon"}';

select throws_ok(
  $$ select public.follow_clerk_instance('ins_2Anon', 'backfill', true) $$,
  '42501', 'permission denied for function follow_clerk_instance',
  'anon cannot record an instance'
);

reset role;

-- Authenticated (a signed-in Clerk user)
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_8sAda","role":"authenticated"}';

select throws_ok(
  $$ select public.follow_clerk_instance('ins_2User', 'backfill', true) $$,
  '42501', 'permission denied for function follow_clerk_instance',
  'authenticated cannot record an instance'
);

reset role;

-- Service role (the backfill and reconcile)
set local role service_role;

select is(
  public.follow_clerk_instance('ins_2Dev', 'reconcile', false),
  '{"status": "unrecorded", "instance_id": null}'::jsonb,
  'a reconcile that only reports records nothing on first use'
);
select is(
  public.follow_clerk_instance(null, 'backfill', true),
  '{"status": "unknown", "instance_id": null}'::jsonb,
  'no instance id: nothing to compare, nothing recorded'
);
select is(
  public.follow_clerk_instance('ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S', 'webhook', true),
  '{"status": "unknown", "instance_id": null}'::jsonb,
  'the instance of Clerk''s published example events is never recorded'
);
select is(
  public.follow_clerk_instance('ins_2Dev', 'backfill', true),
  '{"status": "recorded", "instance_id": "ins_2Dev"}'::jsonb,
  'the first use records the instance'
);
select is(
  public.follow_clerk_instance('ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S', 'webhook', true),
  '{"status": "unknown", "instance_id": "ins_2Dev"}'::jsonb,
  'nor refused: an example event is no other instance'
);
select is(
  public.follow_clerk_instance('ins_2Dev', 'reconcile', false),
  '{"status": "matches", "instance_id": "ins_2Dev"}'::jsonb,
  'the same instance matches'
);
select is(
  public.follow_clerk_instance('ins_2Prod', 'backfill', true),
  '{"status": "mismatch", "instance_id": "ins_2Dev"}'::jsonb,
  'another instance is a mismatch naming the recorded one, even when asked to record'
);
select throws_ok(
  $$ select public.follow_clerk_instance('user_2Dev', 'backfill', true) $$,
  '22023', 'not a Clerk instance id: user_2Dev',
  'an id that is not ins_... is refused'
);
select throws_ok(
  $$ select public.follow_clerk_instance('ins_2Dev', 'browser', true) $$,
  '22023', 'unsupported source: browser',
  'an unknown source is refused'
);
select throws_ok(
  $$ select clerk_sync.move_to_clerk_instance('ins_2Prod') $$,
  '42501', 'permission denied for function move_to_clerk_instance',
  'service_role cannot move the database'
);

reset role;

-- Owner: what the sync functions call, and the move.
select is(
  (select recorded_by from clerk_sync.clerk_instance),
  'backfill',
  'the record says which path recorded it'
);
select lives_ok(
  $$ select clerk_sync.check_clerk_instance('ins_2Dev', 'webhook') $$,
  'check_clerk_instance passes the recorded instance'
);
select lives_ok(
  $$ select clerk_sync.check_clerk_instance(null, 'webhook') $$,
  'check_clerk_instance passes an event without instance_id'
);
select lives_ok(
  $$ select clerk_sync.check_clerk_instance('ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S', 'webhook') $$,
  'check_clerk_instance passes an event of Clerk''s example instance'
);
select throws_ok(
  $$ select clerk_sync.check_clerk_instance('ins_2Prod', 'webhook') $$,
  'CS409', 'this database follows Clerk instance ins_2Dev, not ins_2Prod',
  'check_clerk_instance refuses another instance with CS409, naming both'
);

insert into public.profiles (user_id, email, clerk_updated_at)
values ('user_8iAda', 'ada@example.com', now()), ('user_8iBob', 'bob@example.com', now());
insert into public.organizations (org_id, name, clerk_updated_at)
values ('org_8iAcme', 'Acme', now());
insert into public.organization_memberships
  (org_id, user_id, membership_id, role, clerk_created_at, clerk_updated_at)
values ('org_8iAcme', 'user_8iAda', 'orgmem_8iAda', 'org:admin', now(), now());
insert into clerk_sync.deleted_users (user_id, deleted_at, kind)
values ('user_8iGone', now(), 'announced');
insert into clerk_sync.deleted_organizations (org_id, deleted_at, kind)
values ('org_8iGone', now(), 'inferred');
insert into clerk_sync.webhook_events (svix_id, event_type, user_id, occurred_at, outcome)
values ('msg_8iOne', 'user.created', 'user_8iAda', now(), 'applied');

select throws_ok(
  $$ select clerk_sync.move_to_clerk_instance('prod') $$,
  '22023', 'not a Clerk instance id: prod',
  'a move needs a Clerk instance id'
);
select is(
  clerk_sync.move_to_clerk_instance('ins_2Prod'),
  '{"from": "ins_2Dev", "to": "ins_2Prod", "removed": {"profiles": 2, "organizations": 1,
    "memberships": 1, "tombstones": 2, "deliveries": 1}}'::jsonb,
  'the move names both instances and what it removed'
);
select is((select count(*) from public.profiles), 0::bigint, 'the old instance''s profiles are gone');
select is(
  (select count(*) from public.organizations), 0::bigint,
  'the old instance''s organizations are gone'
);
select is(
  (select count(*) from public.organization_memberships), 0::bigint,
  'the old instance''s memberships are gone'
);
select is(
  (select count(*) from clerk_sync.deleted_users) +
    (select count(*) from clerk_sync.deleted_organizations), 0::bigint,
  'the old instance''s tombstones are gone'
);
select is(
  (select count(*) from clerk_sync.webhook_events), 0::bigint,
  'the old instance''s delivery log is gone'
);
select results_eq(
  $$ select instance_id, recorded_by from clerk_sync.clerk_instance $$,
  $$ values ('ins_2Prod', 'move') $$,
  'the new instance is recorded, by the move'
);
select is(
  clerk_sync.follow_clerk_instance('ins_2Dev', 'backfill', true),
  '{"status": "mismatch", "instance_id": "ins_2Prod"}'::jsonb,
  'after the move, the old instance is the other one'
);
select is(
  clerk_sync.follow_clerk_instance('ins_2Prod', 'webhook', true),
  '{"status": "matches", "instance_id": "ins_2Prod"}'::jsonb,
  'after the move, the new instance matches'
);
select is(
  clerk_sync.move_to_clerk_instance('ins_2Prod') -> 'removed',
  '{"profiles": 0, "organizations": 0, "memberships": 0, "tombstones": 0, "deliveries": 0}'::jsonb,
  'moving to the recorded instance again removes nothing more'
);
select throws_ok(
  $$ insert into clerk_sync.clerk_instance (singleton, instance_id, recorded_by)
     values (false, 'ins_2Other', 'webhook') $$,
  '23514', null,
  'the table holds one row at most'
);

select * from finish();
rollback;
