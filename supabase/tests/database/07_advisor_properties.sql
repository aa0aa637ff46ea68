-- The properties Supabase's advisors (the supabase/splinter lints) check, asserted for every
-- function, policy and table of public, clerk_sync and clerk_rls (that schema once it exists), so
-- that any object added later that breaks one fails here. Each check is a view over the catalog;
-- the first block asserts them on the migrated schema, the next ones prove each check fails on
-- deliberately bad objects, made in this transaction and rolled back with it.
begin;
create extension if not exists pgtap with schema extensions;
select plan(33);

-- The objects checked: those of the three schemas that no extension owns (the lints skip those).
create temp view checked_functions as
  select p.oid, n.nspname,
    format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as name,
    p.prosecdef, p.proconfig
  from pg_proc p
  join pg_namespace n on n.oid = p.pronamespace
  where n.nspname in ('public', 'clerk_sync', 'clerk_rls')
    and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e');

create temp view checked_policies as
  select format('%I.%I: %s', p.schemaname, p.tablename, p.policyname) as name, p.qual, p.with_check
  from pg_policies p
  where p.schemaname in ('public', 'clerk_sync', 'clerk_rls');

-- function_search_path_mutable: no search_path in the function's settings.
create temp view search_path_mutable as
  select f.name from checked_functions f
  where not exists (select 1 from unnest(f.proconfig) c where c like 'search_path=%')
  order by 1;

-- auth_rls_initplan, with the lint's own LIKE patterns: a policy whose USING or WITH CHECK text
-- calls auth.uid(), auth.jwt(), auth.role(), auth.email() or current_setting() without the text
-- `select <that call>` anywhere in it. (The lint skips tables without RLS; this does not.)
create temp view rls_initplan_lint as
  select p.name from checked_policies p
  where (p.qual like '%auth.uid()%' and lower(p.qual) not like '%select auth.uid()%')
     or (p.qual like '%auth.jwt()%' and lower(p.qual) not like '%select auth.jwt()%')
     or (p.qual like '%auth.role()%' and lower(p.qual) not like '%select auth.role()%')
     or (p.qual like '%auth.email()%' and lower(p.qual) not like '%select auth.email()%')
     or (p.qual like '%current\_setting(%)%'
         and lower(p.qual) not like '%select current\_setting(%)%')
     or (p.with_check like '%auth.uid()%' and lower(p.with_check) not like '%select auth.uid()%')
     or (p.with_check like '%auth.jwt()%' and lower(p.with_check) not like '%select auth.jwt()%')
     or (p.with_check like '%auth.role()%' and lower(p.with_check) not like '%select auth.role()%')
     or (p.with_check like '%auth.email()%'
         and lower(p.with_check) not like '%select auth.email()%')
     or (p.with_check like '%current\_setting(%)%'
         and lower(p.with_check) not like '%select current\_setting(%)%')
  order by 1;

-- The same per call: the lint passes a policy as soon as one call is wrapped, while every call
-- that is not is evaluated once per row. Lists a policy in which any such call is left after
-- removing the wrapped ones.
create temp view rls_initplan_per_call as
  select distinct p.name from checked_policies p,
    unnest(array[p.qual, p.with_check]) as e(expr),
    unnest(array['auth.uid()', 'auth.jwt()', 'auth.role()', 'auth.email()', 'current_setting('])
      as c(call)
  where strpos(replace(lower(e.expr), 'select ' || c.call, ''), c.call) > 0
  order by 1;

-- anon_security_definer_function_executable, in every checked schema (the lint: exposed ones).
create temp view definer_executable_by_anon as
  select f.name from checked_functions f
  where f.prosecdef and has_function_privilege('anon', f.oid, 'EXECUTE')
  order by 1;

-- authenticated_security_definer_function_executable. clerk_rls is exempt: its functions serve
-- policies, which run them as the signed-in user, and the Data API does not expose the schema.
create temp view definer_executable_by_authenticated as
  select f.name from checked_functions f
  where f.prosecdef and has_function_privilege('authenticated', f.oid, 'EXECUTE')
    and f.nspname <> 'clerk_rls'
  order by 1;

-- rls_disabled_in_public, for every table whether exposed or not (partitioned ones too).
create temp view tables_without_rls as
  select format('%I.%I', n.nspname, c.relname) as name
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  where n.nspname in ('public', 'clerk_sync', 'clerk_rls')
    and c.relkind in ('r', 'p')
    and not c.relrowsecurity
    and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
  order by 1;

-- The bookkeeping is out of the API roles' reach: none may execute a function of clerk_sync
-- (a grant to PUBLIC counts for each), except service_role the operator's sync_status().
create temp view clerk_sync_executable_by_api_roles as
  select format('%s to %s', f.name, r.role) as name
  from checked_functions f,
    unnest(array['anon', 'authenticated', 'service_role']) as r(role)
  where f.nspname = 'clerk_sync'
    and has_function_privilege(r.role, f.oid, 'EXECUTE')
    and (f.name, r.role) <> ('clerk_sync.sync_status()', 'service_role')
  order by 1;

