-- The webhook's three sync functions, again, for three rules:
--
-- 1. One database, one Clerk instance (20261207100000_clerk_instance.sql): each takes the event
--    envelope's `instance_id` (p_instance_id, null when the envelope has none) and calls
--    clerk_sync.check_clerk_instance first, before any lock: an event of another instance raises
--    CS409 and writes nothing, not even its delivery log row.
-- 2. Answers that say what happened: a deletion answers 'deleted' only when it removed a row or
--    recorded a tombstone the subject did not have, and 'stale' when it changed nothing (a
--    membership created after the removal stays; the deletion was already recorded). So the
--    clerk_sync.delete_* helpers now report what they did.
-- 3. A membership id names one membership, of one organization and one user: an event whose
--    membership_id is stored for another organization or user is refused with CSMEM, naming it,
--    instead of failing on the unique constraint (a 500 that Svix retried until it gave up).
--
-- The signatures change (a new last parameter), so the old functions are dropped and the new ones
-- granted again: service_role only.

-- Deletion of users (user.deleted 'announced', reconcile 'inferred'), as before, now reporting
-- how many tombstones it wrote (new, or inferred turned announced) and how many rows it removed
-- (profiles and memberships). Callers hold the users' locks.
drop function clerk_sync.delete_users(text[], timestamptz, text);
create function clerk_sync.delete_users(
  p_user_ids text[],
  p_deleted_at timestamptz,
  p_kind text,
  out recorded integer,
  out removed integer
)
language plpgsql
set search_path = ''
as $$
declare
  v_memberships integer;
begin
  with w as (
    insert into clerk_sync.deleted_users as d (user_id, deleted_at, kind)
    select distinct id, p_deleted_at, p_kind from unnest(p_user_ids) id
    on conflict (user_id) do update
      set kind = excluded.kind,
        deleted_at = least(d.deleted_at, excluded.deleted_at)
      where d.kind = 'inferred' and excluded.kind = 'announced'
    returning 1
  )
  select count(*) into recorded from w;
  with r as (
    delete from public.organization_memberships m where m.user_id = any (p_user_ids) returning 1
  )
  select count(*) into v_memberships from r;
  with r as (delete from public.profiles p where p.user_id = any (p_user_ids) returning 1)
  select count(*) + v_memberships into removed from r;
end;
$$;

-- Deletion of organizations (organization.deleted, reconcile), as before, reporting the
-- tombstones written and the organizations removed (their memberships go with them).
drop function clerk_sync.delete_organizations(text[], timestamptz, text);
create function clerk_sync.delete_organizations(
  p_org_ids text[],
  p_deleted_at timestamptz,
  p_kind text,
  out recorded integer,
  out removed integer
)
language plpgsql
set search_path = ''
as $$
begin
  with w as (
    insert into clerk_sync.deleted_organizations as d (org_id, deleted_at, kind)
    select distinct id, p_deleted_at, p_kind from unnest(p_org_ids) id
    on conflict (org_id) do update
      set kind = excluded.kind,
        deleted_at = least(d.deleted_at, excluded.deleted_at)
      where d.kind = 'inferred' and excluded.kind = 'announced'
    returning 1
  )
  select count(*) into recorded from w;
  with r as (delete from public.organizations o where o.org_id = any (p_org_ids) returning 1)
  select count(*) into removed from r;
end;
$$;

