-- The two kinds of tombstone. A user.deleted delivery leaves an 'announced' tombstone, kept
-- forever; reconcile (tombstone_clerk_users) leaves an 'inferred' one, which Clerk's current
-- listing lifts (sync_clerk_users, the write of the backfill and of reconcile --apply). A webhook
-- create or update never lifts a tombstone; a user.deleted delivery turns an inferred tombstone
-- into an announced one. Tombstones are read as the owner (service_role cannot read clerk_sync).
begin;
create extension if not exists pgtap with schema extensions;
select plan(37);

-- Owner: the kind column and the one definition of deletion.
select col_not_null('clerk_sync', 'deleted_users', 'kind', 'every tombstone has a kind');
select col_hasnt_default(
  'clerk_sync', 'deleted_users', 'kind',
  'kind has no default: every deletion names its kind'
);
select throws_ok(
  $$ insert into clerk_sync.deleted_users (user_id, deleted_at, kind)
     values ('user_5kBadKind', now(), 'guessed') $$,
  '23514', null,
  'a kind other than announced or inferred is refused'
);
select hasnt_function(
  'clerk_sync', 'delete_users', array['text[]', 'timestamp with time zone'],
  'the two-argument delete_users is gone: one definition of deletion, with a kind'
);
select is(
  (select proconfig from pg_proc
   where oid = 'clerk_sync.delete_users(text[], timestamptz, text)'::regprocedure),
  array['search_path=""'],
  'delete_users pins search_path to the empty string'
);
select is(
  (select prosecdef from pg_proc
   where oid = 'clerk_sync.delete_users(text[], timestamptz, text)'::regprocedure),
  false,
  'delete_users is SECURITY INVOKER: only its SECURITY DEFINER callers run it'
);

-- Grants: no API role may call delete_users (nor read or write the tombstones: 02_*).
select function_privs_are(
  'clerk_sync', 'delete_users', array['text[]', 'timestamp with time zone', 'text'],
  'anon', array[]::text[],
  'anon has no EXECUTE on clerk_sync.delete_users'
);
select function_privs_are(
  'clerk_sync', 'delete_users', array['text[]', 'timestamp with time zone', 'text'],
  'authenticated', array[]::text[],
  'authenticated has no EXECUTE on clerk_sync.delete_users'
);
select function_privs_are(
  'clerk_sync', 'delete_users', array['text[]', 'timestamp with time zone', 'text'],
  'service_role', array[]::text[],
  'service_role has no EXECUTE on clerk_sync.delete_users'
);
select results_eq(
  $$ select coalesce(nullif(a.grantee, 0)::regrole::text, 'PUBLIC') as grantee
     from pg_proc p,
          aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
     where p.oid = 'clerk_sync.delete_users(text[], timestamptz, text)'::regprocedure $$,
  $$ values ('postgres') $$,
  'only the owner holds a grant on clerk_sync.delete_users (none for PUBLIC)'
);

-- Anon
set local role anon;
set local request.jwt.claims = '{"role":"anon"}';

select throws_ok(
  $$ select clerk_sync.delete_users(array['user_5kAda'], now(), 'announced') $$,
  '42501', 'permission denied for schema clerk_sync',
  'anon cannot delete users'
);
select throws_ok(
  $$ select public.tombstone_clerk_users(array['user_5kAda']) $$,
  '42501', 'permission denied for function tombstone_clerk_users',
  'anon cannot tombstone users'
);
select throws_ok(
  $$ select public.sync_clerk_users('[{"user_id": "user_5kAda",
       "clerk_updated_at": "2026-02-01 10:00:00+00"}]') $$,
  '42501', 'permission denied for function sync_clerk_users',
  'anon cannot lift a tombstone through sync_clerk_users'
);

reset role;

-- Authenticated (a signed-in Clerk user)
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_5kAda","role":"authenticated"}';