-- Owner: the migrated schema has every property.
select is_empty(
  'select * from pg_temp.search_path_mutable',
  'every function pins its search_path'
);
select is_empty(
  'select * from pg_temp.rls_initplan_lint',
  'no policy calls auth.*() or current_setting() in a form the auth_rls_initplan lint flags'
);
select is_empty(
  'select * from pg_temp.rls_initplan_per_call',
  'every auth.*() and current_setting() call in a policy is wrapped in a select'
);
select is_empty(
  'select * from pg_temp.definer_executable_by_anon',
  'no SECURITY DEFINER function is executable by anon'
);
select is_empty(
  'select * from pg_temp.definer_executable_by_authenticated',
  'no SECURITY DEFINER function outside clerk_rls is executable by authenticated'
);
select is_empty(
  'select * from pg_temp.tables_without_rls',
  'every table has row level security enabled'
);
select is_empty(
  'select * from pg_temp.clerk_sync_executable_by_api_roles',
  'no API role may execute a function of clerk_sync (but service_role sync_status())'
);

-- The checks cover clerk_rls before it exists: the probes below make it (rolled back).
create schema if not exists clerk_rls;

-- Probe: a function without a search_path in each schema.
create function public.advisor_probe() returns integer language sql as 'select 1';
create function clerk_sync.advisor_probe() returns integer language sql as 'select 1';
create function clerk_rls.advisor_probe() returns integer language sql as 'select 1';

select * from check_test(
  is_empty('select * from pg_temp.search_path_mutable', 'every function pins its search_path'),
  false,
  'the search_path check',
  'every function pins its search_path',
  E'    Unexpected records:\n        ("clerk_rls.advisor_probe()")\n'
  || E'        ("clerk_sync.advisor_probe()")\n        ("public.advisor_probe()")'
);

drop function public.advisor_probe(), clerk_sync.advisor_probe(), clerk_rls.advisor_probe();

-- Probe: policies calling auth.*() or current_setting() per row, in USING and in WITH CHECK,
-- on a table of each schema; the form the lint flagged on profiles before (the select around the
-- whole expression); one policy wraps one call and not the other (the lint passes it); one wraps
-- both (passes both checks).
create table clerk_rls.advisor_probe_items (owner_id text);
alter table clerk_rls.advisor_probe_items enable row level security;
create policy "Probe: bare jwt" on public.profiles
  for select to authenticated using (auth.jwt() ->> 'sub' = user_id);
create policy "Probe: the select around the whole expression" on public.profiles
  for select to authenticated using ((select auth.jwt() ->> 'sub') = user_id);
create policy "Probe: bare current_setting" on clerk_sync.webhook_events
  for insert with check (current_setting('request.jwt.claims', true) is not null);
create policy "Probe: bare role in with check" on clerk_rls.advisor_probe_items
  for update using ((select auth.uid())::text = owner_id)
  with check (auth.role() = 'authenticated');
create policy "Probe: one call wrapped, one not" on clerk_rls.advisor_probe_items
  for select using ((select auth.jwt()) ->> 'sub' = owner_id or auth.jwt() ->> 'sub' = 'x');
create policy "Probe: every call wrapped" on clerk_rls.advisor_probe_items
  for delete using (
    (select auth.jwt()) ->> 'sub' = owner_id
    and (select current_setting('request.jwt.claims', true)) is not null
  );

select * from check_test(
  is_empty(
    'select * from pg_temp.rls_initplan_lint',
    'no policy calls auth.*() or current_setting() in a form the auth_rls_initplan lint flags'
  ),
  false,
  'the auth_rls_initplan lint check',
  'no policy calls auth.*() or current_setting() in a form the auth_rls_initplan lint flags',
  E'    Unexpected records:\n'
  || E'        ("clerk_rls.advisor_probe_items: Probe: bare role in with check")\n'
  || E'        ("clerk_sync.webhook_events: Probe: bare current_setting")\n'
  || E'        ("public.profiles: Probe: bare jwt")\n'
  || E'        ("public.profiles: Probe: the select around the whole expression")'
);
select * from check_test(
  is_empty(
    'select * from pg_temp.rls_initplan_per_call',
    'every auth.*() and current_setting() call in a policy is wrapped in a select'
  ),
  false,
  'the per-call check',
  'every auth.*() and current_setting() call in a policy is wrapped in a select',
  E'    Unexpected records:\n'
  || E'        ("clerk_rls.advisor_probe_items: Probe: bare role in with check")\n'
  || E'        ("clerk_rls.advisor_probe_items: Probe: one call wrapped, one not")\n'
  || E'        ("clerk_sync.webhook_events: Probe: bare current_setting")\n'
  || E'        ("public.profiles: Probe: bare jwt")\n'
  || E'        ("public.profiles: Probe: the select around the whole expression")'
);

