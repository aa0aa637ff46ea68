-- One database mirrors one Clerk instance. User, organization and membership ids are unique per
-- instance, so rows copied from another instance (a development key in production, a colleague's
-- key) are rows no event or listing of the right instance ever matches: a backfill would add them,
-- a reconcile would count every row as an orphan. So the database records which instance it
-- follows, on first use: the webhook records the `instance_id` of Clerk's event envelope, the
-- backfill and reconcile record the `id` of `GET /v1/instance` for their secret key. From then on
-- every write path checks it, before it writes, in the same transaction.

create table clerk_sync.clerk_instance (
  -- At most one row.
  singleton boolean primary key default true check (singleton),
  instance_id text not null check (instance_id ~ '^ins_[A-Za-z0-9]{1,64}$'),
  recorded_by text not null check (recorded_by in ('webhook', 'backfill', 'reconcile', 'move')),
  recorded_at timestamptz not null default now()
);
comment on table clerk_sync.clerk_instance is
  'The Clerk instance this database mirrors (clerk_sync.follow_clerk_instance records it on first use).';

revoke all on table clerk_sync.clerk_instance from public, anon, authenticated, service_role;
alter table clerk_sync.clerk_instance enable row level security;

-- Compares p_instance_id with the recorded instance and, with p_record, records it when none is.
-- Returns {"status": s, "instance_id": the recorded id or null}, s being:
--   'recorded'   no instance was recorded; p_instance_id now is (only with p_record);
--   'matches'    p_instance_id is the recorded instance;
--   'unrecorded' no instance is recorded and p_record is false: nothing was written;
--   'mismatch'   another instance is recorded: the caller must not write anything;
--   'unknown'    p_instance_id is null (an event without instance_id), or the id of Clerk's
--                published example events: nothing to compare, nothing recorded.
-- Reading the table takes its ACCESS SHARE lock until the caller's transaction ends, so
-- move_to_clerk_instance (ACCESS EXCLUSIVE) waits for writes in flight, and they for it. Call it
-- first in a transaction, before any other lock, so that the wait can never be a deadlock.
create function clerk_sync.follow_clerk_instance(
  p_instance_id text,
  p_source text,
  p_record boolean default true
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_recorded text;
begin
  if p_source is null or p_source not in ('webhook', 'backfill', 'reconcile') then
    raise exception using errcode = '22023',
      message = 'unsupported source: ' || coalesce(p_source, 'null');
  end if;
  if p_instance_id is not null and p_instance_id !~ '^ins_[A-Za-z0-9]{1,64}$' then
    raise exception using errcode = '22023',
      message = 'not a Clerk instance id: ' || left(p_instance_id, 80);
  end if;
  -- Clerk's published example events (github.com/clerk/openapi-specs webhooks/2025-04-15.yml,
  -- the payloads the dashboard's Testing tab shows) all carry this id. No key belongs to it: had
  -- a test delivery recorded it, every real event would be refused.
  if p_instance_id = 'ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S' then
    p_instance_id := null;
  end if;
  select i.instance_id into v_recorded from clerk_sync.clerk_instance i;
  if v_recorded is null and p_instance_id is not null and p_record then
    -- Two first uses at once: the second waits for the first to commit, then inserts nothing and
    -- compares with what the first recorded (a new snapshot for the next statement).
    insert into clerk_sync.clerk_instance (instance_id, recorded_by)
    values (p_instance_id, p_source)
    on conflict (singleton) do nothing;
    select i.instance_id into v_recorded from clerk_sync.clerk_instance i;
    if v_recorded = p_instance_id then
      return jsonb_build_object('status', 'recorded', 'instance_id', v_recorded);
    end if;
  end if;
  return jsonb_build_object(
    'status', case
      when p_instance_id is null then 'unknown'
      when v_recorded is null then 'unrecorded'
      when v_recorded = p_instance_id then 'matches'
      else 'mismatch'
    end,
    'instance_id', v_recorded
  );
end;
$$;

comment on function clerk_sync.follow_clerk_instance(text, text, boolean) is
  'Records the Clerk instance on first use and compares every later one with it.';

-- For the write paths inside the database (the webhook's sync functions): raises SQLSTATE CS409
-- (PostgREST answers an unknown SQLSTATE with 400 and passes the code on) when p_instance_id is
-- another instance than the recorded one, naming both; records it on first use. A null
-- p_instance_id (older payloads) and the id of Clerk's published examples pass.
create function clerk_sync.check_clerk_instance(p_instance_id text, p_source text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_recorded text;
  v_answer jsonb;
begin
  if p_instance_id is null then
    return;
  end if;
  -- Every delivery passes here: the recorded instance is answered by one read.
  select i.instance_id into v_recorded from clerk_sync.clerk_instance i;
  if v_recorded = p_instance_id then
    return;
  end if;
  v_answer := clerk_sync.follow_clerk_instance(p_instance_id, p_source, true);
  if v_answer->>'status' = 'mismatch' then
    raise exception using errcode = 'CS409',
      message = format('this database follows Clerk instance %s, not %s',
        v_answer->>'instance_id', p_instance_id),
      hint = 'clerk_sync.move_to_clerk_instance() moves the database to another instance';
  end if;
end;
$$;

revoke all on function clerk_sync.follow_clerk_instance(text, text, boolean),
  clerk_sync.check_clerk_instance(text, text)
  from public, anon, authenticated, service_role;

-- For the backfill and reconcile CLI (service_role, through the Data API): the same comparison,
-- as an answer the CLI can word (both ids) before it writes anything. p_record is false for a
-- reconcile that only reports.
create function public.follow_clerk_instance(p_instance_id text, p_source text, p_record boolean)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select clerk_sync.follow_clerk_instance(p_instance_id, p_source, p_record);
$$;

comment on function public.follow_clerk_instance(text, text, boolean) is
  'For the backfill and reconcile: records the Clerk instance on first use, else compares with it.';

revoke all on function public.follow_clerk_instance(text, text, boolean)
  from public, anon, authenticated;
grant execute on function public.follow_clerk_instance(text, text, boolean) to service_role;

-- Moves the database to another Clerk instance (a development instance to production at launch):
-- the rows of the old instance can never match the new one's ids, so they are removed, with
-- everything of theirs: profiles, organizations, memberships, their tombstones, the delivery log
-- and the sync-on-visit confirmations. App tables referencing profiles or organizations with
-- ON DELETE CASCADE lose those rows too; re-key them first if they must stay. Then the new
-- instance is recorded, and a backfill with its secret key fills the mirror. Only the owner may
-- call it (SQL editor, psql): no API role, not even service_role. Returns what it removed.
create function clerk_sync.move_to_clerk_instance(p_instance_id text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_old text;
  v_removed jsonb;
  v_profiles bigint;
  v_organizations bigint;
  v_memberships bigint;
  v_tombstones bigint;
  v_deliveries bigint;
begin
  if p_instance_id is null or p_instance_id !~ '^ins_[A-Za-z0-9]{1,64}$' then
    raise exception using errcode = '22023',
      message = 'not a Clerk instance id: ' || coalesce(left(p_instance_id, 80), 'null');
  end if;
  -- Waits for every write in flight (they read this table first) and holds off new ones.
  lock table clerk_sync.clerk_instance in access exclusive mode;
  select i.instance_id into v_old from clerk_sync.clerk_instance i;

  with d as (delete from public.organization_memberships where true returning 1)
  select count(*) into v_memberships from d;
  with d as (delete from public.organizations where true returning 1)
  select count(*) into v_organizations from d;
  with d as (delete from public.profiles where true returning 1)
  select count(*) into v_profiles from d;
  with d as (
    delete from clerk_sync.deleted_users where true returning 1
  ), o as (
    delete from clerk_sync.deleted_organizations where true returning 1
  ), m as (
    delete from clerk_sync.deleted_memberships where true returning 1
  )
  select (select count(*) from d) + (select count(*) from o) + (select count(*) from m)
  into v_tombstones;
  with d as (delete from clerk_sync.webhook_events where true returning 1)
  select count(*) into v_deliveries from d;

  insert into clerk_sync.clerk_instance (instance_id, recorded_by)
  values (p_instance_id, 'move')
  on conflict (singleton) do update
    set instance_id = excluded.instance_id, recorded_by = excluded.recorded_by,
      recorded_at = now();

  v_removed := jsonb_build_object(
    'profiles', v_profiles,
    'organizations', v_organizations,
    'memberships', v_memberships,
    'tombstones', v_tombstones,
    'deliveries', v_deliveries
  );
  return jsonb_build_object('from', v_old, 'to', p_instance_id, 'removed', v_removed);
end;
$$;

comment on function clerk_sync.move_to_clerk_instance(text) is
  'Moves the mirror to another Clerk instance: removes the old instance''s rows, records the new one.';

revoke all on function clerk_sync.move_to_clerk_instance(text)
  from public, anon, authenticated, service_role;
