-- Clerk users mirrored into public.profiles, written only by public.sync_clerk_user().

create schema if not exists clerk_sync;
comment on schema clerk_sync is
  'Bookkeeping of the Clerk webhook sync (delivery log, tombstones). Not exposed to the Data API.';
revoke all on schema clerk_sync from public;

create table public.profiles (
  user_id text primary key check (user_id <> ''),
  email text,
  phone text,
  first_name text,
  last_name text,
  username text,
  image_url text,
  public_metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(public_metadata) = 'object'),
  clerk_created_at timestamptz,
  clerk_updated_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.profiles is 'One row per live Clerk user, kept in step by the clerk-webhook function.';

-- One row per Svix delivery applied: a redelivery (same svix-id) is answered from here.
create table clerk_sync.webhook_events (
  svix_id text primary key,
  event_type text not null,
  user_id text not null,
  occurred_at timestamptz not null,
  outcome text not null check (outcome in ('applied', 'stale', 'deleted')),
  received_at timestamptz not null default now()
);
create index webhook_events_user_id_idx on clerk_sync.webhook_events (user_id);

-- Clerk never reuses a user id, so a tombstone is forever: no later event brings the user back.
create table clerk_sync.deleted_users (
  user_id text primary key,
  deleted_at timestamptz not null,
  recorded_at timestamptz not null default now()
);

-- Grants per role. Supabase's default privileges grant ALL on new tables in public to anon and
-- authenticated; take that back and give each role only what it needs.
revoke all on table public.profiles from public, anon, authenticated, service_role;
grant select on table public.profiles to authenticated;
grant select, insert, update, delete on table public.profiles to service_role;
revoke all on all tables in schema clerk_sync from public, anon, authenticated, service_role;

-- RLS on every table.
alter table public.profiles enable row level security;
alter table clerk_sync.webhook_events enable row level security;
alter table clerk_sync.deleted_users enable row level security;

-- Policies. Clerk ids are not UUIDs, so auth.uid() would fail on them: compare the JWT's sub.
-- The sub-select lets PostgreSQL evaluate auth.jwt() once per statement, not once per row.
create policy "Users can read their own profile"
  on public.profiles for select
  to authenticated
  using ((select auth.jwt() ->> 'sub') = user_id);

-- The key of a user's advisory lock. Every write of a user (webhook, backfill, reconcile) takes
-- this lock for the length of its transaction; one definition keeps them excluding each other.
-- Schema-qualified and without a `set search_path` clause, so PostgreSQL inlines it into the
-- calling query: the key costs what the bare expression costs.
create function clerk_sync.user_lock_key(p_user_id text)
returns bigint
language sql
immutable
as $$
  select pg_catalog.hashtextextended('clerk_sync.user:' operator(pg_catalog.||) p_user_id, 0)
$$;

-- Deletion, shared by user.deleted and reconcile: a tombstone per user (the first deletion time
-- is kept) and the profile row removed. Callers hold the users' locks.
create function clerk_sync.delete_users(p_user_ids text[], p_deleted_at timestamptz)
returns void
language plpgsql
set search_path = ''
as $$
begin
  insert into clerk_sync.deleted_users (user_id, deleted_at)
  select distinct id, p_deleted_at from unnest(p_user_ids) id
  on conflict (user_id) do nothing;
  delete from public.profiles p where p.user_id = any (p_user_ids);
end;
$$;

-- PostgreSQL grants EXECUTE on new functions to PUBLIC; no API role may call these.
revoke all on function clerk_sync.user_lock_key(text)
  from public, anon, authenticated, service_role;
revoke all on function clerk_sync.delete_users(text[], timestamptz)
  from public, anon, authenticated, service_role;

-- The guarded write of sync_clerk_user and sync_clerk_users: inserts each profile or replaces
-- its row, and returns the user ids written. Only those two call it, as their owner (so it needs
-- no SECURITY DEFINER), after taking the users' advisory locks and checking the tombstones.
-- created_at and updated_at of p_profiles are ignored; a non-object public_metadata becomes {}.
create function clerk_sync.upsert_profiles(p_profiles public.profiles[])
returns setof text
-- PL/pgSQL rather than SQL: it keeps the insert's plan for the session, where a SQL function
-- would plan it again on every webhook event.
language plpgsql
set search_path = ''
as $$
begin
  return query
    insert into public.profiles as p (
      user_id, email, phone, first_name, last_name, username, image_url,
      public_metadata, clerk_created_at, clerk_updated_at
    )
    select n.user_id, n.email, n.phone, n.first_name, n.last_name, n.username, n.image_url,
      case when jsonb_typeof(n.public_metadata) = 'object' then n.public_metadata
        else '{}'::jsonb end,
      n.clerk_created_at, n.clerk_updated_at
    from unnest(p_profiles) n
    on conflict (user_id) do update set
      email = excluded.email,
      phone = excluded.phone,
      first_name = excluded.first_name,
      last_name = excluded.last_name,
      username = excluded.username,
      image_url = excluded.image_url,
      public_metadata = excluded.public_metadata,
      clerk_created_at = excluded.clerk_created_at,
      clerk_updated_at = excluded.clerk_updated_at,
      updated_at = now()
    -- Only strictly newer data wins: an older or equal updated_at is a stale delivery.
    where p.clerk_updated_at < excluded.clerk_updated_at
    returning p.user_id;
