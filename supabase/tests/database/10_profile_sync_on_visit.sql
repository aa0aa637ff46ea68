-- Sync on visit (clerk-profile-sync): public.read_clerk_profile and public.sync_clerk_profile.
-- Only service_role may call them; the confirmations live in clerk_sync, out of every API role's
-- reach. Their rules: recent within the interval, check after it, an announced deletion wins, an
-- inferred one is lifted, a newer webhook row is kept (unchanged), equal data is unchanged, a
-- webhook delivery of the same data afterwards is stale, and the confirmation goes with the row.
-- One transaction: now() does not move, so "after the interval" is made by ageing a confirmation
-- as the owner.
begin;
create extension if not exists pgtap with schema extensions;
select plan(57);

-- Owner: the table, the functions' security settings, the grants.
select has_table(
  'clerk_sync', 'profile_confirmations', 'table clerk_sync.profile_confirmations exists'
);
select columns_are(
  'clerk_sync', 'profile_confirmations', array['user_id', 'confirmed_at'],
  'profile_confirmations holds only the user id and the time (no personal data)'
);
select col_is_pk(
  'clerk_sync', 'profile_confirmations', 'user_id', 'profile_confirmations is keyed by user_id'
);
select fk_ok(
  'clerk_sync', 'profile_confirmations', 'user_id', 'public', 'profiles', 'user_id',
  'a confirmation belongs to a profile'
);
select is(
  (select confdeltype from pg_constraint
   where conrelid = 'clerk_sync.profile_confirmations'::regclass and contype = 'f'),
  'c'::"char",
  'deleting the profile deletes its confirmation (on delete cascade)'
);
select is(
  (select relrowsecurity from pg_class where oid = 'clerk_sync.profile_confirmations'::regclass),
  true,
  'profile_confirmations has row level security enabled'
);
select is_definer(
  'public', 'read_clerk_profile', array['text', 'integer'],
  'read_clerk_profile is SECURITY DEFINER'
);
select is_definer(
  'public', 'sync_clerk_profile', array['jsonb'],
  'sync_clerk_profile is SECURITY DEFINER'
);
select is(
  (select array_agg(p.proconfig[1] order by p.proname) from pg_proc p
   where p.oid in ('public.read_clerk_profile(text, integer)'::regprocedure,
                   'public.sync_clerk_profile(jsonb)'::regprocedure)),
  array['search_path=""', 'search_path=""'],
  'both pin search_path to the empty string'
);
select volatility_is(
  'public', 'read_clerk_profile', array['text', 'integer'], 'stable',
  'read_clerk_profile is STABLE (PostgREST runs it read-only)'
);
select volatility_is(
  'public', 'sync_clerk_profile', array['jsonb'], 'volatile',
  'sync_clerk_profile is VOLATILE'
);
select function_returns(
  'public', 'read_clerk_profile', array['text', 'integer'], 'jsonb',
  'read_clerk_profile returns jsonb'
);
select function_returns(
  'public', 'sync_clerk_profile', array['jsonb'], 'jsonb', 'sync_clerk_profile returns jsonb'
);

