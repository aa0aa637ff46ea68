-- clerk_sync.sync_status(): only the owner and service_role may call it, and every figure it
-- gives is right on known data (written here as the owner, rolled back at the end). Times are
-- relative to now(), which is fixed for the transaction and is the function's as_of.
begin;
create extension if not exists pgtap with schema extensions;
select plan(37);

-- Grants and settings.
select function_returns(
  'clerk_sync', 'sync_status', array[]::text[], 'jsonb',
  'clerk_sync.sync_status() returns jsonb'
);
select is_definer(
  'clerk_sync', 'sync_status', array[]::text[],
  'sync_status is SECURITY DEFINER: it reads clerk_sync for service_role, who cannot'
);
select is(
  (select proconfig from pg_proc where oid = 'clerk_sync.sync_status()'::regprocedure),
  array['search_path=""'],
  'sync_status pins search_path to the empty string'
);
select volatility_is(
  'clerk_sync', 'sync_status', array[]::text[], 'stable',
  'sync_status is STABLE: it writes nothing'
);
select function_privs_are(
  'clerk_sync', 'sync_status', array[]::text[], 'anon', array[]::text[],
  'anon has no EXECUTE on sync_status'
);
select function_privs_are(
  'clerk_sync', 'sync_status', array[]::text[], 'authenticated', array[]::text[],
  'authenticated has no EXECUTE on sync_status'
);
select function_privs_are(
  'clerk_sync', 'sync_status', array[]::text[], 'service_role', array['EXECUTE'],
  'service_role has EXECUTE on sync_status'
);
select results_eq(
  $$ select coalesce(nullif(a.grantee, 0)::regrole::text, 'PUBLIC') as grantee
     from pg_proc p,
          aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
     where p.oid = 'clerk_sync.sync_status()'::regprocedure
     order by 1 $$,
  $$ values ('postgres'), ('service_role') $$,
  'only the owner and service_role hold a grant on sync_status (none for PUBLIC)'
);
select schema_privs_are(
  'clerk_sync', 'service_role', array['USAGE'],
  'service_role has USAGE on schema clerk_sync, to call sync_status, and nothing more'
);

-- Anon
set local role anon;
set local request.jwt.claims = '{"role":"anon"}';

select throws_ok(
  $$ select clerk_sync.sync_status() $$,
  '42501', 'permission denied for schema clerk_sync',
  'anon cannot call sync_status'
);

reset role;

-- Authenticated (a signed-in Clerk user)
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_8sAda","role":"authenticated"}';

select throws_ok(
  $$ select clerk_sync.sync_status() $$,
  '42501', 'permission denied for schema clerk_sync',
  'authenticated cannot call sync_status'
);

reset role;

-- Owner: the figures, from an empty sync to known data.
delete from clerk_sync.webhook_events;
delete from clerk_sync.deleted_users;
delete from public.profiles;
do $$
begin
  -- A later migration adds public.organizations; this test brings its own (see below).
  if to_regclass('public.organizations') is not null then
    alter table public.organizations rename to organizations_kept_by_08;
  end if;
end;
$$;

select is(
  clerk_sync.sync_status(),
  jsonb_build_object(
    'as_of', now(),
    'last_delivery', null,
    'deliveries', '{"last_hour": {"total": 0, "by_event_type": {}},
                    "last_24_hours": {"total": 0, "by_event_type": {}}}'::jsonb,
    'profiles', 0,
    'tombstones', '{"announced": 0, "inferred": 0}'::jsonb,
    'organizations', null,
    'clerk_updated_at', '{"oldest": null, "newest": null}'::jsonb
  ),
  'an empty sync: no delivery, zero counts, no oldest or newest, no organizations table'
);

-- Two deliveries, both older than 24 hours.
insert into clerk_sync.webhook_events
  (svix_id, event_type, user_id, occurred_at, outcome, received_at)
values
  ('msg_8sOld1', 'user.created', 'user_8sAda', '2026-01-01 10:00:00+00', 'applied',
    now() - interval '3 days'),
  ('msg_8sOld2', 'user.updated', 'user_8sAda', '2026-01-02 10:00:00+00', 'stale',
    now() - interval '2 days');

