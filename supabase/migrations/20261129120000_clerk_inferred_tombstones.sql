-- Two kinds of tombstone. 'announced': Clerk said the user was deleted (a user.deleted delivery);
-- Clerk never reuses a user id, so it is forever. 'inferred': reconcile found a profile whose user
-- was missing from Clerk's listing and from a lookup by id. That conclusion depends on the key and
-- on the listing being right (a key of another instance lists none of your users), so an inferred
-- tombstone is lifted, and the profile restored, when Clerk's Backend API lists the user again
-- (backfill or reconcile, through sync_clerk_users). A webhook create or update never lifts one:
-- a delivery is history, not Clerk's current state.

alter table clerk_sync.deleted_users
  add column kind text not null default 'inferred'
    constraint deleted_users_kind_check check (kind in ('announced', 'inferred'));

-- Existing tombstones: announced when the delivery log holds a user.deleted for the user, else
-- inferred. Inferred is the safe guess: it is lifted only when Clerk lists the user again, which
-- never happens to a user Clerk really deleted (a pruned delivery log costs nothing).
update clerk_sync.deleted_users d
set kind = 'announced'
where exists (
  select 1 from clerk_sync.webhook_events e
  where e.user_id = d.user_id and e.event_type = 'user.deleted'
);

-- From now on every tombstone says which kind it is.
alter table clerk_sync.deleted_users alter column kind drop default;

comment on column clerk_sync.deleted_users.kind is
  'announced: a user.deleted delivery (forever); inferred: reconcile found no Clerk user (lifted when Clerk lists the user again).';

-- Deletion, shared by user.deleted ('announced') and reconcile ('inferred'): a tombstone per user
-- and the profile row removed. A tombstone keeps its first deletion time, except that an
-- announcement turns an inferred tombstone into an announced one (with the earlier of the two
-- times). Callers hold the users' locks. The kind has no default: a caller says which it is.
drop function clerk_sync.delete_users(text[], timestamptz);
create function clerk_sync.delete_users(
  p_user_ids text[],
  p_deleted_at timestamptz,
  p_kind text
) returns void
language plpgsql
set search_path = ''
as $$
begin
  insert into clerk_sync.deleted_users as d (user_id, deleted_at, kind)
  select distinct id, p_deleted_at, p_kind from unnest(p_user_ids) id
  on conflict (user_id) do update
    set kind = excluded.kind,
      deleted_at = least(d.deleted_at, excluded.deleted_at)
    where d.kind = 'inferred' and excluded.kind = 'announced';
  delete from public.profiles p where p.user_id = any (p_user_ids);
end;
$$;

-- PostgreSQL grants EXECUTE on new functions to PUBLIC; no API role may call this one.
revoke all on function clerk_sync.delete_users(text[], timestamptz, text)
  from public, anon, authenticated, service_role;

-- Takes the advisory lock of each user (each distinct id once) for the rest of the transaction
-- and returns how many users were locked. Every write of a user (webhook, backfill, reconcile,
-- sync on visit) goes through here, so they exclude each other. Locks are taken in key order, so
-- two transactions locking overlapping sets cannot deadlock.
create function clerk_sync.lock_users(p_user_ids text[])
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_locked bigint;
begin
  select count(*) into v_locked
  from (
    select pg_catalog.pg_advisory_xact_lock(k.key)
    from (
      select distinct pg_catalog.hashtextextended('clerk_sync.user:' || u.id, 0) as key
      from pg_catalog.unnest(p_user_ids) as u(id)
      order by 1
    ) k
  ) l;
  return v_locked;
end;
$$;

comment on function clerk_sync.lock_users(text[]) is
  'Locks each user (advisory, transaction-scoped, in key order) and returns how many were locked.';

-- PostgreSQL grants EXECUTE on new functions to PUBLIC; no API role may call this one.
revoke all on function clerk_sync.lock_users(text[])
  from public, anon, authenticated, service_role;

