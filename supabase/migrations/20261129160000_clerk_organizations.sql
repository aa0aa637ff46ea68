-- Clerk organizations and memberships, mirrored with the guarantees of profiles: every delivery
-- applied once (svix-id), in order (updated_at; deletions by the envelope's timestamp), deletion
-- wins (tombstones), one transaction per event under the advisory locks of every Clerk object it
-- touches. Plus RLS: members read their organizations, the memberships of those organizations and
-- the profiles of the people in them; nobody else reads any of it; no client writes.

create table public.organizations (
  org_id text primary key check (org_id <> ''),
  name text not null,
  slug text,
  image_url text,
  public_metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(public_metadata) = 'object'),
  created_by text,
  clerk_created_at timestamptz,
  clerk_updated_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.organizations is
  'One row per live Clerk organization, kept in step by the clerk-webhook function.';

-- One membership per organization and user. Roles are stored exactly as Clerk sends them
-- (org:admin, org:member, custom org:<key>, or admin / basic_member on older instances).
create table public.organization_memberships (
  org_id text not null references public.organizations (org_id) on delete cascade,
  user_id text not null check (user_id <> ''),
  membership_id text not null unique check (membership_id <> ''),
  role text not null,
  role_name text,
  permissions text[] not null default '{}',
  public_metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(public_metadata) = 'object'),
  clerk_created_at timestamptz not null,
  clerk_updated_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (org_id, user_id)
);
comment on table public.organization_memberships is
  'One row per live Clerk organization membership, kept in step by the clerk-webhook function.';
-- What the policies and clerk_rls helpers look up: a user's organizations (and role there).
create index organization_memberships_user_id_idx
  on public.organization_memberships (user_id, org_id) include (role);

-- Clerk never reuses an organization id: an announced tombstone is forever. Inferred ones
-- (reconcile found no such organization) are lifted when Clerk's Backend API lists it again.
create table clerk_sync.deleted_organizations (
  org_id text primary key,
  deleted_at timestamptz not null,
  kind text not null check (kind in ('announced', 'inferred')),
  recorded_at timestamptz not null default now()
);

-- A removed member. A member can be added again later (a new membership), so this tombstone
-- blocks only memberships created at or before deleted_at: a late event of the removed
-- membership is stale, a membership created after the removal applies.
create table clerk_sync.deleted_memberships (
  org_id text not null,
  user_id text not null,
  deleted_at timestamptz not null,
  kind text not null check (kind in ('announced', 'inferred')),
  recorded_at timestamptz not null default now(),
  primary key (org_id, user_id)
);

-- The delivery log now records organization events too: a delivery is about a user, an
-- organization, or a membership (both).
alter table clerk_sync.webhook_events alter column user_id drop not null;
alter table clerk_sync.webhook_events add column org_id text;
alter table clerk_sync.webhook_events add constraint webhook_events_subject_check
  check (user_id is not null or org_id is not null);

-- Grants per role: members read through RLS, service_role reads and writes, anon nothing.
revoke all on table public.organizations, public.organization_memberships
  from public, anon, authenticated, service_role;
grant select on table public.organizations, public.organization_memberships to authenticated;
grant select, insert, update, delete on table public.organizations, public.organization_memberships
  to service_role;
revoke all on table clerk_sync.deleted_organizations, clerk_sync.deleted_memberships
  from public, anon, authenticated, service_role;

-- RLS on every table.
alter table public.organizations enable row level security;
alter table public.organization_memberships enable row level security;
alter table clerk_sync.deleted_organizations enable row level security;
alter table clerk_sync.deleted_memberships enable row level security;