end;
$$;

comment on function clerk_sync.upsert_profiles(public.profiles[]) is
  'Internal: the guarded profile upsert shared by sync_clerk_user and sync_clerk_users.';

-- PostgreSQL grants EXECUTE on new functions to PUBLIC; no API role may call this one.
revoke all on function clerk_sync.upsert_profiles(public.profiles[])
  from public, anon, authenticated, service_role;

-- Applies one Clerk user event. Returns 'applied', 'duplicate', 'stale' or 'deleted'.
-- p_occurred_at orders events: the user's updated_at for user.created/user.updated, the
-- envelope's timestamp for user.deleted. p_profile holds the mapped columns (not for deletes).
create function public.sync_clerk_user(
  p_svix_id text,
  p_event_type text,
  p_user_id text,
  p_occurred_at timestamptz,
  p_profile jsonb default null
) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_outcome text;
  v_rows integer;
  v_created_at timestamptz;
  v_profile public.profiles;
begin
  if coalesce(p_svix_id, '') = '' then
    raise exception using errcode = '22023', message = 'p_svix_id is required';
  end if;
  if coalesce(p_user_id, '') = '' then
    raise exception using errcode = '22023', message = 'p_user_id is required';
  end if;
  if p_occurred_at is null then
    raise exception using errcode = '22023', message = 'p_occurred_at is required';
  end if;
  if p_event_type is null or p_event_type not in ('user.created', 'user.updated', 'user.deleted') then
    raise exception using errcode = '22023', message = 'unsupported event type: ' || coalesce(p_event_type, 'null');
  end if;
  if p_event_type <> 'user.deleted' and jsonb_typeof(p_profile) is distinct from 'object' then
    raise exception using errcode = '22023', message = 'p_profile must be a JSON object for ' || p_event_type;
  end if;
  if p_event_type <> 'user.deleted' then
    begin
      v_created_at := (p_profile ->> 'clerk_created_at')::timestamptz;
    exception when invalid_datetime_format or datetime_field_overflow then
      raise exception using errcode = '22023', message = 'p_profile.clerk_created_at is not a timestamp';
    end;
  end if;

  -- Serialise every event of one user. Without this, a delete and a create in two concurrent
  -- transactions could each see neither tombstone nor row, and the create would resurrect the
  -- user. It also makes concurrent redeliveries of one svix-id wait for the first to commit,
  -- after which the next statement's snapshot sees its log row.
  perform pg_advisory_xact_lock(clerk_sync.user_lock_key(p_user_id));

  if exists (select 1 from clerk_sync.webhook_events e where e.svix_id = p_svix_id) then
    return 'duplicate';
  end if;

  if p_event_type = 'user.deleted' then
    perform clerk_sync.delete_users(array[p_user_id], p_occurred_at);
    v_outcome := 'deleted';
  elsif exists (select 1 from clerk_sync.deleted_users d where d.user_id = p_user_id) then
    v_outcome := 'stale';
  else
    v_profile.user_id := p_user_id;
    v_profile.email := p_profile ->> 'email';
    v_profile.phone := p_profile ->> 'phone';
    v_profile.first_name := p_profile ->> 'first_name';
    v_profile.last_name := p_profile ->> 'last_name';
    v_profile.username := p_profile ->> 'username';
    v_profile.image_url := p_profile ->> 'image_url';
    v_profile.public_metadata := p_profile -> 'public_metadata';
    v_profile.clerk_created_at := v_created_at;
    v_profile.clerk_updated_at := p_occurred_at;
    select count(*) into v_rows from clerk_sync.upsert_profiles(array[v_profile]);
    v_outcome := case when v_rows = 1 then 'applied' else 'stale' end;
  end if;

  insert into clerk_sync.webhook_events (svix_id, event_type, user_id, occurred_at, outcome)
  values (p_svix_id, p_event_type, p_user_id, p_occurred_at, v_outcome);
  return v_outcome;
end;
$$;

comment on function public.sync_clerk_user(text, text, text, timestamptz, jsonb) is
  'Applies one Clerk user event idempotently (by svix-id) and in order (by updated_at); deletion wins.';

-- Supabase grants EXECUTE on new functions to anon and authenticated (and PostgreSQL to PUBLIC).
revoke all on function public.sync_clerk_user(text, text, text, timestamptz, jsonb)
  from public, anon, authenticated;
grant execute on function public.sync_clerk_user(text, text, text, timestamptz, jsonb)
  to service_role;