-- The webhook's write, as before, except that user.deleted now names its tombstone's kind and
-- the lock is taken through clerk_sync.lock_users.
-- (Same signature: CREATE OR REPLACE keeps its grants and comment.)
create or replace function public.sync_clerk_user(
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
  perform clerk_sync.lock_users(array[p_user_id]);

  if exists (select 1 from clerk_sync.webhook_events e where e.svix_id = p_svix_id) then
    return 'duplicate';
  end if;

  if p_event_type = 'user.deleted' then
    perform clerk_sync.delete_users(array[p_user_id], p_occurred_at, 'announced');
    v_outcome := 'deleted';
  -- Any tombstone, inferred too: only Clerk's current listing lifts an inferred one.
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

-- Applies one page of Clerk users (see 20261128000100_clerk_backfill.sql). Returns the user ids
-- per outcome: {"applied", "restored", "stale", "unchanged"}. 'restored': the user had an inferred
-- tombstone, which Clerk's listing proves wrong: it is lifted and the row written. An announced
-- tombstone still makes the user 'stale'.
create or replace function public.sync_clerk_users(p_users jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_users public.profiles[];
  v_apply public.profiles[];
  v_restore public.profiles[];
  v_written text[];
  v_stale jsonb;
  v_unchanged jsonb;
begin
  if jsonb_typeof(p_users) is distinct from 'array' then
    raise exception using errcode = '22023', message = 'p_users must be a JSON array';
  end if;
  -- Decoded once; a non-object element fails here with 22023 too.
  v_users := array(select u from jsonb_populate_recordset(null::public.profiles, p_users) u);
  if cardinality(v_users) > 1000 then
    raise exception using errcode = '22023',
      message = 'at most 1000 users per call, got ' || cardinality(v_users);
  end if;

  if exists (
    select 1 from unnest(v_users) u where coalesce(u.user_id, '') = '' or u.clerk_updated_at is null
  ) then
    raise exception using errcode = '22023',
      message = 'every user needs a user_id and a clerk_updated_at';
  end if;
  -- The webhook's lock, per user. A webhook event for one of these users waits for this
  -- transaction, and this one waits for a webhook event already in flight; the next statement's
  -- snapshot sees its commit. One lock per user: fewer locks than users means a user is listed
  -- twice (and the call aborts, locks and all).
  if clerk_sync.lock_users(array(select u.user_id from unnest(v_users) u)) < cardinality(v_users)
  then
    raise exception using errcode = '22023', message = 'a user is listed twice';
  end if;

  -- Each user's verdict against the mirror under the locks; 'apply' and 'restore' are written.
  select coalesce(array_agg(v.profile) filter (where v.verdict = 'apply'), '{}'),
    coalesce(array_agg(v.profile) filter (where v.verdict = 'restore'), '{}'),
    coalesce(jsonb_agg((v.profile).user_id) filter (where v.verdict = 'stale'), '[]'),
    coalesce(jsonb_agg((v.profile).user_id) filter (where v.verdict = 'unchanged'), '[]')
  into v_apply, v_restore, v_stale, v_unchanged
  from (
    select i as profile,
      case
        when d.kind = 'announced' then 'stale'
        when d.kind = 'inferred' then 'restore'
        when p.user_id is null or p.clerk_updated_at < i.clerk_updated_at then 'apply'
        when p.clerk_updated_at = i.clerk_updated_at then 'unchanged'
        else 'stale'
      end as verdict
    from unnest(v_users) i
    left join clerk_sync.deleted_users d on d.user_id = i.user_id
    left join public.profiles p on p.user_id = i.user_id
  ) v;

  delete from clerk_sync.deleted_users d
  where d.kind = 'inferred' and d.user_id in (select r.user_id from unnest(v_restore) r);
  v_written := array(select clerk_sync.upsert_profiles(v_apply || v_restore));
  return jsonb_build_object(
    'applied', to_jsonb(array(
      select a.user_id from unnest(v_apply) a where a.user_id = any (v_written))),
    'restored', to_jsonb(array(
      select r.user_id from unnest(v_restore) r where r.user_id = any (v_written))),
    -- A write the guard refused (a row written meanwhile without the lock) is stale.
    'stale', v_stale || to_jsonb(array(
      select w.user_id from unnest(v_apply || v_restore) w
      where w.user_id <> all (v_written))),
    'unchanged', v_unchanged
  );
end;
$$;

comment on function public.sync_clerk_users(jsonb) is
  'Applies a page of Clerk users (backfill, reconcile) with the rules of sync_clerk_user; an announced deletion wins, an inferred one is lifted.';

-- Compares one page of Clerk users with the mirror without writing (see
-- 20261128000100_clerk_backfill.sql). States: "in_sync", "missing", "outdated", "newer",
-- "deleted" (an announced tombstone: not drift) and "restorable" (an inferred tombstone of a user
-- Clerk lists: drift, which sync_clerk_users repairs by restoring the user).
create or replace function public.diff_clerk_users(p_users jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_result jsonb;
begin
  if jsonb_typeof(p_users) is distinct from 'array' then
    raise exception using errcode = '22023', message = 'p_users must be a JSON array';
  end if;
  if jsonb_array_length(p_users) > 1000 then
    raise exception using errcode = '22023', message = 'at most 1000 users per call';
  end if;
  with states as (
    select i.user_id,
      case
        when d.kind = 'announced' then 'deleted'
        when d.kind = 'inferred' then 'restorable'
        when p.user_id is null then 'missing'
        when p.clerk_updated_at < i.clerk_updated_at then 'outdated'
        when p.clerk_updated_at > i.clerk_updated_at then 'newer'
        else 'in_sync'
      end as state
    from jsonb_to_recordset(p_users) as i(user_id text, clerk_updated_at timestamptz)
    left join clerk_sync.deleted_users d on d.user_id = i.user_id
    left join public.profiles p on p.user_id = i.user_id
    where coalesce(i.user_id, '') <> '' and i.clerk_updated_at is not null
  )
  select jsonb_build_object(
    'in_sync', coalesce(jsonb_agg(s.user_id) filter (where s.state = 'in_sync'), '[]'),
    'missing', coalesce(jsonb_agg(s.user_id) filter (where s.state = 'missing'), '[]'),
    'outdated', coalesce(jsonb_agg(s.user_id) filter (where s.state = 'outdated'), '[]'),
    'newer', coalesce(jsonb_agg(s.user_id) filter (where s.state = 'newer'), '[]'),
    'deleted', coalesce(jsonb_agg(s.user_id) filter (where s.state = 'deleted'), '[]'),
    'restorable', coalesce(jsonb_agg(s.user_id) filter (where s.state = 'restorable'), '[]')
  )
  into v_result
  from states s;
  return v_result;
end;
$$;

comment on function public.diff_clerk_users(jsonb) is
  'Reconcile: classifies a page of Clerk users against profiles and tombstones (of both kinds), read-only.';

-- Tombstones users that reconcile found neither in Clerk's listing nor by id (at most 1000):
-- inferred tombstones, lifted if Clerk lists the user again; an announced one stays as it is.
-- Returns {"deleted": [user ids]}.
create or replace function public.tombstone_clerk_users(
  p_user_ids text[],
  p_deleted_at timestamptz default now()
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_result jsonb;
begin
  if p_user_ids is null or cardinality(p_user_ids) > 1000 then
    raise exception using errcode = '22023', message = 'p_user_ids must hold 0 to 1000 ids';
  end if;
  if p_deleted_at is null then
    raise exception using errcode = '22023', message = 'p_deleted_at is required';
  end if;
  if exists (select 1 from unnest(p_user_ids) id where coalesce(id, '') = '') then
    raise exception using errcode = '22023', message = 'p_user_ids holds an empty id';
  end if;

  perform clerk_sync.lock_users(p_user_ids);
  perform clerk_sync.delete_users(p_user_ids, p_deleted_at, 'inferred');

  select jsonb_build_object('deleted', coalesce(jsonb_agg(ids.id order by ids.id), '[]'))
  into v_result
  from (select distinct id from unnest(p_user_ids) id) ids;
  return v_result;
end;
$$;

comment on function public.tombstone_clerk_users(text[], timestamptz) is
  'Reconcile: tombstones users missing from Clerk as inferred (lifted when Clerk lists them again).';