select throws_ok(
  $$ select clerk_sync.delete_users(array['user_5kAda'], now(), 'inferred') $$,
  '42501', 'permission denied for schema clerk_sync',
  'authenticated cannot delete users, not even themselves'
);
select throws_ok(
  $$ select public.tombstone_clerk_users(array['user_5kAda']) $$,
  '42501', 'permission denied for function tombstone_clerk_users',
  'authenticated cannot tombstone users'
);
select throws_ok(
  $$ select public.sync_clerk_users('[{"user_id": "user_5kAda",
       "clerk_updated_at": "2026-02-01 10:00:00+00"}]') $$,
  '42501', 'permission denied for function sync_clerk_users',
  'authenticated cannot lift a tombstone through sync_clerk_users'
);

reset role;

-- service_role: the webhook function, reconcile and the backfill, as they call the database.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

-- Ada: Clerk announces her deletion.
select is(
  public.sync_clerk_user('msg_5kAda1', 'user.created', 'user_5kAda', '2026-02-01 10:00:00+00',
    '{"email": "ada@example.com"}'),
  'applied',
  'setup: Ada is created by the webhook'
);
select is(
  public.sync_clerk_user('msg_5kAda2', 'user.deleted', 'user_5kAda', '2026-02-02 10:00:00+00'),
  'deleted',
  'user.deleted deletes Ada'
);

-- Bob: reconcile infers his deletion; only Clerk's listing brings him back.
select is(
  public.sync_clerk_users('[{"user_id": "user_5kBob", "email": "bob@example.com",
    "clerk_updated_at": "2026-02-01 10:00:00+00"}]'),
  '{"applied": ["user_5kBob"], "restored": [], "stale": [], "unchanged": []}'::jsonb,
  'setup: the backfill writes Bob'
);
select is(
  public.tombstone_clerk_users(array['user_5kBob'], '2026-02-03 10:00:00+00'),
  '{"deleted": ["user_5kBob"]}'::jsonb,
  'reconcile tombstones Bob, whom Clerk neither listed nor found by id'
);
select is_empty(
  $$ select 1 from public.profiles where user_id = 'user_5kBob' $$,
  'Bob''s row is removed'
);
select is(
  public.sync_clerk_user('msg_5kBob1', 'user.updated', 'user_5kBob', '2026-02-04 10:00:00+00',
    '{"email": "bob@webhook.example.com"}'),
  'stale',
  'a newer user.updated delivery does not lift an inferred tombstone'
);
select is(
  public.sync_clerk_user('msg_5kBob2', 'user.created', 'user_5kBob', '2026-02-04 11:00:00+00',
    '{"email": "bob@webhook.example.com"}'),
  'stale',
  'nor does a user.created delivery: deliveries are history, not Clerk''s current state'
);
select is(
  public.diff_clerk_users('[
    {"user_id": "user_5kBob", "clerk_updated_at": "2026-02-04 10:00:00+00"},
    {"user_id": "user_5kAda", "clerk_updated_at": "2026-02-01 10:00:00+00"}]'),
  '{"in_sync": [], "missing": [], "outdated": [], "newer": [], "deleted": ["user_5kAda"],
    "restorable": ["user_5kBob"]}'::jsonb,
  'diff: a listed user with an inferred tombstone is restorable (drift); with an announced one, deleted'
);
select is(
  public.sync_clerk_users('[
    {"user_id": "user_5kBob", "email": "bob@new.example.com",
     "clerk_updated_at": "2026-02-04 10:00:00+00"},
    {"user_id": "user_5kAda", "email": "ada@example.com",
     "clerk_updated_at": "2026-02-01 10:00:00+00"},
    {"user_id": "user_5kFay", "email": "fay@example.com",
     "clerk_updated_at": "2026-02-04 10:00:00+00"}]'),
  '{"applied": ["user_5kFay"], "restored": ["user_5kBob"], "stale": ["user_5kAda"],
    "unchanged": []}'::jsonb,
  'Clerk listing Bob lifts his inferred tombstone and restores him; Ada''s announced one stays'
);
select results_eq(
  $$ select user_id, email, clerk_updated_at from public.profiles
     where user_id in ('user_5kAda', 'user_5kBob', 'user_5kFay') order by user_id $$,
  $$ values ('user_5kBob', 'bob@new.example.com', '2026-02-04 10:00:00+00'::timestamptz),
            ('user_5kFay', 'fay@example.com', '2026-02-04 10:00:00+00'::timestamptz) $$,
  'Bob''s row holds the listed version, Fay is new, Ada stays deleted'
);
select is(
  public.diff_clerk_users('[{"user_id": "user_5kBob",
    "clerk_updated_at": "2026-02-04 10:00:00+00"}]'),
  '{"in_sync": ["user_5kBob"], "missing": [], "outdated": [], "newer": [], "deleted": [],
    "restorable": []}'::jsonb,
  'after the restore, Bob is in sync'
);

