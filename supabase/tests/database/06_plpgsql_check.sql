-- The PL/pgSQL bodies pass plpgsql_check, the checker `supabase db lint` runs (with its default
-- options: errors, warnings and extra warnings such as a variable never read). Skipped where the
-- extension is not installed (Debian: postgresql-15-plpgsql-check; Supabase ships it).
begin;
create extension if not exists pgtap with schema extensions;
select plan(1);

do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'plpgsql_check') then
    create extension if not exists plpgsql_check with schema extensions;
  end if;
end;
$$;

select case
  when exists (select 1 from pg_extension where extname = 'plpgsql_check') then
    is_empty(
      $$ select format('%s: %s %s', p.oid::regprocedure, c.level, c.message)
         from pg_proc p
              join pg_namespace n on n.oid = p.pronamespace
              join pg_language l on l.oid = p.prolang,
              extensions.plpgsql_check_function_tb(p.oid) c
         where n.nspname in ('public', 'clerk_sync') and l.lanname = 'plpgsql' $$,
      'plpgsql_check finds nothing in the PL/pgSQL functions of public and clerk_sync'
    )
  else skip('plpgsql_check is not installed', 1)
end;

select * from finish();
rollback;
