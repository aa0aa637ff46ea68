-- Backfill and reconcile (scripts/backfill.ts): batch variants of the guarded write path of
-- public.sync_clerk_user (through the same write, clerk_sync.upsert_profiles), and the read-only
-- views of the mirror that reconciling needs.
-- Same rules as the webhook: one advisory lock per user (the same key), tombstones win, and only
-- a strictly newer clerk_updated_at replaces a row.

-- Applies one page of Clerk users: a JSON array of at most 1000 profiles, as toProfile() maps
-- them (user_id, email, phone, first_name, last_name, username, image_url, public_metadata,
-- clerk_created_at, clerk_updated_at). Returns the user ids per outcome:
-- {"applied": [...], "stale": [...], "unchanged": [...]}. 'applied': the row was inserted or
-- replaced; 'unchanged': the row already holds this version; 'stale': the row holds newer data
-- or the user is deleted. Every user gets exactly one outcome.
create function public.sync_clerk_users(p_users jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_users public.profiles[];
  v_bad boolean;
  v_listed integer;
  v_apply public.profiles[];
  v_applied text[];
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

  -- The webhook's lock, per user, taken in key order so that two concurrent batches cannot
  -- deadlock. A webhook event for one of these users waits for this transaction, and this one
  -- waits for a webhook event already in flight; the next statement's snapshot sees its commit.
  -- The same pass checks the entries (a bad or repeated one aborts the call, locks and all).
  select bool_or(k.bad), max(k.listed), count(pg_advisory_xact_lock(k.key))
  into v_bad, v_listed
  from (
    select clerk_sync.user_lock_key(coalesce(u.user_id, '')) as key,
      count(*) as listed,
      bool_or(coalesce(u.user_id, '') = '' or u.clerk_updated_at is null) as bad
    from unnest(v_users) u
    group by 1
    order by 1
  ) k;
  if v_bad then
    raise exception using errcode = '22023',
      message = 'every user needs a user_id and a clerk_updated_at';
  end if;
  if v_listed > 1 then
    raise exception using errcode = '22023', message = 'a user is listed twice';
  end if;

  -- Each user's verdict against the mirror under the locks; only 'apply' is written.
  select coalesce(array_agg(v.profile) filter (where v.verdict = 'apply'), '{}'),
    coalesce(jsonb_agg((v.profile).user_id) filter (where v.verdict = 'stale'), '[]'),
    coalesce(jsonb_agg((v.profile).user_id) filter (where v.verdict = 'unchanged'), '[]')
  into v_apply, v_stale, v_unchanged
  from (
    select i as profile,
      case
        when d.user_id is not null then 'stale'
        when p.user_id is null or p.clerk_updated_at < i.clerk_updated_at then 'apply'
        when p.clerk_updated_at = i.clerk_updated_at then 'unchanged'
        else 'stale'
      end as verdict
    from unnest(v_users) i
    left join clerk_sync.deleted_users d on d.user_id = i.user_id
    left join public.profiles p on p.user_id = i.user_id
  ) v;

  v_applied := array(select clerk_sync.upsert_profiles(v_apply));
  return jsonb_build_object(
    'applied', to_jsonb(v_applied),
    -- An 'apply' the guard refused (a row written meanwhile without the lock) is stale.
    'stale', v_stale || to_jsonb(array(
      select a.user_id from unnest(v_apply) a except select unnest(v_applied))),
    'unchanged', v_unchanged
  );
end;
$$;

comment on function public.sync_clerk_users(jsonb) is
  'Applies a page of Clerk users (backfill) with the rules of sync_clerk_user; deletion wins.';

-- Compares one page of Clerk users ([{"user_id", "clerk_updated_at"}], at most 1000) with the
-- mirror without writing. Returns the user ids per state: {"in_sync", "missing" (no row, no
-- tombstone), "outdated" (row older than Clerk), "newer" (row newer than the listing: a webhook
-- got there first), "deleted" (tombstoned)}, each an array.
create function public.diff_clerk_users(p_users jsonb)
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
        when d.user_id is not null then 'deleted'
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
    'deleted', coalesce(jsonb_agg(s.user_id) filter (where s.state = 'deleted'), '[]')
  )
  into v_result
  from states s;
  return v_result;
end;
$$;

comment on function public.diff_clerk_users(jsonb) is
  'Reconcile: classifies a page of Clerk users against profiles and tombstones, read-only.';

-- Lists the ids of public.profiles in user_id order, p_limit (1..10000) after p_after (keyset
-- pagination), as a JSON array of strings.
create function public.list_profile_ids(p_after text default null, p_limit integer default 5000)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_result jsonb;
begin
  if p_limit is null or p_limit < 1 or p_limit > 10000 then
    raise exception using errcode = '22023', message = 'p_limit must be between 1 and 10000';
  end if;
  select coalesce(jsonb_agg(page.user_id order by page.user_id), '[]'::jsonb)
  into v_result
  from (
    select p.user_id
    from public.profiles p
    where p_after is null or p.user_id > p_after
    order by p.user_id
    limit p_limit
  ) page;
  return v_result;
end;
$$;

comment on function public.list_profile_ids(text, integer) is
  'Reconcile: keyset-paginated profile ids, to find profiles whose Clerk user no longer exists.';

-- Tombstones users that no longer exist in Clerk (at most 1000), exactly as user.deleted does:
-- the tombstone is kept forever and the row is removed. Returns {"deleted": [user ids]}.
create function public.tombstone_clerk_users(
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

  perform pg_advisory_xact_lock(k.key)
  from (
    select distinct clerk_sync.user_lock_key(id) as key
    from unnest(p_user_ids) id
    order by 1
  ) k;
  perform clerk_sync.delete_users(p_user_ids, p_deleted_at);

  select jsonb_build_object('deleted', coalesce(jsonb_agg(ids.id order by ids.id), '[]'))
  into v_result
  from (select distinct id from unnest(p_user_ids) id) ids;
  return v_result;
end;
$$;

comment on function public.tombstone_clerk_users(text[], timestamptz) is
  'Reconcile: tombstones users missing from Clerk, as user.deleted does; deletion is forever.';

-- Supabase grants EXECUTE on new functions to anon and authenticated (and PostgreSQL to PUBLIC).
revoke all on function public.sync_clerk_users(jsonb) from public, anon, authenticated;
revoke all on function public.diff_clerk_users(jsonb) from public, anon, authenticated;
revoke all on function public.list_profile_ids(text, integer) from public, anon, authenticated;
revoke all on function public.tombstone_clerk_users(text[], timestamptz)
  from public, anon, authenticated;
grant execute on function public.sync_clerk_users(jsonb) to service_role;
grant execute on function public.diff_clerk_users(jsonb) to service_role;
grant execute on function public.list_profile_ids(text, integer) to service_role;
grant execute on function public.tombstone_clerk_users(text[], timestamptz) to service_role;
