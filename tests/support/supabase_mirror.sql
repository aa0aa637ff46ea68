-- Stands in for what a Supabase database provides before any project migration runs, so that
-- migrations, RLS and grants are tested against the same roles, rights and defaults as on the
-- platform. Sources (supabase/postgres): migrations/db/migrate.sh, migrations/db/init-scripts/
-- 00000000000000-initial-schema.sql, 00000000000001-auth-schema.sql,
-- 00000000000003-post-setup.sql and the migrations/db/migrations/ files named below;
-- auth.jwt()/auth.uid()/auth.role() as supabase/auth defines them.
--
-- Applied by the superuser. Our clusters (tests/support/pg_cluster.ts) are initdb'd with
-- `supabase_admin` as on the platform; this script then creates `postgres` and demotes it, and
-- the migrations run as `postgres`. /work/shared/hooks/lib/advisors.sh applies it as a superuser
-- named `postgres` instead: then roles are only created where missing and `postgres` keeps its
-- superuser rights. Plain SQL (no psql meta-commands): a test also applies it with postgres.js.
--
-- Default privileges in public (custom setting `mirror.default_privileges`, passed with
-- PGOPTIONS): 'legacy' (the default) for projects with "Default privileges for new entities"
-- (ALL to anon, authenticated and service_role on what `postgres` creates), 'none' for projects
-- created since 2026-10-30 (Supabase changelog 45329, "Tables not exposed to Data and GraphQL API
-- automatically"; supabase.com/docs/guides/database/data-api).

do $roles$
begin
  -- migrate.sh creates `postgres` (a superuser, demoted below) before the init scripts run.
  if not exists (select from pg_roles where rolname = 'postgres') then
    create role postgres login;
  end if;
  -- initial-schema.sql: the API roles and PostgREST's login role.
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end;
$roles$;

-- The API roles are INHERIT: 20230529180330_alter_api_roles_for_inherit.sql (initial-schema.sql
-- made them NOINHERIT). authenticator stays NOINHERIT: it only switches role.
alter role anon nologin inherit;
alter role authenticated nologin inherit;
alter role service_role nologin inherit bypassrls;
alter role authenticator login noinherit;
grant anon, authenticated, service_role to authenticator;

-- API roles get a statement timeout, as on the platform. authenticator (PostgREST's login role)
-- has statement and lock timeouts of 8 s, which service_role (no setting of its own) inherits:
-- supabase/postgres migrations/db/migrations/20221028101028_set_authenticator_timeout.sql and
-- 20231130133139_set_lock_timeout_to_authenticator_role.sql.
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
-- 20220118070449_enable-safeupdate-postgrest.sql sets authenticator's
-- session_preload_libraries = 'safeupdate' (an UPDATE or DELETE without WHERE fails with 21000).
-- The library is not packaged for Debian, and naming a missing one would refuse every login:
-- supabase/tests/database/09_safeupdate_stand_in.sql checks the functions instead.

-- initial-schema.sql: extensions live in their own schema, usable by every API role.
create schema if not exists extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;

grant usage on schema public to postgres, anon, authenticated, service_role;

-- auth-schema.sql: auth.jwt(), auth.uid() and auth.role() as supabase/auth defines them.
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

grant execute on function auth.jwt(), auth.uid(), auth.role() to anon, authenticated, service_role;

-- `postgres` as the platform leaves it, when supabase_admin is the superuser applying this.
do $postgres$
begin
  if current_user <> 'supabase_admin' then
    return;
  end if;
  -- migrate.sh: the database belongs to postgres (so does public, through pg_database_owner).
  execute format('alter database %I owner to postgres', current_database());
  -- 10000000000000_demote-postgres.sql (storage is not mirrored).
  execute format('grant all on database %I to postgres', current_database());
  grant all on schema auth, extensions to postgres;
  grant all on all tables in schema auth, extensions to postgres;
  grant all on all sequences in schema auth, extensions to postgres;
  grant all on all routines in schema auth, extensions to postgres;
  alter role postgres nosuperuser createdb createrole login replication bypassrls;
  -- 20230201083204_grant_auth_roles_to_postgres.sql, 20230306081037_grant_pg_monitor_to_postgres.sql,
  -- 20240606060239_grant_predefined_roles_to_postgres.sql.
  grant anon, authenticated, service_role to postgres;
  grant pg_monitor, pg_read_all_data, pg_signal_backend to postgres;
  -- 20230224042246_grant_extensions_perms_for_postgres.sql: what supabase_admin creates in
  -- extensions (the extensions the tests need) is postgres's to use.
  alter default privileges in schema extensions grant all on tables to postgres with grant option;
  alter default privileges in schema extensions grant all on routines to postgres with grant option;
  alter default privileges in schema extensions grant all on sequences to postgres with grant option;
  -- 00000000000003-post-setup.sql.
  alter role supabase_admin set search_path to "$user", public, auth, extensions;
  alter role postgres set search_path to "$user", public, extensions;
end;
$postgres$;

-- What `postgres` may do in schema cron once the superuser creates pg_cron for a project
-- (Dashboard → Integrations → Cron; supabase.com/docs/guides/cron/install): this event trigger as
-- 20231020085357_revoke_writes_on_cron_job_from_postgres.sql last defined it (after
-- 00000000000003-post-setup.sql and 20220713082019_pg_cron-pg_net-temp-perms-fix.sql): usage of
-- the schema, all on its tables but cron.job, which postgres may only read (cron.schedule() and
-- cron.unschedule() write it for the caller).
create or replace function extensions.grant_pg_cron_access() returns event_trigger
language plpgsql
as $$
begin
  if exists (
    select
    from pg_event_trigger_ddl_commands() as ev
    join pg_extension as ext on ev.objid = ext.oid
    where ext.extname = 'pg_cron'
  )
  then
    grant usage on schema cron to postgres with grant option;

    alter default privileges in schema cron grant all on tables to postgres with grant option;
    alter default privileges in schema cron grant all on functions to postgres with grant option;
    alter default privileges in schema cron grant all on sequences to postgres with grant option;

    alter default privileges for user supabase_admin in schema cron grant all
        on sequences to postgres with grant option;
    alter default privileges for user supabase_admin in schema cron grant all
        on tables to postgres with grant option;
    alter default privileges for user supabase_admin in schema cron grant all
        on functions to postgres with grant option;

    grant all privileges on all tables in schema cron to postgres with grant option;
    revoke all on table cron.job from postgres;
    grant select on table cron.job to postgres with grant option;
  end if;
end;
$$;
drop event trigger if exists issue_pg_cron_access;
create event trigger issue_pg_cron_access on ddl_command_end
  when tag in ('CREATE EXTENSION')
  execute function extensions.grant_pg_cron_access();

-- Default privileges in public (see the header).
do $defaults$
declare
  mode text := coalesce(nullif(current_setting('mirror.default_privileges', true), ''), 'legacy');
begin
  if mode not in ('legacy', 'none') then
    raise exception 'mirror.default_privileges must be legacy or none, not %', mode;
  end if;
  -- initial-schema.sql; a project without "Default privileges for new entities" has none.
  if mode = 'legacy' then
    alter default privileges for role postgres in schema public
      grant all on tables to anon, authenticated, service_role;
    alter default privileges for role postgres in schema public
      grant all on functions to anon, authenticated, service_role;
    alter default privileges for role postgres in schema public
      grant all on sequences to anon, authenticated, service_role;
  end if;
  -- initial-schema.sql, in both modes: supabase_admin's own defaults stay and no project can change
  -- them (supabase.com/kb/troubleshooting/cant-change-the-default-privileges-of-supabase_admin-in-
  -- the-public-schema). They apply to what supabase_admin creates in public.
  if exists (select from pg_roles where rolname = 'supabase_admin') then
    alter default privileges for role supabase_admin in schema public
      grant all on tables to postgres, anon, authenticated, service_role;
    alter default privileges for role supabase_admin in schema public
      grant all on functions to postgres, anon, authenticated, service_role;
    alter default privileges for role supabase_admin in schema public
      grant all on sequences to postgres, anon, authenticated, service_role;
  end if;
end;
$defaults$;