select is(
  clerk_sync.sync_status() -> 'last_delivery',
  jsonb_build_object(
    'svix_id', 'msg_8sOld2', 'event_type', 'user.updated', 'user_id', 'user_8sAda',
    'outcome', 'stale', 'occurred_at', '2026-01-02 10:00:00+00'::timestamptz,
    'received_at', now() - interval '2 days'
  ),
  'a log silent for two days: the last delivery is still found, with its time'
);
select is(
  clerk_sync.sync_status() -> 'deliveries',
  '{"last_hour": {"total": 0, "by_event_type": {}},
    "last_24_hours": {"total": 0, "by_event_type": {}}}'::jsonb,
  'a log silent for two days: no delivery in the last hour nor the last 24 hours'
);

-- Deliveries of the last 24 hours, on both sides of each window's edge.
insert into clerk_sync.webhook_events
  (svix_id, event_type, user_id, occurred_at, outcome, received_at)
values
  ('msg_8sJustOut', 'user.created', 'user_8sBob', '2026-01-03 10:00:00+00', 'applied',
    now() - interval '24 hours 1 second'),
  ('msg_8sDayEdge', 'user.updated', 'user_8sBob', '2026-01-04 10:00:00+00', 'applied',
    now() - interval '24 hours'),
  ('msg_8sDay1', 'user.created', 'user_8sCy', '2026-01-05 10:00:00+00', 'applied',
    now() - interval '20 hours'),
  ('msg_8sDay2', 'user.updated', 'user_8sCy', '2026-01-04 10:00:00+00', 'stale',
    now() - interval '5 hours'),
  ('msg_8sDay3', 'user.deleted', 'user_8sDan', '2026-01-06 10:00:00+00', 'deleted',
    now() - interval '1 hour 1 second'),
  ('msg_8sHourEdge', 'user.updated', 'user_8sAda', '2026-01-01 12:00:00+00', 'stale',
    now() - interval '1 hour'),
  ('msg_8sHour1', 'user.created', 'user_8sEve', '2026-01-07 10:00:00+00', 'applied',
    now() - interval '30 minutes'),
  ('msg_8sHour2', 'user.created', 'user_8sFay', '2026-01-07 11:00:00+00', 'applied',
    now() - interval '10 minutes'),
  ('msg_8sNewest', 'user.updated', 'user_8sEve', '2026-01-08 10:00:00+00', 'applied',
    now() - interval '1 minute');

-- Profiles and tombstones.
insert into public.profiles (user_id, email, clerk_updated_at)
values
  ('user_8sAda', 'ada@example.com', '2026-01-02 10:00:00+00'),
  ('user_8sEve', 'eve@example.com', '2026-01-08 10:00:00+00'),
  ('user_8sFay', 'fay@example.com', '2026-01-07 11:00:00+00');
insert into clerk_sync.deleted_users (user_id, deleted_at, kind)
values
  ('user_8sDan', '2026-01-06 10:00:00+00', 'announced'),
  ('user_8sGus', '2026-01-06 11:00:00+00', 'announced'),
  ('user_8sHal', '2026-01-06 12:00:00+00', 'inferred');

select is(
  clerk_sync.sync_status() -> 'as_of',
  to_jsonb(now()),
  'as_of is the time of the answer'
);
select is(
  clerk_sync.sync_status() -> 'last_delivery',
  jsonb_build_object(
    'svix_id', 'msg_8sNewest', 'event_type', 'user.updated', 'user_id', 'user_8sEve',
    'outcome', 'applied', 'occurred_at', '2026-01-08 10:00:00+00'::timestamptz,
    'received_at', now() - interval '1 minute'
  ),
  'the last delivery is the newest row of the log'
);
select is(
  clerk_sync.sync_status() #> '{deliveries,last_hour}',
  '{"total": 4, "by_event_type": {
      "user.created": {"applied": 2},
      "user.updated": {"applied": 1, "stale": 1}}}'::jsonb,
  'the last hour: 4 deliveries (one exactly an hour old), by event type and outcome'
);
select is(
  clerk_sync.sync_status() #> '{deliveries,last_24_hours}',
  '{"total": 8, "by_event_type": {
      "user.created": {"applied": 3},
      "user.updated": {"applied": 2, "stale": 2},
      "user.deleted": {"deleted": 1}}}'::jsonb,
  'the last 24 hours: 8 deliveries (one exactly 24 hours old, none older), by type and outcome'
);
select is(
  clerk_sync.sync_status() -> 'profiles',
  '3'::jsonb,
  'profiles counts the 3 rows'
);
select is(
  clerk_sync.sync_status() -> 'tombstones',
  '{"announced": 2, "inferred": 1}'::jsonb,
  'tombstones counts each kind'
);
select is(
  clerk_sync.sync_status() -> 'clerk_updated_at',
  jsonb_build_object(
    'oldest', '2026-01-02 10:00:00+00'::timestamptz,
    'newest', '2026-01-08 10:00:00+00'::timestamptz
  ),
  'the oldest and newest clerk_updated_at of the profiles'
);
select is(
  clerk_sync.sync_status() -> 'organizations',
  'null'::jsonb,
  'organizations is null while public.organizations does not exist'
);
select is(
  (select array_agg(k order by k) from jsonb_object_keys(clerk_sync.sync_status()) k),
  array['as_of', 'clerk_updated_at', 'deliveries', 'last_delivery', 'organizations', 'profiles',
    'tombstones'],
  'the answer has exactly the documented keys'
);