-- Helpers for policies, on this project's tables and the app's own. They answer for the caller
-- (the session token's `sub`) and read memberships past RLS: a memberships policy that queried
-- memberships would recurse. So they are SECURITY DEFINER, and live in a schema of their own that
-- the Data API does not expose (in public, PostgREST would publish them as RPCs, and Supabase's
-- advisor flags a SECURITY DEFINER function executable by authenticated in an exposed schema).
-- PL/pgSQL rather than SQL: a SECURITY DEFINER SQL function is never inlined and plans its query
-- on every call, where PL/pgSQL keeps the plan for the session (measured: 1.23x against 1.50x of a
-- plain `where org_id = ...` select).
create schema clerk_rls;
comment on schema clerk_rls is
  'RLS helpers answering for the caller''s Clerk organizations. Not exposed to the Data API.';
revoke all on schema clerk_rls from public;
grant usage on schema clerk_rls to authenticated;

-- The organizations the caller belongs to. In a policy, write `org_id in (select
-- clerk_rls.org_ids())`: the uncorrelated sub-select runs once per statement, not once per row.
create function clerk_rls.org_ids()
returns setof text
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return query
    select m.org_id from public.organization_memberships m
    where m.user_id = (auth.jwt() ->> 'sub');
end;
$$;

-- Whether the caller is a member of p_org_id.
create function clerk_rls.is_org_member(p_org_id text)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return exists (
    select 1 from public.organization_memberships m
    where m.org_id = p_org_id and m.user_id = (auth.jwt() ->> 'sub')
  );
end;
$$;

-- The caller's role in p_org_id exactly as Clerk sends it (org:admin, ...), null when not a member.
create function clerk_rls.org_role(p_org_id text)
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return (
    select m.role from public.organization_memberships m
    where m.org_id = p_org_id and m.user_id = (auth.jwt() ->> 'sub')
  );
end;
$$;

-- The people who share an organization with the caller (the caller included).
create function clerk_rls.co_member_ids()
returns setof text
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return query
    select distinct other.user_id
    from public.organization_memberships mine
    join public.organization_memberships other on other.org_id = mine.org_id
    where mine.user_id = (auth.jwt() ->> 'sub');
end;
$$;

revoke all on function clerk_rls.org_ids(), clerk_rls.is_org_member(text),
  clerk_rls.org_role(text), clerk_rls.co_member_ids()
  from public, anon, authenticated, service_role;
grant execute on function clerk_rls.org_ids(), clerk_rls.is_org_member(text),
  clerk_rls.org_role(text), clerk_rls.co_member_ids()
  to authenticated;

-- Policies.
create policy "Members can read their organizations"
  on public.organizations for select
  to authenticated
  using (org_id in (select clerk_rls.org_ids()));

create policy "Members can read the memberships of their organizations"
  on public.organization_memberships for select
  to authenticated
  using (org_id in (select clerk_rls.org_ids()));

-- Clerk shows the members of an organization each other's identifiers. One policy for both
-- readers of a profile (two permissive policies for one role and action would each be evaluated
-- for every row; Supabase's advisor flags that as multiple_permissive_policies).
drop policy "Users can read their own profile" on public.profiles;
create policy "Users can read their own profile and those of people in their organizations"
  on public.profiles for select
  to authenticated
  using (
    (select auth.jwt()) ->> 'sub' = user_id
    or user_id in (select clerk_rls.co_member_ids())
  );

-- The guarded organization upsert: inserts each organization or replaces its row when the new
-- clerk_updated_at is strictly newer, and returns the ids written. Callers hold the locks and
-- have checked the tombstones. A non-object public_metadata becomes {}.
create function clerk_sync.upsert_organizations(p_orgs public.organizations[])
returns setof text
language plpgsql
set search_path = ''
as $$
begin
  return query
    insert into public.organizations as o (
      org_id, name, slug, image_url, public_metadata, created_by, clerk_created_at,
      clerk_updated_at
    )
    select n.org_id, n.name, n.slug, n.image_url,
      case when jsonb_typeof(n.public_metadata) = 'object' then n.public_metadata
        else '{}'::jsonb end,
      n.created_by, n.clerk_created_at, n.clerk_updated_at
    from unnest(p_orgs) n
    on conflict (org_id) do update set
      name = excluded.name,
      slug = excluded.slug,
      image_url = excluded.image_url,
      public_metadata = excluded.public_metadata,
      created_by = excluded.created_by,
      clerk_created_at = excluded.clerk_created_at,
      clerk_updated_at = excluded.clerk_updated_at,
      updated_at = now()
    where o.clerk_updated_at < excluded.clerk_updated_at
    returning o.org_id;
end;
$$;

-- The guarded membership upsert. For the same membership, only a strictly newer updated_at
-- wins. When the stored row is another membership of the same organization and user (the
-- member left and was added again), the one created later wins. Returns the membership ids
-- written. Callers hold the locks, have checked the tombstones and written the organization.
create function clerk_sync.upsert_memberships(p_memberships public.organization_memberships[])
returns setof text
language plpgsql
set search_path = ''
as $$
begin
  return query
    insert into public.organization_memberships as m (
      org_id, user_id, membership_id, role, role_name, permissions, public_metadata,
      clerk_created_at, clerk_updated_at
    )
    select n.org_id, n.user_id, n.membership_id, n.role, n.role_name,
      coalesce(n.permissions, '{}'),
      case when jsonb_typeof(n.public_metadata) = 'object' then n.public_metadata
        else '{}'::jsonb end,
      n.clerk_created_at, n.clerk_updated_at
    from unnest(p_memberships) n
    on conflict (org_id, user_id) do update set
      membership_id = excluded.membership_id,
      role = excluded.role,
      role_name = excluded.role_name,
      permissions = excluded.permissions,
      public_metadata = excluded.public_metadata,
      clerk_created_at = excluded.clerk_created_at,
      clerk_updated_at = excluded.clerk_updated_at,
      updated_at = now()
    where (m.membership_id = excluded.membership_id
        and m.clerk_updated_at < excluded.clerk_updated_at)
      or (m.membership_id <> excluded.membership_id
        and m.clerk_created_at < excluded.clerk_created_at)
    returning m.membership_id;
end;
$$;

-- Deletion of organizations, shared by organization.deleted ('announced') and reconcile
-- ('inferred'): a tombstone each (an announcement upgrades an inferred one, keeping the earlier
-- time) and the row removed, its memberships with it (Clerk deletes them with the organization,
-- whether or not it sends one organizationMembership.deleted per member). Callers hold the locks.
create function clerk_sync.delete_organizations(
  p_org_ids text[],
  p_deleted_at timestamptz,
  p_kind text
) returns void
language plpgsql
set search_path = ''
as $$
begin
  insert into clerk_sync.deleted_organizations as d (org_id, deleted_at, kind)
  select distinct id, p_deleted_at, p_kind from unnest(p_org_ids) id
  on conflict (org_id) do update
    set kind = excluded.kind,
      deleted_at = least(d.deleted_at, excluded.deleted_at)
    where d.kind = 'inferred' and excluded.kind = 'announced';
  delete from public.organizations o where o.org_id = any (p_org_ids);
end;
$$;

-- Removal of members, shared by organizationMembership.deleted ('announced') and reconcile
-- ('inferred'): p_members is [{"org_id", "user_id"}]. The tombstone keeps the latest removal
-- time (it blocks memberships created up to then); the row goes unless it is a membership
-- created after the removal (the member was added again). Callers hold the locks.
create function clerk_sync.delete_memberships(
  p_members jsonb,
  p_deleted_at timestamptz,
  p_kind text
) returns void
language plpgsql
set search_path = ''
as $$
begin
  insert into clerk_sync.deleted_memberships as d (org_id, user_id, deleted_at, kind)
  select distinct k.org_id, k.user_id, p_deleted_at, p_kind
  from jsonb_to_recordset(p_members) as k(org_id text, user_id text)
  on conflict (org_id, user_id) do update
    set deleted_at = greatest(d.deleted_at, excluded.deleted_at),
      kind = case when 'announced' in (d.kind, excluded.kind) then 'announced' else 'inferred' end;
  delete from public.organization_memberships m
  using jsonb_to_recordset(p_members) as k(org_id text, user_id text)
  where m.org_id = k.org_id and m.user_id = k.user_id and m.clerk_created_at <= p_deleted_at;
end;
$$;

-- Deleting a user also removes their memberships (the user tombstone keeps them out).
create or replace function clerk_sync.delete_users(
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
  delete from public.organization_memberships m where m.user_id = any (p_user_ids);
  delete from public.profiles p where p.user_id = any (p_user_ids);
end;
$$;

revoke all on function clerk_sync.upsert_organizations(public.organizations[]),
  clerk_sync.upsert_memberships(public.organization_memberships[]),
  clerk_sync.delete_organizations(text[], timestamptz, text),
  clerk_sync.delete_memberships(jsonb, timestamptz, text)
  from public, anon, authenticated, service_role;

-- Decodes a mapped organization (as the function's mapping writes it) into a row; 22023 when
-- it lacks an id, a name or an updated_at.
create function clerk_sync.organization_row(p_org jsonb)
returns public.organizations
language plpgsql
stable
set search_path = ''
as $$
declare
  v_row public.organizations;
begin
  if jsonb_typeof(p_org) is distinct from 'object' then
    raise exception using errcode = '22023', message = 'the organization must be a JSON object';
  end if;
  begin
    v_row := jsonb_populate_record(null::public.organizations, p_org);
  exception when invalid_datetime_format or datetime_field_overflow or invalid_text_representation
    then raise exception using errcode = '22023', message = 'the organization has a malformed field';
  end;
  if coalesce(v_row.org_id, '') = '' or v_row.name is null or v_row.clerk_updated_at is null then
    raise exception using errcode = '22023',
      message = 'an organization needs an org_id, a name and a clerk_updated_at';
  end if;
  return v_row;
end;
$$;

-- The same for a mapped membership.
create function clerk_sync.membership_row(p_membership jsonb)
returns public.organization_memberships
language plpgsql
stable
set search_path = ''
as $$
declare
  v_row public.organization_memberships;
begin
  if jsonb_typeof(p_membership) is distinct from 'object' then
    raise exception using errcode = '22023', message = 'the membership must be a JSON object';
  end if;
  begin
    v_row := jsonb_populate_record(null::public.organization_memberships, p_membership);
  exception when invalid_datetime_format or datetime_field_overflow or invalid_text_representation
    then raise exception using errcode = '22023', message = 'the membership has a malformed field';
  end;
  if coalesce(v_row.membership_id, '') = '' or coalesce(v_row.org_id, '') = ''
    or coalesce(v_row.user_id, '') = '' or v_row.role is null
    or v_row.clerk_created_at is null or v_row.clerk_updated_at is null then
    raise exception using errcode = '22023', message = 'a membership needs a membership_id, ' ||
      'an org_id, a user_id, a role, a clerk_created_at and a clerk_updated_at';
  end if;
  return v_row;
end;
$$;

revoke all on function clerk_sync.organization_row(jsonb), clerk_sync.membership_row(jsonb)
  from public, anon, authenticated, service_role;

-- Applies one organization.created / .updated / .deleted event. Returns 'applied', 'duplicate',
-- 'stale' or 'deleted'. p_occurred_at: the organization's updated_at, or the envelope's
-- timestamp for a deletion. p_organization: the mapped organization (not for deletions).
create function public.sync_clerk_organization(
  p_svix_id text,
  p_event_type text,
  p_org_id text,
  p_occurred_at timestamptz,
  p_organization jsonb default null
) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_outcome text;
  v_row public.organizations;
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

  -- lock_users takes any Clerk id: ids are unique across object types (user_..., org_...), so
  -- one key space serves users and organizations.
  perform clerk_sync.lock_users(array[p_org_id]);
  if exists (select 1 from clerk_sync.webhook_events e where e.svix_id = p_svix_id) then
    return 'duplicate';
  end if;

  if p_event_type = 'organization.deleted' then
    perform clerk_sync.delete_organizations(array[p_org_id], p_occurred_at, 'announced');
    v_outcome := 'deleted';
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

comment on function public.sync_clerk_organization(text, text, text, timestamptz, jsonb) is
  'Applies one Clerk organization event idempotently (by svix-id) and in order (by updated_at); deletion wins.';

-- Applies one organizationMembership.created / .updated / .deleted event. Returns 'applied',
-- 'duplicate', 'stale' or 'deleted'. p_occurred_at: the membership's updated_at, or the
-- envelope's timestamp for a deletion (a .deleted's updated_at need not be newer than the last
-- update). p_membership: the mapped membership; p_organization: its nested organization snapshot,
-- which creates or refreshes the organization row under the same updated_at guard.
create function public.sync_clerk_membership(
  p_svix_id text,
  p_event_type text,
  p_occurred_at timestamptz,
  p_membership jsonb,
  p_organization jsonb
) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_outcome text;
  v_member public.organization_memberships;
  v_org public.organizations;
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

  -- Both locks in one call (key order): the organization's serialises this event with
  -- organization.deleted, the user's with user.deleted.
  perform clerk_sync.lock_users(array[v_member.org_id, v_member.user_id]);
  if exists (select 1 from clerk_sync.webhook_events e where e.svix_id = p_svix_id) then
    return 'duplicate';
  end if;

  if exists (select 1 from clerk_sync.deleted_organizations d where d.org_id = v_member.org_id)
    or exists (select 1 from clerk_sync.deleted_users d where d.user_id = v_member.user_id) then
    v_outcome := 'stale';
  else
    -- The snapshot may create the organization, or refresh it if newer; an older one is ignored.
    perform clerk_sync.upsert_organizations(array[v_org]);
    if p_event_type = 'organizationMembership.deleted' then
      perform clerk_sync.delete_memberships(
        jsonb_build_array(jsonb_build_object('org_id', v_member.org_id, 'user_id', v_member.user_id)),
        p_occurred_at, 'announced');
      v_outcome := 'deleted';
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

comment on function public.sync_clerk_membership(text, text, timestamptz, jsonb, jsonb) is
  'Applies one Clerk organization membership event idempotently and in order; removal and deletion win.';

revoke all on function public.sync_clerk_organization(text, text, text, timestamptz, jsonb),
  public.sync_clerk_membership(text, text, timestamptz, jsonb, jsonb)
  from public, anon, authenticated;
grant execute on function public.sync_clerk_organization(text, text, text, timestamptz, jsonb),
  public.sync_clerk_membership(text, text, timestamptz, jsonb, jsonb)
  to service_role;