-- Removal of members (organizationMembership.deleted, reconcile), as before: the tombstone keeps
-- the latest removal time, and the row goes unless it is a membership created after the removal.
-- Reports the tombstones written or moved later and the memberships removed. The update is
-- skipped when it would change nothing, so that `recorded` counts only real changes (the row it
-- leaves is the same as before).
drop function clerk_sync.delete_memberships(jsonb, timestamptz, text);
create function clerk_sync.delete_memberships(
  p_members jsonb,
  p_deleted_at timestamptz,
  p_kind text,
  out recorded integer,
  out removed integer
)
language plpgsql
set search_path = ''
as $$
begin
  with w as (
    insert into clerk_sync.deleted_memberships as d (org_id, user_id, deleted_at, kind)
    select distinct k.org_id, k.user_id, p_deleted_at, p_kind
    from jsonb_to_recordset(p_members) as k(org_id text, user_id text)
    on conflict (org_id, user_id) do update
      set deleted_at = greatest(d.deleted_at, excluded.deleted_at),
        kind = case when 'announced' in (d.kind, excluded.kind) then 'announced' else 'inferred' end
      where d.deleted_at < excluded.deleted_at
        or (d.kind = 'inferred' and excluded.kind = 'announced')
    returning 1
  )
  select count(*) into recorded from w;
  with r as (
    delete from public.organization_memberships m
    using jsonb_to_recordset(p_members) as k(org_id text, user_id text)
    where m.org_id = k.org_id and m.user_id = k.user_id and m.clerk_created_at <= p_deleted_at
    returning 1
  )
  select count(*) into removed from r;
end;
$$;

revoke all on function clerk_sync.delete_users(text[], timestamptz, text),
  clerk_sync.delete_organizations(text[], timestamptz, text),
  clerk_sync.delete_memberships(jsonb, timestamptz, text)
  from public, anon, authenticated, service_role;

