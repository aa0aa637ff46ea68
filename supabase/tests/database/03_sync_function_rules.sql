-- The rules of public.sync_clerk_user, called as service_role (as the clerk-webhook function
-- does): redeliveries are duplicates, only strictly newer data applies, a delete wins forever
-- and removes personal data, bad arguments are refused with 22023. Bookkeeping in clerk_sync is
-- checked as the owner, since service_role cannot read it.
begin;
create extension if not exists pgtap with schema extensions;
select plan(45);

-- service_role: create, redelivery, older, equal and newer updates of one user.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

select is(
  public.sync_clerk_user('msg_2pOrder1', 'user.created', 'user_2pOrderAda',
    '2026-01-01 10:00:00+00',
    '{"email": "ada@example.com", "phone": "+15555550100", "first_name": "Ada",
      "last_name": "Lovelace", "username": "ada", "image_url": "https://img.clerk.com/ada.png",
      "public_metadata": {"plan": "pro", "roles": ["admin"], "onboarded": true},
      "clerk_created_at": "2026-01-01T09:00:00.000Z"}'),
  'applied',
  'user.created for a new user is applied'
);
select results_eq(
  $$ select email, phone, first_name, last_name, username, image_url, public_metadata,
            clerk_created_at, clerk_updated_at
     from public.profiles where user_id = 'user_2pOrderAda' $$,
  $$ values ('ada@example.com', '+15555550100', 'Ada', 'Lovelace', 'ada',
             'https://img.clerk.com/ada.png',
             '{"plan": "pro", "roles": ["admin"], "onboarded": true}'::jsonb,
             '2026-01-01 09:00:00+00'::timestamptz, '2026-01-01 10:00:00+00'::timestamptz) $$,
  'the created row holds every mapped field as sent, and clerk_updated_at = p_occurred_at'
);

select is(
  public.sync_clerk_user('msg_2pOrder1', 'user.created', 'user_2pOrderAda',
    '2026-01-01 10:00:00+00', '{"email": "ada@example.com"}'),
  'duplicate',
  'the same svix id delivered again is a duplicate'
);
select is(
  public.sync_clerk_user('msg_2pOrder1', 'user.updated', 'user_2pOrderAda',
    '2026-01-01 12:00:00+00', '{"email": "replayed@example.com"}'),
  'duplicate',
  'a svix id seen before is a duplicate whatever the payload says'
);
select is(
  (select email from public.profiles where user_id = 'user_2pOrderAda'),
  'ada@example.com',
  'duplicates leave the row unchanged'
);

select is(
  public.sync_clerk_user('msg_2pOrder2', 'user.updated', 'user_2pOrderAda',
    '2026-01-01 09:30:00+00', '{"email": "older@example.com"}'),
  'stale',
  'an update with an older updated_at than stored is stale'
);
select is(
  public.sync_clerk_user('msg_2pOrder3', 'user.updated', 'user_2pOrderAda',
    '2026-01-01 10:00:00+00', '{"email": "same-time@example.com"}'),
  'stale',
  'an update with the same updated_at as stored is stale'
);
select results_eq(
  $$ select email, clerk_updated_at from public.profiles where user_id = 'user_2pOrderAda' $$,
  $$ values ('ada@example.com', '2026-01-01 10:00:00+00'::timestamptz) $$,
  'stale updates leave the row unchanged'
);

select is(
  public.sync_clerk_user('msg_2pOrder4', 'user.updated', 'user_2pOrderAda',
    '2026-01-01 11:00:00+00', '{"email": "ada@newmail.example", "first_name": "Augusta"}'),
  'applied',
  'an update with a newer updated_at is applied'
);
select results_eq(
  $$ select email, first_name, last_name, public_metadata, clerk_updated_at
     from public.profiles where user_id = 'user_2pOrderAda' $$,
  $$ values ('ada@newmail.example', 'Augusta', null::text, '{}'::jsonb,
             '2026-01-01 11:00:00+00'::timestamptz) $$,
  'a newer update replaces the row: absent fields become null, absent public_metadata {}'
);

select is(
  public.sync_clerk_user('msg_2pMinimal1', 'user.created', 'user_2pMinimal',
    '2026-01-01 10:00:00+00', '{}'),
  'applied',
  'user.created with an empty profile object is applied'
);
select results_eq(
  $$ select email, public_metadata, clerk_created_at
     from public.profiles where user_id = 'user_2pMinimal' $$,
  $$ values (null::text, '{}'::jsonb, null::timestamptz) $$,
  'missing public_metadata is stored as {} and missing fields as null'
);

reset role;

