-- Who may call public.sync_clerk_user and touch the clerk_sync bookkeeping: only service_role
-- calls the function; nobody but the owner touches clerk_sync (nor calls its upsert_profiles).
begin;
create extension if not exists pgtap with schema extensions;
select plan(27);

-- Grants on the function. PostgreSQL grants EXECUTE on new functions to PUBLIC, and Supabase to
-- anon and authenticated where the project has default privileges (the suite runs with and
-- without them); the migration must have taken all of that back.
select function_privs_are(
  'public', 'sync_clerk_user',
  array['text', 'text', 'text', 'timestamp with time zone', 'jsonb', 'text'],
  'anon', array[]::text[],
  'anon has no EXECUTE on sync_clerk_user'
);
select function_privs_are(
  'public', 'sync_clerk_user',
  array['text', 'text', 'text', 'timestamp with time zone', 'jsonb', 'text'],
  'authenticated', array[]::text[],
  'authenticated has no EXECUTE on sync_clerk_user'
);
select function_privs_are(
  'public', 'sync_clerk_user',
  array['text', 'text', 'text', 'timestamp with time zone', 'jsonb', 'text'],
  'service_role', array['EXECUTE'],
  'service_role has EXECUTE on sync_clerk_user'
);
-- A NULL proacl means the default, which grants EXECUTE to PUBLIC: read it through acldefault().
select results_eq(
  $$ select coalesce(nullif(a.grantee, 0)::regrole::text, 'PUBLIC') as grantee
     from pg_proc p,
          aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
     where p.oid = 'public.sync_clerk_user(text, text, text, timestamptz, jsonb, text)'::regprocedure
     order by 1 $$,
  $$ values ('postgres'), ('service_role') $$,
  'only the owner and service_role hold a grant on sync_clerk_user (none for PUBLIC)'
);

-- Any SECURITY DEFINER function (this one, and any added later) runs with its owner's rights,
-- so none may be callable by PUBLIC, anon or authenticated.
select is_empty(
  $$ select format('%s to %s', p.oid::regprocedure,
                   coalesce(nullif(a.grantee, 0)::regrole::text, 'PUBLIC'))
     from pg_proc p
          join pg_namespace n on n.oid = p.pronamespace,
          aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
     where n.nspname in ('public', 'clerk_sync')
       and p.prosecdef
       and a.privilege_type = 'EXECUTE'
       and (a.grantee = 0 or a.grantee in ('anon'::regrole, 'authenticated'::regrole)) $$,
  'no SECURITY DEFINER function in public/clerk_sync is executable by PUBLIC, anon, authenticated'
);

-- Grants on the internal write: only the owner's SECURITY DEFINER functions call it.
select function_privs_are(
  'clerk_sync', 'upsert_profiles', array['public.profiles[]'],
  'anon', array[]::text[],
  'anon has no EXECUTE on clerk_sync.upsert_profiles'
);
select function_privs_are(
  'clerk_sync', 'upsert_profiles', array['public.profiles[]'],
  'authenticated', array[]::text[],
  'authenticated has no EXECUTE on clerk_sync.upsert_profiles'
);
select function_privs_are(
  'clerk_sync', 'upsert_profiles', array['public.profiles[]'],
  'service_role', array[]::text[],
  'service_role has no EXECUTE on clerk_sync.upsert_profiles'
);
select results_eq(
  $$ select coalesce(nullif(a.grantee, 0)::regrole::text, 'PUBLIC') as grantee
     from pg_proc p,
          aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
     where p.oid = 'clerk_sync.upsert_profiles(public.profiles[])'::regprocedure $$,
  $$ values ('postgres') $$,
  'only the owner holds a grant on clerk_sync.upsert_profiles (none for PUBLIC)'
);
-- The same for every internal function (the lock key, deletion, pruning, and any added later),
-- but the operator's status, which service_role may call (08_sync_status.sql).
select is_empty(
  $$ select format('%s to %s', p.oid::regprocedure,
                   coalesce(nullif(a.grantee, 0)::regrole::text, 'PUBLIC'))
     from pg_proc p
          join pg_namespace n on n.oid = p.pronamespace,
          aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
     where n.nspname = 'clerk_sync'
       and a.privilege_type = 'EXECUTE'
       and (a.grantee = 0 or a.grantee in
            ('anon'::regrole, 'authenticated'::regrole, 'service_role'::regrole))
       and not (p.oid = 'clerk_sync.sync_status()'::regprocedure
                and a.grantee = 'service_role'::regrole) $$,
  'no function in clerk_sync is executable by PUBLIC, anon, authenticated or service_role '
  || '(but sync_status by service_role)'
);