select function_privs_are(
  'public', 'read_clerk_profile', array['text', 'integer'], 'anon', array[]::text[],
  'anon has no EXECUTE on read_clerk_profile'
);
select function_privs_are(
  'public', 'read_clerk_profile', array['text', 'integer'], 'authenticated', array[]::text[],
  'authenticated has no EXECUTE on read_clerk_profile'
);
select function_privs_are(
  'public', 'read_clerk_profile', array['text', 'integer'], 'service_role', array['EXECUTE'],
  'service_role has EXECUTE on read_clerk_profile'
);
select function_privs_are(
  'public', 'sync_clerk_profile', array['jsonb'], 'anon', array[]::text[],
  'anon has no EXECUTE on sync_clerk_profile'
);
select function_privs_are(
  'public', 'sync_clerk_profile', array['jsonb'], 'authenticated', array[]::text[],
  'authenticated has no EXECUTE on sync_clerk_profile'
);
select function_privs_are(
  'public', 'sync_clerk_profile', array['jsonb'], 'service_role', array['EXECUTE'],
  'service_role has EXECUTE on sync_clerk_profile'
);
-- A NULL proacl means the default, which grants EXECUTE to PUBLIC: read it through acldefault().
select results_eq(
  $$ select p.oid::regprocedure::text,
            coalesce(nullif(a.grantee, 0)::regrole::text, 'PUBLIC') as grantee
     from pg_proc p,
          aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
     where p.oid in ('public.read_clerk_profile(text, integer)'::regprocedure,
                     'public.sync_clerk_profile(jsonb)'::regprocedure)
     order by 1, 2 $$,
  $$ values ('read_clerk_profile(text,integer)', 'postgres'),
            ('read_clerk_profile(text,integer)', 'service_role'),
            ('sync_clerk_profile(jsonb)', 'postgres'),
            ('sync_clerk_profile(jsonb)', 'service_role') $$,
  'only the owner and service_role hold a grant on either function (none for PUBLIC)'
);
select table_privs_are(
  'clerk_sync', 'profile_confirmations', 'service_role', array[]::text[],
  'service_role has no privileges on profile_confirmations'
);

-- Anon
set local role anon;
set local request.jwt.claims = '{"role":"anon"}';

select throws_ok(
  $$ select public.read_clerk_profile('user_10kAnon', 60) $$,
  '42501', 'permission denied for function read_clerk_profile',
  'anon cannot read a profile through read_clerk_profile'
);
select throws_ok(
  $$ select public.sync_clerk_profile('{"user_id": "user_10kAnon",
       "clerk_updated_at": "2026-03-01 10:00:00+00"}') $$,
  '42501', 'permission denied for function sync_clerk_profile',
  'anon cannot write a profile through sync_clerk_profile'
);

reset role;

-- Authenticated (a signed-in Clerk user): not even their own profile, not even their own data.
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_10kOwn","role":"authenticated"}';

select throws_ok(
  $$ select public.read_clerk_profile('user_10kOwn', 60) $$,
  '42501', 'permission denied for function read_clerk_profile',
  'authenticated cannot call read_clerk_profile, not even for their own id'
);
select throws_ok(
  $$ select public.sync_clerk_profile('{"user_id": "user_10kOwn", "first_name": "Forged",
       "clerk_updated_at": "2099-01-01 10:00:00+00"}') $$,
  '42501', 'permission denied for function sync_clerk_profile',
  'authenticated cannot write their own profile with data of their choosing'
);
select throws_ok(
  $$ select * from clerk_sync.profile_confirmations $$,
  '42501', 'permission denied for schema clerk_sync',
  'authenticated cannot read the confirmations'
);

reset role;

-- service_role: the clerk-profile-sync function, as it calls the database.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

