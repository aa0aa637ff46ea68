-- Sync on visit: the clerk-profile-sync Edge Function writes a signed-in user's own profile from
-- Clerk's Backend API (users.getUser) when the user opens the app, so a user who signed up a moment
-- ago has a row before Clerk's user.created delivery arrives. It writes through the same guarded
-- upsert, under the same per-user lock, as the webhook and the backfill: a newer row is never
-- undone, an announced deletion is never overridden.
--
-- Page reloads must not spend Clerk's rate limit (per instance: 100 requests / 10 s on development
-- instances), so the function first asks read_clerk_profile whether the row was confirmed against
-- Clerk recently, and calls Clerk only when it was not.

-- When a profile was last confirmed against Clerk's Backend API by a sync on visit. A row goes
-- with its profile: deleting the profile (user.deleted, reconcile) deletes the confirmation.
create table clerk_sync.profile_confirmations (
  user_id text primary key references public.profiles (user_id) on delete cascade,
  confirmed_at timestamptz not null
);
comment on table clerk_sync.profile_confirmations is
  'When clerk-profile-sync last confirmed a profile against Clerk''s Backend API.';

revoke all on table clerk_sync.profile_confirmations from public, anon, authenticated, service_role;
alter table clerk_sync.profile_confirmations enable row level security;

-- What the function may answer without calling Clerk, for p_user_id:
--   {"status": "recent", "profile": {...}, "confirmed_at": "..."}: the row exists and was
--     confirmed less than p_max_age_s seconds ago (0: never recent);
--   {"status": "deleted"}: Clerk announced the user's deletion (a user.deleted delivery);
--   {"status": "check"}: anything else (no row, an old confirmation, an inferred tombstone, which
--     Clerk's answer may lift): the function must ask Clerk.
-- "profile" holds every column of public.profiles, as the owner reads the row through RLS.
create function public.read_clerk_profile(p_user_id text, p_max_age_s integer)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_result jsonb;
begin
  if coalesce(p_user_id, '') = '' then
    raise exception using errcode = '22023', message = 'p_user_id is required';
  end if;
  if p_max_age_s is null or p_max_age_s < 0 then
    raise exception using errcode = '22023', message = 'p_max_age_s must be 0 or more';
  end if;

  if exists (
    select 1 from clerk_sync.deleted_users d
    where d.user_id = p_user_id and d.kind = 'announced'
  ) then
    return jsonb_build_object('status', 'deleted');
  end if;

  select jsonb_build_object('status', 'recent', 'profile', to_jsonb(p),
    'confirmed_at', c.confirmed_at)
  into v_result
  from clerk_sync.profile_confirmations c
  join public.profiles p on p.user_id = c.user_id
  where c.user_id = p_user_id
    and c.confirmed_at > now() - make_interval(secs => p_max_age_s);
  return coalesce(v_result, jsonb_build_object('status', 'check'));
end;
$$;

comment on function public.read_clerk_profile(text, integer) is
  'Sync on visit: the profile if confirmed against Clerk within p_max_age_s (recent), deleted, or check.';

-- Writes one user as Clerk's Backend API just returned it (p_profile: the columns toProfile()
-- maps, as for sync_clerk_user), in one transaction, and records the confirmation. Returns
-- {"status": "applied" | "unchanged", "profile": <the stored row>} or {"status": "deleted"}:
--   - an announced tombstone wins: "deleted", nothing written;
--   - an inferred tombstone (reconcile's guess) is lifted: Clerk's API just showed the user;
--   - the guarded upsert writes only strictly newer data: "applied" when it wrote, else
--     "unchanged" (the stored row is as new, or newer: a webhook got there first; it stays).
create function public.sync_clerk_profile(p_profile jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_profile public.profiles;
  v_kind text;
  v_written bigint;
  v_row jsonb;
begin
  if jsonb_typeof(p_profile) is distinct from 'object' then
    raise exception using errcode = '22023', message = 'p_profile must be a JSON object';
  end if;
  begin
    v_profile := jsonb_populate_record(null::public.profiles, p_profile);
  exception when data_exception then
    raise exception using errcode = '22023',
      message = 'p_profile holds a value of the wrong type (' || sqlerrm || ')';
  end;
  if coalesce(v_profile.user_id, '') = '' then
    raise exception using errcode = '22023', message = 'p_profile.user_id is required';
  end if;
  if v_profile.clerk_updated_at is null then
    raise exception using errcode = '22023', message = 'p_profile.clerk_updated_at is required';
  end if;

  -- The lock every write of a user takes (webhook, backfill, reconcile): a user.deleted delivery
  -- in flight either commits first (and its tombstone is seen below) or waits for this write.
  perform clerk_sync.lock_users(array[v_profile.user_id]);

  select d.kind into v_kind from clerk_sync.deleted_users d where d.user_id = v_profile.user_id;
  if v_kind = 'announced' then
    return jsonb_build_object('status', 'deleted');
  end if;
  if v_kind = 'inferred' then
    delete from clerk_sync.deleted_users d
    where d.user_id = v_profile.user_id and d.kind = 'inferred';
  end if;

  select count(*) into v_written from clerk_sync.upsert_profiles(array[v_profile]);
  insert into clerk_sync.profile_confirmations (user_id, confirmed_at)
  values (v_profile.user_id, now())
  on conflict (user_id) do update set confirmed_at = excluded.confirmed_at;

  select to_jsonb(p) into v_row from public.profiles p where p.user_id = v_profile.user_id;
  return jsonb_build_object(
    'status', case when v_written = 1 then 'applied' else 'unchanged' end,
    'profile', v_row
  );
end;
$$;

comment on function public.sync_clerk_profile(jsonb) is
  'Sync on visit: writes one user from Clerk''s Backend API with the webhook''s rules and records the confirmation.';

-- Supabase grants EXECUTE on new functions to anon and authenticated (and PostgreSQL to PUBLIC):
-- only the function's service-role client may call these.
revoke all on function public.read_clerk_profile(text, integer) from public, anon, authenticated;
revoke all on function public.sync_clerk_profile(jsonb) from public, anon, authenticated;
grant execute on function public.read_clerk_profile(text, integer) to service_role;
grant execute on function public.sync_clerk_profile(jsonb) to service_role;
