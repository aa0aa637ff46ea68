-- Stands in for pg-safeupdate, which Supabase preloads for the Data API (supabase/postgres
-- migrations/db/migrations/20220118070449_enable-safeupdate-postgrest.sql: authenticator's
-- session_preload_libraries). Its hook (eradman/pg-safeupdate, safeupdate.c) fails every UPDATE or
-- DELETE parsed in such a session whose WHERE is missing (21000, "UPDATE requires a WHERE
-- clause"), statements inside functions included. It is not packaged for Debian, so this checks
-- the functions' text instead, conservatively (a false alarm is a rewrite, a miss is a 500 on the
-- platform only):
-- - which functions: every SQL or PL/pgSQL function that no extension owns and that an API role
--   may execute; every one the owner of a SECURITY DEFINER function among those may execute (it
--   may be called from there, with the owner's rights); every trigger function.
-- - what: each `delete from` and `update <table> set` in the body, comments removed, string
--   literals kept (dynamic SQL counts), with no WHERE at its own parenthesis level before its
--   statement (or its parenthesized group: a CTE, a subquery) ends. `on conflict do update` is
--   an INSERT and is skipped, as safeupdate skips it.
-- The owner may execute every function it owns, so in practice this covers every function of the
-- migrations: one that deliberately touches every row says so with `where true` (which passes
-- safeupdate too).
begin;
create extension if not exists pgtap with schema extensions;
select plan(5);

-- The UPDATE and DELETE statements of `p_src` that have no WHERE of their own.
create function pg_temp.unfiltered_writes(p_src text) returns setof text
language plpgsql immutable
as $$
declare
  s text := lower(p_src);
  dml constant text :=
    '\m(delete\s+from|update\s+(only\s+)?[a-z0-9_."]+(\s+(as\s+)?[a-z0-9_"]+)?\s+set)\M';
  hit integer;
  at integer := 1;
  i integer;
  depth integer;
  c text;
  filtered boolean;
begin
  s := regexp_replace(s, '/\*.*?\*/', ' ', 'g');
  s := regexp_replace(s, '--[^\n]*', ' ', 'g');
  loop
    hit := regexp_instr(s, dml, at);
    exit when hit = 0;
    at := regexp_instr(s, dml, hit, 1, 1);
    continue when substr(s, 1, hit - 1) ~ '\mdo\s*$';
    depth := 0;
    filtered := false;
    i := at;
    while i <= length(s) loop
      c := substr(s, i, 1);
      if c = '(' then
        depth := depth + 1;
      elsif c = ')' then
        exit when depth = 0;
        depth := depth - 1;
      elsif c = ';' and depth = 0 then
        exit;
      elsif c = 'w' and depth = 0 then
        if substr(s, i, 6) ~ '^where\M' and substr(s, i - 1, 1) !~ '[a-z0-9_$"]' then
          filtered := true;
          exit;
        end if;
      end if;
      i := i + 1;
    end loop;
    if not filtered then
      return next left(btrim(regexp_replace(substr(s, hit, i - hit), '\s+', ' ', 'g')), 120);
    end if;
  end loop;
end;
$$;

create temp view api_reachable_functions as
  with candidates as (
    select p.oid, p.prosecdef, p.proowner,
      format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as name,
      case when p.prosqlbody is not null then pg_get_functiondef(p.oid) else p.prosrc end as src
    from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace
    join pg_language l on l.oid = p.prolang
    where l.lanname in ('sql', 'plpgsql')
      and n.nspname not in ('pg_catalog', 'information_schema')
      and n.nspname !~ '^pg_(toast_)?temp_'
      and not exists (
        select 1 from pg_depend d
        where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
  ),
  api_executable as (
    select c.* from candidates c
    where exists (
      select 1 from unnest(array['anon', 'authenticated', 'service_role']) as r(role)
      where has_function_privilege(r.role, c.oid, 'EXECUTE'))
  )
  select c.oid, c.name, c.src from candidates c
  where c.oid in (select oid from api_executable)
    or exists (
      select 1 from api_executable f
      where f.prosecdef and has_function_privilege(f.proowner, c.oid, 'EXECUTE'))
    or exists (select 1 from pg_trigger t where t.tgfoid = c.oid);

create temp view unfiltered_api_writes as
  select x.finding from (
    select (f.name || ': ' || w.statement) collate "default" as finding
    from pg_temp.api_reachable_functions f, pg_temp.unfiltered_writes(f.src) as w(statement)
  ) x
  order by x.finding collate "C";

-- The migrated schema.
select ok(
  (select count(*) from pg_temp.api_reachable_functions
   where oid in ('public.sync_clerk_user(text, text, text, timestamptz, jsonb, text)'::regprocedure,
                 'clerk_sync.delete_users(text[], timestamptz, text)'::regprocedure)) = 2,
  'the check reaches the webhook''s function and, through it, the internal deletion'
);
select is_empty(
  'select * from pg_temp.unfiltered_api_writes',
  'no function an API role can reach runs an UPDATE or DELETE without WHERE'
);

-- Probes, rolled back with the transaction: each unfiltered form, reached each way, and the forms
-- that must pass (a WHERE, an upsert, a row lock, the words in comments).
create function public.safeupdate_probe_delete() returns void
  language plpgsql set search_path = '' as $$
  begin
    delete from clerk_sync.webhook_events;
  end $$;
create function clerk_sync.safeupdate_probe_internal() returns void
  language sql set search_path = '' as 'update public.profiles set email = null';
revoke all on function clerk_sync.safeupdate_probe_internal() from public;
create function public.safeupdate_probe_cte() returns integer
  language sql set search_path = '' as $$
  with gone as (delete from clerk_sync.deleted_users returning user_id)
  select count(*)::integer from gone where true
$$;
create function public.safeupdate_probe_subquery() returns void
  language sql set search_path = '' as $$
  update public.profiles as p
     set email = (select q.email from public.profiles q where q.user_id = 'user_x')
$$;
create function public.safeupdate_probe_dynamic() returns void
  language plpgsql set search_path = '' as $$
  begin
    execute format('delete from %I.%I', 'public', 'profiles');
  end $$;
create function public.safeupdate_probe_filtered() returns void
  language plpgsql set search_path = '' as $$
  begin
    -- delete from public.profiles;
    /* update public.profiles set email = null; */
    delete from public.profiles p where p.user_id = 'user_x';
    update public.profiles as p set email = null where p.user_id = 'user_x';
    insert into public.profiles (user_id, clerk_updated_at) values ('user_x', now())
      on conflict (user_id) do update set clerk_updated_at = excluded.clerk_updated_at;
    perform 1 from public.profiles p where p.user_id = 'user_x' for update;
    execute 'delete from public.profiles where user_id = $1' using 'user_x';
  end $$;
revoke all on function public.safeupdate_probe_filtered() from public, anon, authenticated;
grant execute on function public.safeupdate_probe_filtered() to service_role;

select * from check_test(
  is_empty(
    'select * from pg_temp.unfiltered_api_writes',
    'no function an API role can reach runs an UPDATE or DELETE without WHERE'
  ),
  false,
  'the safeupdate stand-in',
  'no function an API role can reach runs an UPDATE or DELETE without WHERE'
);
select results_eq(
  $$ select finding from pg_temp.unfiltered_api_writes $$,
  $$ values
       ('clerk_sync.safeupdate_probe_internal(): update public.profiles set email = null'),
       ('public.safeupdate_probe_cte(): delete from clerk_sync.deleted_users returning user_id'),
       ('public.safeupdate_probe_delete(): delete from clerk_sync.webhook_events'),
       ('public.safeupdate_probe_dynamic(): delete from %i.%i'', ''public'', ''profiles'''),
       ('public.safeupdate_probe_subquery(): update public.profiles as p set email = '
        || '(select q.email from public.profiles q where q.user_id = ''user_x'')') $$,
  'it names each unfiltered statement (directly executable, internal, in a CTE, with a WHERE '
  || 'only in a subquery, dynamic) and none of the filtered ones'
);

select * from finish();
rollback;
