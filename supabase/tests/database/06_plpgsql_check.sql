-- The PL/pgSQL bodies pass plpgsql_check, the checker `supabase db lint` runs (with its default
-- options: errors, warnings and extra warnings such as a variable never read). Skipped where the
-- extension is not installed (Debian: postgresql-15-plpgsql-check; Supabase ships it).
begin;
create extension if not exists pgtap with schema extensions;
select plan(2);

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
         where n.nspname in ('public', 'clerk_sync') and l.lanname = 'plpgsql'
           and p.prorettype <> 'trigger'::regtype $$,
      'plpgsql_check finds nothing in the PL/pgSQL functions of public and clerk_sync'
    )
  else skip('plpgsql_check is not installed', 1)
end;

-- Trigger functions are checked against each table they fire on, with its transition tables
-- (`supabase db lint` leaves them out: it calls plpgsql_check_function without a relation).
select case
  when exists (select 1 from pg_extension where extname = 'plpgsql_check') then
    is_empty(
      $$ select format('%s on %s: %s %s', p.oid::regprocedure, t.tgrelid::regclass, c.level,
                c.message)
         from pg_trigger t
              join pg_proc p on p.oid = t.tgfoid
              join pg_namespace n on n.oid = p.pronamespace
              join pg_language l on l.oid = p.prolang,
              extensions.plpgsql_check_function_tb(p.oid, t.tgrelid,
                oldtable => t.tgoldtable, newtable => t.tgnewtable) c
         where n.nspname in ('public', 'clerk_sync') and l.lanname = 'plpgsql'
           and not t.tgisinternal $$,
      'plpgsql_check finds nothing in the PL/pgSQL trigger functions, on each of their tables'
    )
  else skip('plpgsql_check is not installed', 1)
end;

select * from finish();
rollback;
