-- clerk_sync.sync_status(): "is the sync working, and since when not?" in one call, for the
-- operator (README, "Is it healthy?").

-- The status reads the delivery log's newest rows (the last hour, the last 24 hours, the newest
-- one). Without an index each of those reads the whole log, every delivery of the retention
-- period (3 million rows in a test: the whole status took about 1 s without the index, 0.2 s
-- with it, most of that the count of 1 million profiles). The log is written in time order
-- (received_at defaults to now(); rows are never updated), so a BRIN index, a few pages holding
-- each block range's minimum and maximum, lets those reads skip every range written before the
-- window. It stays exact and useful as the prune frees pages that new rows then reuse: a range's
-- maximum is that of the newest row ever written into it, so a "since" bound still skips every
-- range not written to since. The webhook's insert barely pays for it (no difference measurable
-- in interleaved pgbench runs of sync_clerk_user), where a B-tree would be one more tree insert
-- per delivery.
create index webhook_events_received_at_brin
  on clerk_sync.webhook_events using brin (received_at);

-- Returns, as jsonb (timestamps as ISO 8601 strings, counts as numbers):
-- {
--   "as_of": when the answer was made (the transaction's now()),
--   "last_delivery": the newest delivery in the log, or null when the log is empty (no delivery
--     yet, or none within the retention the prune keeps):
--     {"svix_id", "event_type", "user_id", "outcome", "occurred_at", "received_at"},
--   "deliveries": {   (listing only the event types and outcomes that occurred)
--     "last_hour":     {"total": n, "by_event_type": {"<event_type>": {"<outcome>": n, ...}, ...}},
--     "last_24_hours": {"total": n, "by_event_type": {...}}
--   },
--   "profiles": n,
--   "tombstones": {"announced": n, "inferred": n},
--   "organizations": n, or null while public.organizations does not exist,
--   "clerk_updated_at": {"oldest": t, "newest": t} over the profiles (nulls when there are none)
-- }
-- The log holds one row per delivery the webhook applied, whatever its outcome (applied, stale,
-- deleted). A redelivery of a logged svix-id is answered 'duplicate' from the log and not logged
-- again, so duplicates are not counted; the backfill and reconcile write no log rows.
create function clerk_sync.sync_status()
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := now();
  v_last jsonb;
  v_deliveries jsonb;
  v_profiles bigint;
  v_oldest timestamptz;
  v_newest timestamptz;
  v_tombstones jsonb;
  v_organizations_table regclass;
  v_organizations bigint;
begin
  -- The newest delivery: within the last 24 hours through the BRIN index; only a log silent for
  -- longer is read whole.
  select to_jsonb(l) into v_last
  from (
    select e.svix_id, e.event_type, e.user_id, e.outcome, e.occurred_at, e.received_at
    from clerk_sync.webhook_events e
    where e.received_at >= v_now - interval '24 hours'
    order by e.received_at desc, e.svix_id desc
    limit 1
  ) l;
  if v_last is null then
    select to_jsonb(l) into v_last
    from (
      select e.svix_id, e.event_type, e.user_id, e.outcome, e.occurred_at, e.received_at
      from clerk_sync.webhook_events e
      order by e.received_at desc, e.svix_id desc
      limit 1
    ) l;
  end if;

  -- Per event type and outcome, then per event type, then per window.
  select jsonb_build_object(
    'last_hour', jsonb_build_object(
      'total', coalesce(sum(t.last_hour), 0)::bigint,
      'by_event_type', coalesce(
        jsonb_object_agg(t.event_type, t.last_hour_by_outcome) filter (where t.last_hour > 0),
        '{}')),
    'last_24_hours', jsonb_build_object(
      'total', coalesce(sum(t.last_24_hours), 0)::bigint,
      'by_event_type', coalesce(jsonb_object_agg(t.event_type, t.last_24_hours_by_outcome), '{}'))
  ) into v_deliveries
  from (
    select c.event_type,
      sum(c.last_hour) as last_hour,
      jsonb_object_agg(c.outcome, c.last_hour) filter (where c.last_hour > 0)
        as last_hour_by_outcome,
      sum(c.last_24_hours) as last_24_hours,
      jsonb_object_agg(c.outcome, c.last_24_hours) as last_24_hours_by_outcome
    from (
      select e.event_type, e.outcome,
        count(*) filter (where e.received_at >= v_now - interval '1 hour') as last_hour,
        count(*) as last_24_hours
      from clerk_sync.webhook_events e
      where e.received_at >= v_now - interval '24 hours'
      group by e.event_type, e.outcome
    ) c
    group by c.event_type
  ) t;

  -- One pass over the profiles for the count and both ends.
  select count(*), min(p.clerk_updated_at), max(p.clerk_updated_at)
  into v_profiles, v_oldest, v_newest
  from public.profiles p;

  select jsonb_build_object(
    'announced', count(*) filter (where d.kind = 'announced'),
    'inferred', count(*) filter (where d.kind = 'inferred')
  ) into v_tombstones
  from clerk_sync.deleted_users d;

  -- The organization sync adds this table later; until then the figure is null. (Dynamic SQL:
  -- a static query would not compile while the table is missing.)
  v_organizations_table := to_regclass('public.organizations');
  if v_organizations_table is not null then
    execute format('select count(*) from %s', v_organizations_table) into v_organizations;
  end if;

  return jsonb_build_object(
    'as_of', v_now,
    'last_delivery', v_last,
    'deliveries', v_deliveries,
    'profiles', v_profiles,
    'tombstones', v_tombstones,
    'organizations', v_organizations,
    'clerk_updated_at', jsonb_build_object('oldest', v_oldest, 'newest', v_newest)
  );
end;
$$;

comment on function clerk_sync.sync_status() is
  'Operator status of the Clerk sync as jsonb: last delivery, deliveries per type and outcome in the last hour and 24 hours, profile, tombstone and organization counts, oldest and newest clerk_updated_at.';

-- The owner and service_role only (PostgreSQL grants EXECUTE on new functions to PUBLIC).
-- service_role calls a function of clerk_sync only with USAGE on the schema. USAGE alone lets it
-- read no table there (it holds no table grant in clerk_sync) and call no other function (each
-- revokes PUBLIC's EXECUTE; 07_advisor_properties.sql checks that for every function).
revoke all on function clerk_sync.sync_status() from public, anon, authenticated, service_role;
grant execute on function clerk_sync.sync_status() to service_role;
grant usage on schema clerk_sync to service_role;