-- Owner: the delivery log of those calls.
select results_eq(
  $$ select svix_id, event_type, occurred_at, outcome from clerk_sync.webhook_events
     where user_id = 'user_2pOrderAda' order by svix_id $$,
  $$ values
       ('msg_2pOrder1', 'user.created', '2026-01-01 10:00:00+00'::timestamptz, 'applied'),
       ('msg_2pOrder2', 'user.updated', '2026-01-01 09:30:00+00'::timestamptz, 'stale'),
       ('msg_2pOrder3', 'user.updated', '2026-01-01 10:00:00+00'::timestamptz, 'stale'),
       ('msg_2pOrder4', 'user.updated', '2026-01-01 11:00:00+00'::timestamptz, 'applied') $$,
  'each delivery is logged once with its outcome; duplicates add no row'
);

-- service_role: deletion wins over everything delivered after it.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

select is(
  public.sync_clerk_user('msg_2pDelete1', 'user.created', 'user_2pDeleteGrace',
    '2026-01-01 10:00:00+00',
    '{"email": "grace.hopper@example.com", "phone": "+15555550199", "first_name": "Grace",
      "last_name": "Hopper", "username": "amazing_grace",
      "public_metadata": {"team": "navy"}}'),
  'applied',
  'setup: the user is created'
);
select is(
  public.sync_clerk_user('msg_2pDelete2', 'user.deleted', 'user_2pDeleteGrace',
    '2026-01-01 12:00:00+00'),
  'deleted',
  'user.deleted is deleted'
);
select is_empty(
  $$ select * from public.profiles where user_id = 'user_2pDeleteGrace' $$,
  'the deleted user''s profile row is gone'
);
select is(
  public.sync_clerk_user('msg_2pDelete2', 'user.deleted', 'user_2pDeleteGrace',
    '2026-01-01 12:00:00+00'),
  'duplicate',
  'a redelivered user.deleted is a duplicate'
);
select is(
  public.sync_clerk_user('msg_2pDelete3', 'user.updated', 'user_2pDeleteGrace',
    '2026-01-01 11:00:00+00', '{"email": "grace.hopper@example.com", "first_name": "Grace"}'),
  'stale',
  'an older update delivered after the delete is stale: delete wins'
);
select is(
  public.sync_clerk_user('msg_2pDelete4', 'user.updated', 'user_2pDeleteGrace',
    '2026-01-01 13:00:00+00', '{"email": "grace.hopper@example.com", "first_name": "Grace"}'),
  'stale',
  'an update newer than the delete is stale too: a tombstone is forever'
);
select is(
  public.sync_clerk_user('msg_2pDelete5', 'user.created', 'user_2pDeleteGrace',
    '2026-01-01 14:00:00+00', '{"email": "grace.hopper@example.com", "first_name": "Grace"}'),
  'stale',
  'a user.created delivered after the delete is stale'
);
select is_empty(
  $$ select * from public.profiles where user_id = 'user_2pDeleteGrace' $$,
  'the deleted user stays deleted'
);
select is(
  public.sync_clerk_user('msg_2pDelete6', 'user.deleted', 'user_2pDeleteGrace',
    '2026-01-01 15:00:00+00'),
  'stale',
  'a second user.deleted under a new svix id changes nothing: stale'
);

select is(
  public.sync_clerk_user('msg_2pEarly1', 'user.deleted', 'user_2pEarlyDelete',
    '2026-01-01 12:00:00+00'),
  'deleted',
  'a user.deleted that arrives before the user''s create is deleted'
);
select is(
  public.sync_clerk_user('msg_2pEarly2', 'user.created', 'user_2pEarlyDelete',
    '2026-01-01 10:00:00+00', '{"email": "early@example.com"}'),
  'stale',
  'the create that arrives after that delete is stale'
);
select is_empty(
  $$ select * from public.profiles where user_id = 'user_2pEarlyDelete' $$,
  'a user deleted before their create arrived never gets a row'
);

reset role;

-- Owner: tombstones, the delivery log, and no personal data left behind.
select results_eq(
  $$ select user_id, deleted_at from clerk_sync.deleted_users
     where user_id in ('user_2pDeleteGrace', 'user_2pEarlyDelete') order by user_id $$,
  $$ values ('user_2pDeleteGrace', '2026-01-01 12:00:00+00'::timestamptz),
            ('user_2pEarlyDelete', '2026-01-01 12:00:00+00'::timestamptz) $$,
  'one tombstone per deleted user, keeping the first delete''s time'
);
select results_eq(
  $$ select svix_id, outcome from clerk_sync.webhook_events
     where user_id = 'user_2pDeleteGrace' order by svix_id $$,
  $$ values ('msg_2pDelete1', 'applied'), ('msg_2pDelete2', 'deleted'),
            ('msg_2pDelete3', 'stale'), ('msg_2pDelete4', 'stale'),
            ('msg_2pDelete5', 'stale'), ('msg_2pDelete6', 'stale') $$,
  'every delivery for the deleted user is logged with its outcome'
);
select is_empty(
  $$ select 'public.profiles' from public.profiles t
     where t::text like any (array['%grace.hopper@example.com%', '%+15555550199%', '%Hopper%'])
     union all
     select 'clerk_sync.webhook_events' from clerk_sync.webhook_events t
     where t::text like any (array['%grace.hopper@example.com%', '%+15555550199%', '%Hopper%'])
     union all
     select 'clerk_sync.deleted_users' from clerk_sync.deleted_users t
     where t::text like any (array['%grace.hopper@example.com%', '%+15555550199%', '%Hopper%']) $$,
  'after the delete, the user''s email, phone and name are nowhere in profiles or clerk_sync'
);