-- A redelivery is answered from the log and not logged again: it counts nowhere.
select is(
  public.sync_clerk_user('msg_8sHour1', 'user.created', 'user_8sEve', '2026-01-07 10:00:00+00',
    '{"email": "eve@example.com"}'),
  'duplicate',
  'setup: a redelivery of msg_8sHour1 is a duplicate'
);
select is(
  clerk_sync.sync_status() #>> '{deliveries,last_hour,total}',
  '4',
  'the duplicate is not counted'
);
select is(
  clerk_sync.sync_status() #>> '{last_delivery,svix_id}',
  'msg_8sNewest',
  'nor is it the last delivery'
);

-- A delivery the webhook applies now is counted and becomes the last one.
select is(
  public.sync_clerk_user('msg_8sNow', 'user.created', 'user_8sIvy', '2026-01-09 10:00:00+00',
    '{"email": "ivy@example.com"}'),
  'applied',
  'setup: a new user.created delivery is applied'
);
select is(
  clerk_sync.sync_status() -> 'last_delivery',
  jsonb_build_object(
    'svix_id', 'msg_8sNow', 'event_type', 'user.created', 'user_id', 'user_8sIvy',
    'outcome', 'applied', 'occurred_at', '2026-01-09 10:00:00+00'::timestamptz,
    'received_at', now()
  ),
  'the delivery just applied is the last delivery'
);
select is(
  clerk_sync.sync_status() #> '{deliveries,last_hour}',
  '{"total": 5, "by_event_type": {
      "user.created": {"applied": 3},
      "user.updated": {"applied": 1, "stale": 1}}}'::jsonb,
  'and counts in the last hour'
);
select is(
  clerk_sync.sync_status() #>> '{deliveries,last_24_hours,total}',
  '9',
  'and in the last 24 hours'
);
select is(
  clerk_sync.sync_status() -> 'profiles',
  '4'::jsonb,
  'its profile is counted'
);
select is(
  clerk_sync.sync_status() #> '{clerk_updated_at,newest}',
  to_jsonb('2026-01-09 10:00:00+00'::timestamptz),
  'its clerk_updated_at is the newest'
);

-- Once the organization sync's table exists, organizations counts its rows.
create table public.organizations (id text primary key);
insert into public.organizations (id) values ('org_8sAcme'), ('org_8sGlobex');

select is(
  clerk_sync.sync_status() -> 'organizations',
  '2'::jsonb,
  'organizations counts the rows of public.organizations once it exists'
);

-- Kept for service_role's call below.
do $$
begin
  perform set_config('clerk_sync_test.owner_status', clerk_sync.sync_status()::text, true);
end;
$$;

-- service_role (the operator's API role): the same answer, and still no way into the tables.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

select is(
  clerk_sync.sync_status(),
  current_setting('clerk_sync_test.owner_status')::jsonb,
  'service_role calls sync_status and gets the owner''s answer'
);
select throws_ok(
  $$ select * from clerk_sync.webhook_events $$,
  '42501', 'permission denied for table webhook_events',
  'USAGE on clerk_sync does not let service_role read the delivery log'
);
select throws_ok(
  $$ select * from clerk_sync.deleted_users $$,
  '42501', 'permission denied for table deleted_users',
  'nor the tombstones'
);
select throws_ok(
  $$ select clerk_sync.prune_webhook_events('30 days') $$,
  '42501', 'permission denied for function prune_webhook_events',
  'nor call another function of clerk_sync'
);

reset role;

select * from finish();
rollback;