-- Cleo: inferred first, then Clerk announces the deletion.
select is(
  public.tombstone_clerk_users(array['user_5kCleo'], '2026-02-05 10:00:00+00'),
  '{"deleted": ["user_5kCleo"]}'::jsonb,
  'reconcile tombstones Cleo'
);
select is(
  public.sync_clerk_user('msg_5kCleo1', 'user.deleted', 'user_5kCleo', '2026-02-04 09:00:00+00'),
  'deleted',
  'a user.deleted delivery for an inferred tombstone is deleted'
);
select is(
  public.sync_clerk_users('[{"user_id": "user_5kCleo",
    "clerk_updated_at": "2026-02-04 08:00:00+00"}]'),
  '{"applied": [], "restored": [], "stale": ["user_5kCleo"], "unchanged": []}'::jsonb,
  'once announced, Clerk''s listing (still showing Cleo) no longer lifts it'
);

-- Dan: announced first, then reconcile misses him too.
select is(
  public.sync_clerk_user('msg_5kDan1', 'user.deleted', 'user_5kDan', '2026-02-01 10:00:00+00'),
  'deleted',
  'user.deleted deletes Dan'
);
select is(
  public.tombstone_clerk_users(array['user_5kDan'], '2026-02-06 10:00:00+00'),
  '{"deleted": ["user_5kDan"]}'::jsonb,
  'reconcile tombstoning an announced user answers deleted'
);

-- Eve: inferred twice.
select is(
  public.tombstone_clerk_users(array['user_5kEve', 'user_5kEve'], '2026-02-05 10:00:00+00'),
  '{"deleted": ["user_5kEve"]}'::jsonb,
  'reconcile tombstones Eve (listed twice: once)'
);
select is(
  public.tombstone_clerk_users(array['user_5kEve'], '2026-02-07 10:00:00+00'),
  '{"deleted": ["user_5kEve"]}'::jsonb,
  'and again in a later run'
);

reset role;

-- Owner: the tombstones those calls left.
select results_eq(
  $$ select user_id, kind, deleted_at from clerk_sync.deleted_users
     where user_id like 'user_5k%' order by user_id $$,
  $$ values ('user_5kAda', 'announced', '2026-02-02 10:00:00+00'::timestamptz),
            ('user_5kCleo', 'announced', '2026-02-04 09:00:00+00'::timestamptz),
            ('user_5kDan', 'announced', '2026-02-01 10:00:00+00'::timestamptz),
            ('user_5kEve', 'inferred', '2026-02-05 10:00:00+00'::timestamptz) $$,
  'Ada announced; Bob''s lifted; Cleo announced with the earlier time; Dan still announced; '
  || 'Eve inferred once, at the first time'
);
select results_eq(
  $$ select svix_id, outcome from clerk_sync.webhook_events
     where user_id = 'user_5kBob' order by svix_id $$,
  $$ values ('msg_5kBob1', 'stale'), ('msg_5kBob2', 'stale') $$,
  'the webhook deliveries for the tombstoned Bob were logged as stale'
);
select is_empty(
  $$ select 1 from public.profiles where user_id in ('user_5kCleo', 'user_5kDan', 'user_5kEve') $$,
  'no tombstoned user has a row'
);

select * from finish();
rollback;
