-- Retention of the delivery log: only the owner (a scheduled job) prunes it, only rows older
-- than the retention go, never less than 7 days, and a replay of a pruned delivery changes
-- nothing.
begin;
create extension if not exists pgtap with schema extensions;
select plan(13);

-- Grants: no API role may call the prune.
select function_privs_are(
  'clerk_sync', 'prune_webhook_events', array['interval'],
  'anon', array[]::text[],
  'anon has no EXECUTE on clerk_sync.prune_webhook_events'
);
select function_privs_are(
  'clerk_sync', 'prune_webhook_events', array['interval'],
  'authenticated', array[]::text[],
  'authenticated has no EXECUTE on clerk_sync.prune_webhook_events'
);
select function_privs_are(
  'clerk_sync', 'prune_webhook_events', array['interval'],
  'service_role', array[]::text[],
  'service_role has no EXECUTE on clerk_sync.prune_webhook_events'
);

-- service_role: two deliveries for one user, then a delete for another.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';
select is(
  public.sync_clerk_user('msg_2retOld', 'user.created', 'user_2retAda', '2026-01-01 10:00:00+00',
    '{"email": "ada@example.com", "first_name": "Ada"}'),
  'applied', 'an old delivery is applied'
);
select is(
  public.sync_clerk_user('msg_2retNew', 'user.updated', 'user_2retAda', '2026-01-02 10:00:00+00',
    '{"email": "ada@new.example.com", "first_name": "Ada"}'),
  'applied', 'a newer delivery is applied'
);
select is(
  public.sync_clerk_user('msg_2retDel', 'user.deleted', 'user_2retBob', '2026-01-01 10:00:00+00',
    null),
  'deleted', 'a delete leaves a tombstone'
);
select throws_ok(
  $$ select clerk_sync.prune_webhook_events('30 days') $$,
  '42501', null,
  'service_role cannot prune the delivery log'
);
reset role;

-- owner: age two of the three rows, then prune.
update clerk_sync.webhook_events set received_at = now() - interval '40 days'
  where svix_id in ('msg_2retOld', 'msg_2retDel');
select throws_ok(
  $$ select clerk_sync.prune_webhook_events('1 day') $$,
  '22023', 'p_older_than must be at least 7 days',
  'a retention shorter than 7 days is refused'
);
select is(
  clerk_sync.prune_webhook_events(), 2::bigint,
  'the default 30-day retention deletes exactly the two rows older than 30 days'
);
select results_eq(
  $$ select svix_id from clerk_sync.webhook_events
     where svix_id in ('msg_2retOld', 'msg_2retNew', 'msg_2retDel') $$,
  $$ values ('msg_2retNew') $$,
  'the recent delivery stays in the log'
);

-- service_role: replays of the pruned deliveries change nothing.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';
select is(
  public.sync_clerk_user('msg_2retOld', 'user.created', 'user_2retAda', '2026-01-01 10:00:00+00',
    '{"email": "ada@example.com", "first_name": "Ada"}'),
  'stale', 'a replayed pruned create is stale, not applied again'
);
select is(
  public.sync_clerk_user('msg_2retDel', 'user.deleted', 'user_2retBob', '2026-01-01 10:00:00+00',
    null),
  'stale', 'a replayed pruned delete finds its tombstone and changes nothing: stale'
);
reset role;
select results_eq(
  $$ select user_id, email from public.profiles where user_id in ('user_2retAda', 'user_2retBob') $$,
  $$ values ('user_2retAda', 'ada@new.example.com') $$,
  'after the replays Ada keeps her newest data and Bob stays deleted'
);

select finish();
rollback;
