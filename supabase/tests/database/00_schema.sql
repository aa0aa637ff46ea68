-- Schema: the tables, keys, RLS, policies and the sync function's security settings.
begin;
create extension if not exists pgtap with schema extensions;
select plan(35);

-- Tables and columns
select has_schema('clerk_sync', 'schema clerk_sync exists');
select has_table('public', 'profiles', 'table public.profiles exists');
select has_table('clerk_sync', 'webhook_events', 'table clerk_sync.webhook_events exists');
select has_table('clerk_sync', 'deleted_users', 'table clerk_sync.deleted_users exists');

select columns_are(
  'public', 'profiles',
  array[
    'user_id', 'email', 'phone', 'first_name', 'last_name', 'username', 'image_url',
    'public_metadata', 'clerk_created_at', 'clerk_updated_at', 'created_at', 'updated_at'
  ],
  'profiles has exactly the mapped Clerk columns and the row timestamps'
);
select columns_are(
  'clerk_sync', 'webhook_events',
  array['svix_id', 'event_type', 'user_id', 'org_id', 'occurred_at', 'outcome', 'received_at'],
  'webhook_events has exactly its bookkeeping columns (no personal data)'
);
select columns_are(
  'clerk_sync', 'deleted_users',
  array['user_id', 'deleted_at', 'recorded_at', 'kind'],
  'deleted_users has exactly its tombstone columns (no personal data)'
);

select columns_are(
  'public', 'organizations',
  array[
    'org_id', 'name', 'slug', 'image_url', 'public_metadata', 'created_by', 'clerk_created_at',
    'clerk_updated_at', 'created_at', 'updated_at'
  ],
  'organizations has the mapped Clerk columns (no private_metadata) and the row timestamps'
);
select columns_are(
  'public', 'organization_memberships',
  array[
    'org_id', 'user_id', 'membership_id', 'role', 'role_name', 'permissions', 'public_metadata',
    'clerk_created_at', 'clerk_updated_at', 'created_at', 'updated_at'
  ],
  'organization_memberships has the mapped Clerk columns (no private_metadata)'
);
select col_is_pk('public', 'organization_memberships', array['org_id', 'user_id'],
  'one membership per organization and user');
select col_is_unique('public', 'organization_memberships', 'membership_id',
  'a Clerk membership id names one row');
select fk_ok('public', 'organization_memberships', 'org_id', 'public', 'organizations', 'org_id',
  'a membership belongs to an organization row (and goes with it)');
select has_index('public', 'organization_memberships', 'organization_memberships_user_id_idx',
  array['user_id', 'org_id', 'role'],
  'memberships are indexed by user (with the organization and role) for the policies and helpers');
select col_is_pk('clerk_sync', 'deleted_organizations', 'org_id',
  'organization tombstones are keyed by org_id');
select col_is_pk('clerk_sync', 'deleted_memberships', array['org_id', 'user_id'],
  'membership tombstones are keyed by organization and user');
select hasnt_column('public', 'organizations', 'private_metadata',
  'organizations never store private_metadata');

-- Keys and types
select col_is_pk('public', 'profiles', 'user_id', 'profiles is keyed by user_id');
select col_type_is(
  'public', 'profiles', 'user_id', 'text', 'user_id is text: Clerk ids are not UUIDs'
);
select col_is_pk('clerk_sync', 'webhook_events', 'svix_id', 'webhook_events is keyed by svix_id');
select col_is_pk('clerk_sync', 'deleted_users', 'user_id', 'deleted_users is keyed by user_id');
select col_type_is('public', 'profiles', 'public_metadata', 'jsonb', 'public_metadata is jsonb');
select col_not_null('public', 'profiles', 'public_metadata', 'public_metadata is not null');
select col_not_null('public', 'profiles', 'clerk_updated_at', 'clerk_updated_at is not null');

-- RLS on every table of both schemas, including any table added later.
select is_empty(
  $$ select format('%I.%I', n.nspname, c.relname)
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('public', 'clerk_sync')
       and c.relkind in ('r', 'p')
       and not c.relrowsecurity $$,
  'every table in public and clerk_sync has row level security enabled'
);

-- Policies
select policies_are(
  'public', 'profiles',
  array['Users can read their own profile'],
  'profiles has only the read-own-profile policy'
);
select policy_cmd_is(
  'public', 'profiles', 'Users can read their own profile', 'select',
  'the profiles policy is for SELECT only'
);
select policy_roles_are(
  'public', 'profiles', 'Users can read their own profile', array['authenticated'],
  'the profiles policy applies to authenticated only'
);
select is_empty(
  $$ select policyname from pg_policies where schemaname = 'clerk_sync' $$,
  'clerk_sync tables have no policies (no client access at all)'
);

-- The sync function
select function_returns(
  'public', 'sync_clerk_user',
  array['text', 'text', 'text', 'timestamp with time zone', 'jsonb', 'text'], 'text',
  'public.sync_clerk_user(text, text, text, timestamptz, jsonb, text) returns text'
);
select is_definer(
  'public', 'sync_clerk_user',
  array['text', 'text', 'text', 'timestamp with time zone', 'jsonb', 'text'],
  'sync_clerk_user is SECURITY DEFINER'
);
select is(
  (select proconfig from pg_proc
   where oid = 'public.sync_clerk_user(text, text, text, timestamptz, jsonb, text)'::regprocedure),
  array['search_path=""'],
  'sync_clerk_user pins search_path to the empty string'
);

-- The write it shares with sync_clerk_users (named by regprocedure: pgTAP's function tests
-- spell a table's type as the search_path shows it).
select is(
  (select pg_get_function_result(p.oid) from pg_proc p
   where p.oid = 'clerk_sync.upsert_profiles(public.profiles[])'::regprocedure),
  'SETOF text',
  'clerk_sync.upsert_profiles(public.profiles[]) returns setof text'
);
select is(
  (select p.prosecdef from pg_proc p
   where p.oid = 'clerk_sync.upsert_profiles(public.profiles[])'::regprocedure),
  false,
  'upsert_profiles is SECURITY INVOKER: it runs with the rights of its SECURITY DEFINER callers'
);
select is(
  (select proconfig from pg_proc
   where oid = 'clerk_sync.upsert_profiles(public.profiles[])'::regprocedure),
  array['search_path=""'],
  'upsert_profiles pins search_path to the empty string'
);
select is_empty(
  $$ select p.oid::regprocedure::text
     from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('public', 'clerk_sync')
       and p.prosecdef
       and not exists (select 1 from unnest(p.proconfig) c where c like 'search_path=%') $$,
  'every SECURITY DEFINER function in public and clerk_sync pins its search_path'
);

select * from finish();
rollback;