-- service_role: bad arguments are refused with 22023 and record nothing.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

select throws_ok(
  $$ select public.sync_clerk_user(null, 'user.created', 'user_2pBadArgs',
       '2026-01-01 10:00:00+00', '{}') $$,
  '22023', 'p_svix_id is required',
  'a null svix id is refused'
);
select throws_ok(
  $$ select public.sync_clerk_user('', 'user.created', 'user_2pBadArgs',
       '2026-01-01 10:00:00+00', '{}') $$,
  '22023', 'p_svix_id is required',
  'an empty svix id is refused'
);
select throws_ok(
  $$ select public.sync_clerk_user('msg_2pBadArgs1', 'user.created', null,
       '2026-01-01 10:00:00+00', '{}') $$,
  '22023', 'p_user_id is required',
  'a null user id is refused'
);
select throws_ok(
  $$ select public.sync_clerk_user('msg_2pBadArgs1', 'user.created', '',
       '2026-01-01 10:00:00+00', '{}') $$,
  '22023', 'p_user_id is required',
  'an empty user id is refused'
);
select throws_ok(
  $$ select public.sync_clerk_user('msg_2pBadArgs1', 'user.created', 'user_2pBadArgs',
       null, '{}') $$,
  '22023', 'p_occurred_at is required',
  'a null p_occurred_at is refused'
);
select throws_ok(
  $$ select public.sync_clerk_user('msg_2pBadArgs1', 'session.created', 'user_2pBadArgs',
       '2026-01-01 10:00:00+00', '{}') $$,
  '22023', 'unsupported event type: session.created',
  'an unknown event type is refused'
);
select throws_ok(
  $$ select public.sync_clerk_user('msg_2pBadArgs1', null, 'user_2pBadArgs',
       '2026-01-01 10:00:00+00', '{}') $$,
  '22023', 'unsupported event type: null',
  'a null event type is refused'
);
select throws_ok(
  $$ select public.sync_clerk_user('msg_2pBadArgs1', 'user.created', 'user_2pBadArgs',
       '2026-01-01 10:00:00+00') $$,
  '22023', 'p_profile must be a JSON object for user.created',
  'user.created without a profile is refused'
);
select throws_ok(
  $$ select public.sync_clerk_user('msg_2pBadArgs1', 'user.updated', 'user_2pBadArgs',
       '2026-01-01 10:00:00+00', 'null') $$,
  '22023', 'p_profile must be a JSON object for user.updated',
  'user.updated with a JSON null profile is refused'
);
select throws_ok(
  $$ select public.sync_clerk_user('msg_2pBadArgs1', 'user.updated', 'user_2pBadArgs',
       '2026-01-01 10:00:00+00', '["not", "an", "object"]') $$,
  '22023', 'p_profile must be a JSON object for user.updated',
  'user.updated with a non-object profile is refused'
);
select throws_ok(
  $$ select public.sync_clerk_user('msg_2pBadArgs1', 'user.created', 'user_2pBadArgs',
       '2026-01-01 10:00:00+00', '{"clerk_created_at": "yesterday-ish"}') $$,
  '22023', 'p_profile.clerk_created_at is not a timestamp',
  'a clerk_created_at that is not a timestamp is refused'
);
select is_empty(
  $$ select * from public.profiles where user_id = 'user_2pBadArgs' $$,
  'refused calls wrote no profile'
);
select is(
  public.sync_clerk_user('msg_2pBadArgs1', 'user.created', 'user_2pBadArgs',
    '2026-01-01 10:00:00+00', '{"email": "fixed@example.com"}'),
  'applied',
  'a svix id whose calls were refused is not consumed: the corrected call applies'
);
select is(
  public.sync_clerk_user('msg_2pNullMeta', 'user.created', 'user_2pNullMeta',
    '2026-01-01 10:00:00+00', '{"public_metadata": null}'),
  'applied',
  'a profile whose public_metadata is JSON null applies'
);
select is(
  (select public_metadata from public.profiles where user_id = 'user_2pNullMeta'),
  '{}'::jsonb,
  'a public_metadata that is not an object is stored as {}'
);

reset role;

-- Owner: the refused calls left no tombstone and only the corrected call is logged.
select results_eq(
  $$ select svix_id, outcome from clerk_sync.webhook_events where user_id = 'user_2pBadArgs' $$,
  $$ values ('msg_2pBadArgs1', 'applied') $$,
  'only the corrected call is in the delivery log'
);
select is_empty(
  $$ select * from clerk_sync.deleted_users where user_id = 'user_2pBadArgs' $$,
  'refused calls left no tombstone'
);

select * from finish();
rollback;