-- Ada signs up and visits before the webhook arrives.
select is(
  public.read_clerk_profile('user_10kAda', 60),
  '{"status": "check"}'::jsonb,
  'no row: check (the function must ask Clerk)'
);
select is(
  public.sync_clerk_profile('{"user_id": "user_10kAda", "email": "ada@example.com",
    "phone": null, "first_name": "Ada", "last_name": "Lovelace", "username": "ada",
    "image_url": "https://img.clerk.com/ada.png", "public_metadata": {"plan": "pro"},
    "clerk_created_at": "2026-03-01T09:00:00.000Z",
    "clerk_updated_at": "2026-03-01T10:00:00.000Z"}') ->> 'status',
  'applied',
  'the first sync on visit writes the row: applied'
);
select is(
  (select array_agg(k order by k)
   from jsonb_object_keys(public.read_clerk_profile('user_10kAda', 60) -> 'profile') k),
  (select array_agg(column_name::text order by column_name::text)
   from information_schema.columns
   where table_schema = 'public' and table_name = 'profiles'),
  'the profile object has exactly the columns of public.profiles'
);
select results_eq(
  $$ select r ->> 'status', r -> 'profile' ->> 'email', r -> 'profile' ->> 'first_name',
            r -> 'profile' -> 'public_metadata', (r ->> 'confirmed_at')::timestamptz = now()
     from public.read_clerk_profile('user_10kAda', 60) r $$,
  $$ values ('recent', 'ada@example.com', 'Ada', '{"plan": "pro"}'::jsonb, true) $$,
  'within the interval: recent, with the stored row and the confirmation time'
);
select is(
  public.read_clerk_profile('user_10kAda', 0),
  '{"status": "check"}'::jsonb,
  'an interval of 0 is never recent'
);
select is(
  public.sync_clerk_profile('{"user_id": "user_10kAda", "email": "ada@example.com",
    "first_name": "Ada", "clerk_updated_at": "2026-03-01T10:00:00.000Z"}') ->> 'status',
  'unchanged',
  'Clerk''s same version again: unchanged'
);
select is(
  public.sync_clerk_user('msg_10kAda1', 'user.created', 'user_10kAda', '2026-03-01 10:00:00+00',
    '{"email": "ada@example.com", "first_name": "Ada"}'),
  'stale',
  'the webhook''s user.created with the same data, arriving afterwards, is stale'
);
select is(
  public.sync_clerk_user('msg_10kAda2', 'user.updated', 'user_10kAda', '2026-03-01 11:00:00+00',
    '{"email": "ada@new.example.com", "first_name": "Ada"}'),
  'applied',
  'a newer user.updated delivery applies'
);
select results_eq(
  $$ select r ->> 'status', r -> 'profile' ->> 'email'
     from public.sync_clerk_profile('{"user_id": "user_10kAda", "email": "ada@example.com",
       "clerk_updated_at": "2026-03-01T10:00:00.000Z"}') r $$,
  $$ values ('unchanged', 'ada@new.example.com') $$,
  'a sync on visit with older data never undoes the newer webhook write: unchanged, newer row'
);

-- Bob: a row the webhook wrote, never confirmed by a visit.
select is(
  public.sync_clerk_user('msg_10kBob1', 'user.created', 'user_10kBob', '2026-03-01 10:00:00+00',
    '{"email": "bob@example.com"}'),
  'applied',
  'setup: the webhook writes Bob'
);
select is(
  public.read_clerk_profile('user_10kBob', 60),
  '{"status": "check"}'::jsonb,
  'a row never confirmed by a visit: check'
);
select is(
  public.sync_clerk_profile('{"user_id": "user_10kBob", "email": "bob@example.com",
    "clerk_updated_at": "2026-03-01T10:00:00.000Z"}') -> 'profile' ->> 'email',
  'bob@example.com',
  'syncing Bob answers the stored row'
);

-- Cleo: Clerk announced her deletion.
select is(
  public.sync_clerk_user('msg_10kCleo1', 'user.deleted', 'user_10kCleo', '2026-03-02 10:00:00+00'),
  'deleted',
  'setup: user.deleted for Cleo'
);
select is(
  public.read_clerk_profile('user_10kCleo', 60),
  '{"status": "deleted"}'::jsonb,
  'an announced tombstone: deleted'
);
select is(
  public.sync_clerk_profile('{"user_id": "user_10kCleo", "email": "cleo@example.com",
    "clerk_updated_at": "2026-03-03T10:00:00.000Z"}'),
  '{"status": "deleted"}'::jsonb,
  'a sync on visit never brings back a user whose deletion was announced'
);
select is_empty(
  $$ select 1 from public.profiles where user_id = 'user_10kCleo' $$,
  'Cleo has no row'
);