-- Applies one Clerk user event. Returns 'applied', 'duplicate', 'stale' or 'deleted':
-- user.deleted is 'deleted' when it removed the profile or recorded the deletion (a user never
-- stored gets a tombstone, so no late event brings it in), 'stale' when the deletion was already
-- recorded and nothing was left to remove. p_instance_id: the envelope's instance_id.
drop function public.sync_clerk_user(text, text, text, timestamptz, jsonb);
create function public.sync_clerk_user(
  p_svix_id text,
  p_event_type text,
  p_user_id text,
  p_occurred_at timestamptz,
  p_profile jsonb default null,
  p_instance_id text default null
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
  v_recorded integer;
  v_removed integer;
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

  -- First, before any lock: the instance table's lock order (see 20261207100000).
  perform clerk_sync.check_clerk_instance(p_instance_id, 'webhook');
  -- Serialise every event of one user (a delete and a create in two concurrent transactions
  -- could otherwise each see neither tombstone nor row); a concurrent redelivery of one svix-id
  -- waits for the first to commit, then sees its log row.
  perform clerk_sync.lock_users(array[p_user_id]);

  if exists (select 1 from clerk_sync.webhook_events e where e.svix_id = p_svix_id) then
    return 'duplicate';
  end if;

  if p_event_type = 'user.deleted' then
    select d.recorded, d.removed into v_recorded, v_removed
    from clerk_sync.delete_users(array[p_user_id], p_occurred_at, 'announced') d;
    v_outcome := case when v_recorded + v_removed > 0 then 'deleted' else 'stale' end;
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

comment on function public.sync_clerk_user(text, text, text, timestamptz, jsonb, text) is
  'Applies one Clerk user event idempotently (by svix-id) and in order (by updated_at); deletion wins.';

-- Applies one organization.created / .updated / .deleted event. Returns 'applied', 'duplicate',
-- 'stale' or 'deleted' (organization.deleted: as user.deleted). p_occurred_at: the
-- organization's updated_at, or the envelope's timestamp for a deletion. p_organization: the
-- mapped organization (not for deletions). p_instance_id: the envelope's instance_id.
drop function public.sync_clerk_organization(text, text, text, timestamptz, jsonb);
create function public.sync_clerk_organization(
  p_svix_id text,
  p_event_type text,
  p_org_id text,
  p_occurred_at timestamptz,
  p_organization jsonb default null,
  p_instance_id text default null
) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_outcome text;
  v_row public.organizations;
  v_recorded integer;
  v_removed integer;
begin
  if coalesce(p_svix_id, '') = '' or coalesce(p_org_id, '') = '' or p_occurred_at is null then
    raise exception using errcode = '22023',
      message = 'p_svix_id, p_org_id and p_occurred_at are required';
  end if;
  if p_event_type is null or p_event_type not in
    ('organization.created', 'organization.updated', 'organization.deleted') then
    raise exception using errcode = '22023',
      message = 'unsupported event type: ' || coalesce(p_event_type, 'null');
  end if;
  if p_event_type <> 'organization.deleted' then
    v_row := clerk_sync.organization_row(p_organization);
    if v_row.org_id <> p_org_id then
      raise exception using errcode = '22023', message = 'p_organization is another organization';
    end if;
    v_row.clerk_updated_at := p_occurred_at;
  end if;

  perform clerk_sync.check_clerk_instance(p_instance_id, 'webhook');
  -- lock_users takes any Clerk id: ids are unique across object types (user_..., org_...).
  perform clerk_sync.lock_users(array[p_org_id]);
  if exists (select 1 from clerk_sync.webhook_events e where e.svix_id = p_svix_id) then
    return 'duplicate';
  end if;

  if p_event_type = 'organization.deleted' then
    select d.recorded, d.removed into v_recorded, v_removed
    from clerk_sync.delete_organizations(array[p_org_id], p_occurred_at, 'announced') d;
    v_outcome := case when v_recorded + v_removed > 0 then 'deleted' else 'stale' end;
  elsif exists (select 1 from clerk_sync.deleted_organizations d where d.org_id = p_org_id) then
    v_outcome := 'stale';
  elsif exists (select 1 from clerk_sync.upsert_organizations(array[v_row])) then
    v_outcome := 'applied';
  else
    v_outcome := 'stale';
  end if;

  insert into clerk_sync.webhook_events (svix_id, event_type, org_id, occurred_at, outcome)
  values (p_svix_id, p_event_type, p_org_id, p_occurred_at, v_outcome);
  return v_outcome;
end;
$$;

comment on function public.sync_clerk_organization(text, text, text, timestamptz, jsonb, text) is
  'Applies one Clerk organization event idempotently (by svix-id) and in order (by updated_at); deletion wins.';

-- Applies one organizationMembership.created / .updated / .deleted event. Returns 'applied',
-- 'duplicate', 'stale' or 'deleted'. A .deleted is 'deleted' when it removed the membership, or
-- when no membership of that member is stored and it recorded the removal; 'stale' when the
-- stored membership stays (created after the removal: the member was added again) or nothing
-- changed. p_occurred_at: the membership's updated_at, or the envelope's timestamp for a
-- deletion. p_membership: the mapped membership; p_organization: its nested organization
-- snapshot, which creates or refreshes the organization row under the same updated_at guard.
-- p_instance_id: the envelope's instance_id. Raises CSMEM when p_membership's membership_id is
-- stored for another organization or user.
drop function public.sync_clerk_membership(text, text, timestamptz, jsonb, jsonb);
create function public.sync_clerk_membership(
  p_svix_id text,
  p_event_type text,
  p_occurred_at timestamptz,
  p_membership jsonb,
  p_organization jsonb,
  p_instance_id text default null
) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_outcome text;
  v_member public.organization_memberships;
  v_org public.organizations;
  v_other public.organization_memberships;
  v_recorded integer;
  v_removed integer;
begin
  if coalesce(p_svix_id, '') = '' or p_occurred_at is null then
    raise exception using errcode = '22023', message = 'p_svix_id and p_occurred_at are required';
  end if;
  if p_event_type is null or p_event_type not in ('organizationMembership.created',
    'organizationMembership.updated', 'organizationMembership.deleted') then
    raise exception using errcode = '22023',
      message = 'unsupported event type: ' || coalesce(p_event_type, 'null');
  end if;
  v_member := clerk_sync.membership_row(p_membership);
  v_org := clerk_sync.organization_row(p_organization);
  if v_org.org_id <> v_member.org_id then
    raise exception using errcode = '22023',
      message = 'p_organization is not the membership''s organization';
  end if;

  perform clerk_sync.check_clerk_instance(p_instance_id, 'webhook');
  -- Both locks in one call (key order): the organization's serialises this event with
  -- organization.deleted, the user's with user.deleted.
  perform clerk_sync.lock_users(array[v_member.org_id, v_member.user_id]);
  if exists (select 1 from clerk_sync.webhook_events e where e.svix_id = p_svix_id) then
    return 'duplicate';
  end if;

  -- Clerk never moves a membership to another organization or user: such an event is refused
  -- for good, before anything is written. (Checked without that other pair's locks: a race with
  -- its writer ends on the unique constraint, a 500 that the retry answers with this.)
  select m.* into v_other from public.organization_memberships m
  where m.membership_id = v_member.membership_id
    and (m.org_id, m.user_id) is distinct from (v_member.org_id, v_member.user_id);
  if found then
    raise exception using errcode = 'CSMEM',
      message = format('membership %s is stored for organization %s user %s, not organization %s user %s',
        v_member.membership_id, v_other.org_id, v_other.user_id, v_member.org_id, v_member.user_id),
      hint = 'Clerk never moves a membership id to another organization or user';
  end if;

  if exists (select 1 from clerk_sync.deleted_organizations d where d.org_id = v_member.org_id)
    or exists (select 1 from clerk_sync.deleted_users d where d.user_id = v_member.user_id) then
    v_outcome := 'stale';
  else
    -- The snapshot may create the organization, or refresh it if newer; an older one is ignored.
    perform clerk_sync.upsert_organizations(array[v_org]);
    if p_event_type = 'organizationMembership.deleted' then
      select d.recorded, d.removed into v_recorded, v_removed
      from clerk_sync.delete_memberships(
        jsonb_build_array(jsonb_build_object('org_id', v_member.org_id, 'user_id', v_member.user_id)),
        p_occurred_at, 'announced') d;
      v_outcome := case
        when v_removed > 0 then 'deleted'
        when v_recorded > 0 and not exists (
          select 1 from public.organization_memberships m
          where m.org_id = v_member.org_id and m.user_id = v_member.user_id
        ) then 'deleted'
        else 'stale'
      end;
    elsif exists (
      select 1 from clerk_sync.deleted_memberships d
      where d.org_id = v_member.org_id and d.user_id = v_member.user_id
        and d.deleted_at >= v_member.clerk_created_at
    ) then
      v_outcome := 'stale';
    else
      v_member.clerk_updated_at := p_occurred_at;
      v_outcome := case when exists (select 1 from clerk_sync.upsert_memberships(array[v_member]))
        then 'applied' else 'stale' end;
    end if;
  end if;

  insert into clerk_sync.webhook_events (svix_id, event_type, user_id, org_id, occurred_at, outcome)
  values (p_svix_id, p_event_type, v_member.user_id, v_member.org_id, p_occurred_at, v_outcome);
  return v_outcome;
end;
$$;

comment on function public.sync_clerk_membership(text, text, timestamptz, jsonb, jsonb, text) is
  'Applies one Clerk organization membership event idempotently and in order; removal and deletion win.';

revoke all on function public.sync_clerk_user(text, text, text, timestamptz, jsonb, text),
  public.sync_clerk_organization(text, text, text, timestamptz, jsonb, text),
  public.sync_clerk_membership(text, text, timestamptz, jsonb, jsonb, text)
  from public, anon, authenticated;
grant execute on function public.sync_clerk_user(text, text, text, timestamptz, jsonb, text),
  public.sync_clerk_organization(text, text, text, timestamptz, jsonb, text),
  public.sync_clerk_membership(text, text, timestamptz, jsonb, jsonb, text)
  to service_role;