-- Grants in clerk_sync: none for the API roles on any of its tables; on the schema, only
-- service_role's USAGE (to call sync_status).
select schema_privs_are(
  'clerk_sync', 'anon', array[]::text[],
  'anon has no privileges on schema clerk_sync'
);
select schema_privs_are(
  'clerk_sync', 'authenticated', array[]::text[],
  'authenticated has no privileges on schema clerk_sync'
);
select schema_privs_are(
  'clerk_sync', 'service_role', array['USAGE'],
  'service_role has only USAGE on schema clerk_sync (to call sync_status)'
);
select is_empty(
  $$ select format('%s: %s to %s', c.oid::regclass, a.privilege_type, a.grantee::regrole)
     from pg_class c
          join pg_namespace n on n.oid = c.relnamespace,
          aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
     where n.nspname = 'clerk_sync'
       and a.grantee <> c.relowner $$,
  'no table in clerk_sync grants anything to anyone but its owner'
);

-- Anon
set local role anon;
set local request.jwt.claims = '{"role":"anon"}';

select throws_ok(
  $$ select public.sync_clerk_user('msg_2pPrivAnon', 'user.created', 'user_2pPrivAnon',
                                   '2026-01-01 10:00:00+00', '{}') $$,
  '42501', 'permission denied for function sync_clerk_user',
  'anon cannot execute sync_clerk_user'
);
select throws_ok(
  $$ select * from clerk_sync.webhook_events $$,
  '42501', 'permission denied for schema clerk_sync',
  'anon cannot read clerk_sync.webhook_events'
);
select throws_ok(
  $$ select * from clerk_sync.deleted_users $$,
  '42501', 'permission denied for schema clerk_sync',
  'anon cannot read clerk_sync.deleted_users'
);

reset role;

-- Authenticated (a signed-in Clerk user)
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_2pPrivOwner","role":"authenticated"}';

select throws_ok(
  $$ select public.sync_clerk_user('msg_2pPrivOwner', 'user.updated', 'user_2pPrivOwner',
                                   '2026-01-01 10:00:00+00', '{"email":"me@example.com"}') $$,
  '42501', 'permission denied for function sync_clerk_user',
  'authenticated cannot execute sync_clerk_user, not even for their own id'
);
select throws_ok(
  $$ select * from clerk_sync.webhook_events $$,
  '42501', 'permission denied for schema clerk_sync',
  'authenticated cannot read clerk_sync.webhook_events'
);
select throws_ok(
  $$ insert into clerk_sync.deleted_users (user_id, deleted_at)
     values ('user_2pPrivOwner', now()) $$,
  '42501', 'permission denied for schema clerk_sync',
  'authenticated cannot write clerk_sync.deleted_users'
);

reset role;

-- service_role: calls the function, which writes clerk_sync as its owner (SECURITY DEFINER),
-- but cannot read or write clerk_sync itself.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

select is(
  public.sync_clerk_user('msg_2pPrivService', 'user.created', 'user_2pPrivService',
                         '2026-01-01 10:00:00+00', '{"email":"service@example.com"}'),
  'applied',
  'service_role can execute sync_clerk_user'
);
select is(
  (select email from public.profiles where user_id = 'user_2pPrivService'),
  'service@example.com',
  'the call as service_role wrote the profile'
);
select throws_ok(
  $$ select * from clerk_sync.webhook_events $$,
  '42501', 'permission denied for table webhook_events',
  'service_role cannot read clerk_sync.webhook_events directly'
);
select throws_ok(
  $$ delete from clerk_sync.deleted_users $$,
  '42501', 'permission denied for table deleted_users',
  'service_role cannot delete tombstones directly'
);
select throws_ok(
  $$ select clerk_sync.upsert_profiles(array[('user_2pPrivService', 'x@example.com', null, null,
       null, null, null, '{}', null, '2027-01-01 10:00:00+00', null, null)::public.profiles]) $$,
  '42501', 'permission denied for function upsert_profiles',
  'service_role cannot call clerk_sync.upsert_profiles to skip the tombstone check'
);

reset role;

-- As the owner: the service_role call was logged.
select results_eq(
  $$ select event_type, user_id, outcome from clerk_sync.webhook_events
     where svix_id = 'msg_2pPrivService' $$,
  $$ values ('user.created', 'user_2pPrivService', 'applied') $$,
  'the service_role call recorded its delivery in clerk_sync.webhook_events'
);
select is_empty(
  $$ select * from clerk_sync.webhook_events
     where svix_id in ('msg_2pPrivAnon', 'msg_2pPrivOwner') $$,
  'the refused calls recorded nothing'
);

select * from finish();
rollback;