-- Dan: reconcile inferred his deletion; Clerk's API now shows him.
select is(
  public.tombstone_clerk_users(array['user_10kDan'], '2026-03-02 10:00:00+00'),
  '{"deleted": ["user_10kDan"]}'::jsonb,
  'setup: reconcile tombstones Dan (inferred)'
);
select is(
  public.read_clerk_profile('user_10kDan', 60),
  '{"status": "check"}'::jsonb,
  'an inferred tombstone: check (Clerk''s answer decides)'
);
select results_eq(
  $$ select r ->> 'status', r -> 'profile' ->> 'user_id'
     from public.sync_clerk_profile('{"user_id": "user_10kDan", "email": "dan@example.com",
       "clerk_updated_at": "2026-03-01T10:00:00.000Z"}') r $$,
  $$ values ('applied', 'user_10kDan') $$,
  'Clerk showing Dan lifts the inferred tombstone and writes his row: applied'
);

-- Bad arguments: 22023, nothing written.
select throws_ok(
  $$ select public.sync_clerk_profile('[]') $$,
  '22023', 'p_profile must be a JSON object',
  'a profile that is not an object is refused'
);
select throws_ok(
  $$ select public.sync_clerk_profile('{"email": "nobody@example.com",
       "clerk_updated_at": "2026-03-01T10:00:00.000Z"}') $$,
  '22023', 'p_profile.user_id is required',
  'a profile without user_id is refused'
);
select throws_ok(
  $$ select public.sync_clerk_profile('{"user_id": "user_10kEve"}') $$,
  '22023', 'p_profile.clerk_updated_at is required',
  'a profile without clerk_updated_at is refused'
);
select throws_like(
  $$ select public.sync_clerk_profile('{"user_id": "user_10kEve",
       "clerk_created_at": "yesterday-ish", "clerk_updated_at": "2026-03-01T10:00:00.000Z"}') $$,
  'p_profile holds a value of the wrong type%',
  'a timestamp that is not one is refused'
);
select throws_ok(
  $$ select public.read_clerk_profile('user_10kEve', -1) $$,
  '22023', 'p_max_age_s must be 0 or more',
  'a negative interval is refused'
);
select throws_ok(
  $$ select public.read_clerk_profile('', 60) $$,
  '22023', 'p_user_id is required',
  'an empty user id is refused'
);

reset role;

-- Owner: Ada's confirmation grows old; what the calls left in clerk_sync.
update clerk_sync.profile_confirmations
set confirmed_at = now() - interval '61 seconds'
where user_id = 'user_10kAda';

set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

select is(
  public.read_clerk_profile('user_10kAda', 60),
  '{"status": "check"}'::jsonb,
  'a confirmation older than the interval: check'
);
select is(
  public.read_clerk_profile('user_10kAda', 120) ->> 'status',
  'recent',
  'the same confirmation within a longer interval: recent'
);
select is(
  public.sync_clerk_user('msg_10kAda3', 'user.deleted', 'user_10kAda', '2026-03-04 10:00:00+00'),
  'deleted',
  'user.deleted for Ada'
);

reset role;

select results_eq(
  $$ select user_id, confirmed_at = now() from clerk_sync.profile_confirmations
     where user_id like 'user_10k%' order by user_id $$,
  $$ values ('user_10kBob', true), ('user_10kDan', true) $$,
  'Ada''s confirmation went with her row; Bob and Dan are confirmed; Cleo never was'
);
select results_eq(
  $$ select user_id, kind from clerk_sync.deleted_users where user_id like 'user_10k%'
     order by user_id $$,
  $$ values ('user_10kAda', 'announced'), ('user_10kCleo', 'announced') $$,
  'Dan''s inferred tombstone is lifted; Ada''s and Cleo''s announced ones stay'
);
select is_empty(
  $$ select 1 from public.profiles where user_id in ('user_10kEve', 'user_10kCleo', 'user_10kAda') $$,
  'refused calls wrote nothing, and deleted users have no row'
);

select * from finish();
rollback;
