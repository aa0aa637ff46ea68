-- Backfill and reconcile of organizations and memberships (backfill/): batch variants of the
-- webhook's guarded writes (the same upserts, deletions and locks) and the read-only views of the
-- mirror that reconciling needs, as 20261128000100_clerk_backfill.sql does for users. Data here
-- comes from Clerk's Backend API, Clerk's current state: an inferred tombstone (reconcile found no
-- such organization or membership) is lifted when the listing shows the object again; an
-- announced one (a webhook deletion) never is.

-- Applies one page of organizations (a JSON array of at most 1000, as the function's mapping
-- writes them). Returns the org ids per outcome, each list sorted: {"applied", "restored",
-- "stale", "unchanged"}.
create function public.sync_clerk_organizations(p_orgs jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_orgs public.organizations[];
  v_apply public.organizations[];
  v_restore public.organizations[];
  v_written text[];
  v_stale jsonb;
  v_unchanged jsonb;
begin
  if jsonb_typeof(p_orgs) is distinct from 'array' then
    raise exception using errcode = '22023', message = 'p_orgs must be a JSON array';
  end if;
  v_orgs := array(select o from jsonb_populate_recordset(null::public.organizations, p_orgs) o);
  if cardinality(v_orgs) > 1000 then
    raise exception using errcode = '22023',
      message = 'at most 1000 organizations per call, got ' || cardinality(v_orgs);
  end if;
  if exists (
    select 1 from unnest(v_orgs) o
    where coalesce(o.org_id, '') = '' or o.name is null or o.clerk_updated_at is null
  ) then
    raise exception using errcode = '22023',
      message = 'every organization needs an org_id, a name and a clerk_updated_at';
  end if;
  if clerk_sync.lock_users(array(select o.org_id from unnest(v_orgs) o)) < cardinality(v_orgs)
  then
    raise exception using errcode = '22023', message = 'an organization is listed twice';
  end if;

  select coalesce(array_agg(v.org) filter (where v.verdict = 'apply'), '{}'),
    coalesce(array_agg(v.org) filter (where v.verdict = 'restore'), '{}'),
    coalesce(jsonb_agg((v.org).org_id order by (v.org).org_id) filter (where v.verdict = 'stale'), '[]'),
    coalesce(jsonb_agg((v.org).org_id order by (v.org).org_id)
      filter (where v.verdict = 'unchanged'), '[]')
  into v_apply, v_restore, v_stale, v_unchanged
  from (
    select i as org,
      case
        when d.kind = 'announced' then 'stale'
        when d.kind = 'inferred' then 'restore'
        when o.org_id is null or o.clerk_updated_at < i.clerk_updated_at then 'apply'
        when o.clerk_updated_at = i.clerk_updated_at then 'unchanged'
        else 'stale'
      end as verdict
    from unnest(v_orgs) i
    left join clerk_sync.deleted_organizations d on d.org_id = i.org_id
    left join public.organizations o on o.org_id = i.org_id
  ) v;

  delete from clerk_sync.deleted_organizations d
  where d.kind = 'inferred' and d.org_id in (select r.org_id from unnest(v_restore) r);
  v_written := array(select clerk_sync.upsert_organizations(v_apply || v_restore));
  return jsonb_build_object(
    'applied', to_jsonb(array(
      select a.org_id from unnest(v_apply) a where a.org_id = any (v_written) order by 1)),
    'restored', to_jsonb(array(
      select r.org_id from unnest(v_restore) r where r.org_id = any (v_written) order by 1)),
    'stale', v_stale || to_jsonb(array(
      select w.org_id from unnest(v_apply || v_restore) w where w.org_id <> all (v_written)
      order by 1)),
    'unchanged', v_unchanged
  );
end;
$$;

comment on function public.sync_clerk_organizations(jsonb) is
  'Backfill: applies a page of Clerk organizations with the webhook''s rules; an inferred tombstone is lifted.';

-- Applies one page of memberships (at most 1000, each with membership_id, org_id, user_id, role,
-- role_name, permissions, public_metadata, clerk_created_at, clerk_updated_at). Returns the
-- membership ids per outcome: {"applied", "restored", "stale", "unchanged"}. A membership whose
-- organization has no row (not listed yet, or deleted) or whose user is deleted is stale: run
-- organizations before memberships.
create function public.sync_clerk_memberships(p_memberships jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_members public.organization_memberships[];
  v_apply public.organization_memberships[];
  v_restore public.organization_memberships[];
  v_written text[];
  v_stale jsonb;
  v_unchanged jsonb;
begin
  if jsonb_typeof(p_memberships) is distinct from 'array' then
    raise exception using errcode = '22023', message = 'p_memberships must be a JSON array';
  end if;
  v_members := array(
    select m from jsonb_populate_recordset(null::public.organization_memberships, p_memberships) m
  );
  if cardinality(v_members) > 1000 then
    raise exception using errcode = '22023',
      message = 'at most 1000 memberships per call, got ' || cardinality(v_members);
  end if;
  if exists (
    select 1 from unnest(v_members) m
    where coalesce(m.membership_id, '') = '' or coalesce(m.org_id, '') = ''
      or coalesce(m.user_id, '') = '' or m.role is null
      or m.clerk_created_at is null or m.clerk_updated_at is null
  ) then
    raise exception using errcode = '22023', message = 'every membership needs a membership_id, ' ||
      'an org_id, a user_id, a role, a clerk_created_at and a clerk_updated_at';
  end if;
  if (select count(distinct (m.org_id, m.user_id)) from unnest(v_members) m)
    < cardinality(v_members) then
    raise exception using errcode = '22023', message = 'a member is listed twice';
  end if;
  -- The locks of every organization and user of the page, in one call (key order).
  perform clerk_sync.lock_users(array(
    select m.org_id from unnest(v_members) m union select m.user_id from unnest(v_members) m));

  select coalesce(array_agg(v.member) filter (where v.verdict = 'apply'), '{}'),
    coalesce(array_agg(v.member) filter (where v.verdict = 'restore'), '{}'),
    coalesce(jsonb_agg((v.member).membership_id order by (v.member).membership_id)
      filter (where v.verdict = 'stale'), '[]'),
    coalesce(jsonb_agg((v.member).membership_id order by (v.member).membership_id)
      filter (where v.verdict = 'unchanged'), '[]')
  into v_apply, v_restore, v_stale, v_unchanged
  from (
    select i as member,
      case
        when o.org_id is null or du.user_id is not null then 'stale'
        when dm.kind = 'announced' then 'stale'
        when dm.kind = 'inferred' then 'restore'
        when m.org_id is null then 'apply'
        when m.membership_id = i.membership_id then
          case
            when m.clerk_updated_at < i.clerk_updated_at then 'apply'
            when m.clerk_updated_at = i.clerk_updated_at then 'unchanged'
            else 'stale'
          end
        when m.clerk_created_at < i.clerk_created_at then 'apply'
        else 'stale'
      end as verdict
    from unnest(v_members) i
    left join public.organizations o on o.org_id = i.org_id
    left join clerk_sync.deleted_users du on du.user_id = i.user_id
    left join clerk_sync.deleted_memberships dm
      on dm.org_id = i.org_id and dm.user_id = i.user_id
        and dm.deleted_at >= i.clerk_created_at
    left join public.organization_memberships m on m.org_id = i.org_id and m.user_id = i.user_id
  ) v;

  delete from clerk_sync.deleted_memberships d
  using unnest(v_restore) r
  where d.kind = 'inferred' and d.org_id = r.org_id and d.user_id = r.user_id;
  v_written := array(select clerk_sync.upsert_memberships(v_apply || v_restore));
  return jsonb_build_object(
    'applied', to_jsonb(array(
      select a.membership_id from unnest(v_apply) a where a.membership_id = any (v_written)
      order by 1)),
    'restored', to_jsonb(array(
      select r.membership_id from unnest(v_restore) r where r.membership_id = any (v_written)
      order by 1)),
    'stale', v_stale || to_jsonb(array(
      select w.membership_id from unnest(v_apply || v_restore) w
      where w.membership_id <> all (v_written) order by 1)),
    'unchanged', v_unchanged
  );
end;
$$;

comment on function public.sync_clerk_memberships(jsonb) is
  'Backfill: applies a page of Clerk memberships with the webhook''s rules; an inferred tombstone is lifted.';

-- Reconcile: classifies a page of Clerk organizations ([{"org_id", "clerk_updated_at"}], at most
-- 1000) against the mirror without writing: {"in_sync", "missing", "outdated", "newer",
-- "deleted" (an announced tombstone: not drift), "restorable" (an inferred one: drift)}.
create function public.diff_clerk_organizations(p_orgs jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_result jsonb;
begin
  if jsonb_typeof(p_orgs) is distinct from 'array' or jsonb_array_length(p_orgs) > 1000 then
    raise exception using errcode = '22023', message = 'p_orgs must be a JSON array of at most 1000';
  end if;
  with states as (
    select i.org_id,
      case
        when d.kind = 'announced' then 'deleted'
        when d.kind = 'inferred' then 'restorable'
        when o.org_id is null then 'missing'
        when o.clerk_updated_at < i.clerk_updated_at then 'outdated'
        when o.clerk_updated_at > i.clerk_updated_at then 'newer'
        else 'in_sync'
      end as state
    from jsonb_to_recordset(p_orgs) as i(org_id text, clerk_updated_at timestamptz)
    left join clerk_sync.deleted_organizations d on d.org_id = i.org_id
    left join public.organizations o on o.org_id = i.org_id
    where coalesce(i.org_id, '') <> '' and i.clerk_updated_at is not null
  )
  select jsonb_build_object(
    'in_sync', coalesce(jsonb_agg(s.org_id order by s.org_id) filter (where s.state = 'in_sync'), '[]'),
    'missing', coalesce(jsonb_agg(s.org_id order by s.org_id) filter (where s.state = 'missing'), '[]'),
    'outdated', coalesce(jsonb_agg(s.org_id order by s.org_id) filter (where s.state = 'outdated'), '[]'),
    'newer', coalesce(jsonb_agg(s.org_id order by s.org_id) filter (where s.state = 'newer'), '[]'),
    'deleted', coalesce(jsonb_agg(s.org_id order by s.org_id) filter (where s.state = 'deleted'), '[]'),
    'restorable', coalesce(jsonb_agg(s.org_id order by s.org_id) filter (where s.state = 'restorable'), '[]')
  )
  into v_result
  from states s;
  return v_result;
end;
$$;

-- Reconcile: the same for memberships ([{"membership_id", "org_id", "user_id",
-- "clerk_created_at", "clerk_updated_at"}], at most 1000); states keyed by membership_id.
-- "deleted" covers a membership whose organization or user is gone too (not drift: the listing
-- is not a snapshot).
create function public.diff_clerk_memberships(p_memberships jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_result jsonb;
begin
  if jsonb_typeof(p_memberships) is distinct from 'array'
    or jsonb_array_length(p_memberships) > 1000 then
    raise exception using errcode = '22023',
      message = 'p_memberships must be a JSON array of at most 1000';
  end if;
  with states as (
    select i.membership_id,
      case
        when do_.kind = 'announced' or du.kind = 'announced' or dm.kind = 'announced'
          then 'deleted'
        when do_.kind = 'inferred' or du.kind = 'inferred' or dm.kind = 'inferred'
          then 'restorable'
        when m.org_id is null then 'missing'
        when m.membership_id <> i.membership_id then
          case when m.clerk_created_at < i.clerk_created_at then 'outdated' else 'newer' end
        when m.clerk_updated_at < i.clerk_updated_at then 'outdated'
        when m.clerk_updated_at > i.clerk_updated_at then 'newer'
        else 'in_sync'
      end as state
    from jsonb_to_recordset(p_memberships) as i(
      membership_id text, org_id text, user_id text, clerk_created_at timestamptz,
      clerk_updated_at timestamptz
    )
    left join clerk_sync.deleted_organizations do_ on do_.org_id = i.org_id
    left join clerk_sync.deleted_users du on du.user_id = i.user_id
    left join clerk_sync.deleted_memberships dm
      on dm.org_id = i.org_id and dm.user_id = i.user_id
        and dm.deleted_at >= i.clerk_created_at
    left join public.organization_memberships m on m.org_id = i.org_id and m.user_id = i.user_id
    where coalesce(i.membership_id, '') <> '' and coalesce(i.org_id, '') <> ''
      and coalesce(i.user_id, '') <> '' and i.clerk_created_at is not null
      and i.clerk_updated_at is not null
  )
  select jsonb_build_object(
    'in_sync', coalesce(jsonb_agg(s.membership_id order by s.membership_id) filter (where s.state = 'in_sync'), '[]'),
    'missing', coalesce(jsonb_agg(s.membership_id order by s.membership_id) filter (where s.state = 'missing'), '[]'),
    'outdated', coalesce(jsonb_agg(s.membership_id order by s.membership_id) filter (where s.state = 'outdated'), '[]'),
    'newer', coalesce(jsonb_agg(s.membership_id order by s.membership_id) filter (where s.state = 'newer'), '[]'),
    'deleted', coalesce(jsonb_agg(s.membership_id order by s.membership_id) filter (where s.state = 'deleted'), '[]'),
    'restorable',
      coalesce(jsonb_agg(s.membership_id order by s.membership_id) filter (where s.state = 'restorable'), '[]')
  )
  into v_result
  from states s;
  return v_result;
end;
$$;

-- Reconcile: organization ids in order, p_limit (1..10000) after p_after (keyset pagination).
create function public.list_organization_ids(
  p_after text default null,
  p_limit integer default 5000
) returns jsonb
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
  select coalesce(jsonb_agg(page.org_id order by page.org_id), '[]'::jsonb)
  into v_result
  from (
    select o.org_id from public.organizations o
    where p_after is null or o.org_id > p_after
    order by o.org_id
    limit p_limit
  ) page;
  return v_result;
end;
$$;

-- Reconcile: memberships as [{"membership_id", "org_id", "user_id"}] in (org_id, user_id) order,
-- p_limit (1..10000) after the pair (p_after_org_id, p_after_user_id).
create function public.list_membership_keys(
  p_after_org_id text default null,
  p_after_user_id text default null,
  p_limit integer default 5000
) returns jsonb
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
  select coalesce(jsonb_agg(jsonb_build_object('membership_id', page.membership_id,
      'org_id', page.org_id, 'user_id', page.user_id) order by page.org_id, page.user_id),
    '[]'::jsonb)
  into v_result
  from (
    select m.membership_id, m.org_id, m.user_id from public.organization_memberships m
    where p_after_org_id is null
      or (m.org_id, m.user_id) > (p_after_org_id, coalesce(p_after_user_id, ''))
    order by m.org_id, m.user_id
    limit p_limit
  ) page;
  return v_result;
end;
$$;

-- Reconcile: inferred tombstones for organizations found neither in Clerk's listing nor by id
-- (at most 1000), removing their rows and memberships. Returns {"deleted": [org ids]}.
create function public.tombstone_clerk_organizations(
  p_org_ids text[],
  p_deleted_at timestamptz default now()
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_org_ids is null or cardinality(p_org_ids) > 1000 or p_deleted_at is null
    or exists (select 1 from unnest(p_org_ids) id where coalesce(id, '') = '') then
    raise exception using errcode = '22023',
      message = 'p_org_ids must hold 0 to 1000 ids and p_deleted_at a time';
  end if;
  perform clerk_sync.lock_users(p_org_ids);
  perform clerk_sync.delete_organizations(p_org_ids, p_deleted_at, 'inferred');
  return jsonb_build_object('deleted', coalesce(
    (select jsonb_agg(distinct id) from unnest(p_org_ids) id), '[]'));
end;
$$;

-- Reconcile: inferred tombstones for memberships ([{"org_id", "user_id"}], at most 1000) that
-- Clerk no longer lists, removing their rows. Returns {"deleted": [{"org_id", "user_id"}]}.
create function public.tombstone_clerk_memberships(
  p_members jsonb,
  p_deleted_at timestamptz default now()
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  if jsonb_typeof(p_members) is distinct from 'array' or jsonb_array_length(p_members) > 1000
    or p_deleted_at is null or exists (
      select 1 from jsonb_to_recordset(p_members) as k(org_id text, user_id text)
      where coalesce(k.org_id, '') = '' or coalesce(k.user_id, '') = ''
    ) then
    raise exception using errcode = '22023',
      message = 'p_members must be 0 to 1000 {"org_id", "user_id"} and p_deleted_at a time';
  end if;
  perform clerk_sync.lock_users(array(
    select k.org_id from jsonb_to_recordset(p_members) as k(org_id text, user_id text)
    union select k.user_id from jsonb_to_recordset(p_members) as k(org_id text, user_id text)));
  perform clerk_sync.delete_memberships(p_members, p_deleted_at, 'inferred');
  return jsonb_build_object('deleted', coalesce((
    select jsonb_agg(distinct jsonb_build_object('org_id', k.org_id, 'user_id', k.user_id))
    from jsonb_to_recordset(p_members) as k(org_id text, user_id text)), '[]'));
end;
$$;

-- Supabase grants EXECUTE on new functions to anon and authenticated (and PostgreSQL to PUBLIC).
revoke all on function public.sync_clerk_organizations(jsonb), public.sync_clerk_memberships(jsonb),
  public.diff_clerk_organizations(jsonb), public.diff_clerk_memberships(jsonb),
  public.list_organization_ids(text, integer), public.list_membership_keys(text, text, integer),
  public.tombstone_clerk_organizations(text[], timestamptz),
  public.tombstone_clerk_memberships(jsonb, timestamptz)
  from public, anon, authenticated;
grant execute on function public.sync_clerk_organizations(jsonb),
  public.sync_clerk_memberships(jsonb), public.diff_clerk_organizations(jsonb),
  public.diff_clerk_memberships(jsonb), public.list_organization_ids(text, integer),
  public.list_membership_keys(text, text, integer),
  public.tombstone_clerk_organizations(text[], timestamptz),
  public.tombstone_clerk_memberships(jsonb, timestamptz)
  to service_role;
