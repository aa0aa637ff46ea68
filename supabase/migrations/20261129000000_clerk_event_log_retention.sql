-- Retention of the delivery log (clerk_sync.webhook_events), which gains a row per delivery.
--
-- Svix gives up on a message about 28 hours after its first attempt (its retry schedule), so an
-- old svix-id comes back only through a manual replay. Pruning its row changes no outcome that
-- matters: a replayed create or update carries an updated_at that is not newer than the stored
-- one (answered 'stale' instead of 'duplicate'), and a replayed delete finds its tombstone. The
-- tombstones themselves are never pruned.

-- Deletes log rows received more than p_older_than ago (at least 7 days) and returns how many.
-- Meant for a scheduled job (pg_cron, see the README); no API role may call it. It scans the
-- table rather than keeping an index on received_at that every webhook write would pay for.
create function clerk_sync.prune_webhook_events(p_older_than interval default interval '30 days')
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_deleted bigint;
begin
  if p_older_than is null or p_older_than < interval '7 days' then
    raise exception using errcode = '22023', message = 'p_older_than must be at least 7 days';
  end if;
  delete from clerk_sync.webhook_events e where e.received_at < now() - p_older_than;
  get diagnostics v_deleted = row_count;
  return v_deleted;
end;
$$;

comment on function clerk_sync.prune_webhook_events(interval) is
  'Deletes delivery-log rows older than p_older_than (default 30 days, at least 7); returns the count.';

-- PostgreSQL grants EXECUTE on new functions to PUBLIC; no API role may call this one.
revoke all on function clerk_sync.prune_webhook_events(interval)
  from public, anon, authenticated, service_role;