drop policy "Probe: bare jwt" on public.profiles;
drop policy "Probe: the select around the whole expression" on public.profiles;
drop policy "Probe: bare current_setting" on clerk_sync.webhook_events;
drop table clerk_rls.advisor_probe_items;

-- Probe: SECURITY DEFINER functions. In public and clerk_sync, PostgreSQL's default grants
-- EXECUTE to PUBLIC (and in public Supabase's default privileges, where the project has them, to
-- anon and authenticated); in clerk_rls, one is granted to anon, one to authenticated only
-- (allowed there).
create function public.advisor_probe_definer() returns integer
  language sql security definer set search_path = '' as 'select 1';
create function clerk_sync.advisor_probe_definer() returns integer
  language sql security definer set search_path = '' as 'select 1';
create function clerk_rls.advisor_probe_definer() returns integer
  language sql security definer set search_path = '' as 'select 1';
create function clerk_rls.advisor_probe_definer_for_policies() returns integer
  language sql security definer set search_path = '' as 'select 1';
revoke all on function clerk_rls.advisor_probe_definer(),
  clerk_rls.advisor_probe_definer_for_policies() from public;
grant execute on function clerk_rls.advisor_probe_definer() to anon;
grant execute on function clerk_rls.advisor_probe_definer_for_policies() to authenticated;

select * from check_test(
  is_empty(
    'select * from pg_temp.definer_executable_by_anon',
    'no SECURITY DEFINER function is executable by anon'
  ),
  false,
  'the anon SECURITY DEFINER check',
  'no SECURITY DEFINER function is executable by anon',
  E'    Unexpected records:\n        ("clerk_rls.advisor_probe_definer()")\n'
  || E'        ("clerk_sync.advisor_probe_definer()")\n        ("public.advisor_probe_definer()")'
);
select * from check_test(
  is_empty(
    'select * from pg_temp.definer_executable_by_authenticated',
    'no SECURITY DEFINER function outside clerk_rls is executable by authenticated'
  ),
  false,
  'the authenticated SECURITY DEFINER check',
  'no SECURITY DEFINER function outside clerk_rls is executable by authenticated',
  E'    Unexpected records:\n        ("clerk_sync.advisor_probe_definer()")\n'
  || E'        ("public.advisor_probe_definer()")'
);

drop function public.advisor_probe_definer(), clerk_sync.advisor_probe_definer(),
  clerk_rls.advisor_probe_definer(), clerk_rls.advisor_probe_definer_for_policies();

-- Probe: a table without RLS in each schema (in clerk_rls a partitioned one).
create table public.advisor_probe_plain (id integer);
create table clerk_sync.advisor_probe_plain (id integer);
create table clerk_rls.advisor_probe_parted (id integer) partition by range (id);

select * from check_test(
  is_empty(
    'select * from pg_temp.tables_without_rls', 'every table has row level security enabled'
  ),
  false,
  'the RLS check',
  'every table has row level security enabled',
  E'    Unexpected records:\n        (clerk_rls.advisor_probe_parted)\n'
  || E'        (clerk_sync.advisor_probe_plain)\n        (public.advisor_probe_plain)'
);

drop table public.advisor_probe_plain, clerk_sync.advisor_probe_plain,
  clerk_rls.advisor_probe_parted;

-- Probe: a clerk_sync function left with PostgreSQL's default grant to PUBLIC, and sync_status()
-- granted to authenticated (the exception is service_role's alone).
create function clerk_sync.advisor_probe_invoker() returns integer
  language sql set search_path = '' as 'select 1';
grant execute on function clerk_sync.sync_status() to authenticated;

select * from check_test(
  is_empty(
    'select * from pg_temp.clerk_sync_executable_by_api_roles',
    'no API role may execute a function of clerk_sync (but service_role sync_status())'
  ),
  false,
  'the clerk_sync EXECUTE check',
  'no API role may execute a function of clerk_sync (but service_role sync_status())',
  E'    Unexpected records:\n'
  || E'        ("clerk_sync.advisor_probe_invoker() to anon")\n'
  || E'        ("clerk_sync.advisor_probe_invoker() to authenticated")\n'
  || E'        ("clerk_sync.advisor_probe_invoker() to service_role")\n'
  || E'        ("clerk_sync.sync_status() to authenticated")'
);

revoke execute on function clerk_sync.sync_status() from authenticated;
drop function clerk_sync.advisor_probe_invoker();

-- With the probes gone, every check passes again.
select is_empty('select * from pg_temp.search_path_mutable', 'no probe function is left');
select is_empty('select * from pg_temp.rls_initplan_per_call', 'no probe policy is left');
select is_empty('select * from pg_temp.definer_executable_by_anon', 'no probe definer is left');
select is_empty('select * from pg_temp.tables_without_rls', 'no probe table is left');
select is_empty(
  'select * from pg_temp.clerk_sync_executable_by_api_roles', 'no probe grant is left'
);

select * from finish();
rollback;
