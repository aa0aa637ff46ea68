-- The cards follow every path that writes profiles, in the same transaction: the webhook
-- (sync_clerk_user), the backfill (sync_clerk_users), sync on visit (sync_clerk_profile),
-- deletions (user.deleted, tombstone_clerk_users); a write that leaves the card's columns as they
-- were does not rewrite it; the trigger function is out of every API role's reach.
begin;
create extension if not exists pgtap with schema extensions;
select plan(18);

-- Owner: the triggers and their function.
select triggers_are('public', 'profiles', array['profile_cards_on_insert', 'profile_cards_on_update'],
  'profiles has exactly the two card triggers');
select is_definer('clerk_sync', 'refresh_profile_cards', array[]::text[],
  'refresh_profile_cards is SECURITY DEFINER (a service_role write keeps the card too)');
select is(
  (select proconfig from pg_proc where oid = 'clerk_sync.refresh_profile_cards()'::regprocedure),
  array['search_path=""'], 'refresh_profile_cards pins search_path to the empty string');
select is(
  (select count(*)::int from unnest(array['anon', 'authenticated', 'service_role']) r(role)
   where has_function_privilege(r.role, 'clerk_sync.refresh_profile_cards()', 'EXECUTE')),
  0, 'no API role may execute refresh_profile_cards');

set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

-- The webhook.
select is(
  public.sync_clerk_user('msg_2cCard1', 'user.created', 'user_2cCardAda',
    '2026-01-01 10:00:00+00',
    '{"email": "ada@example.com", "phone": "+15555550100", "first_name": "Ada",
      "last_name": "Lovelace", "username": "ada", "image_url": "https://img.clerk.com/ada.png",
      "public_metadata": {"plan": "pro"}}'),
  'applied', 'webhook: user.created applied');
select results_eq(
  $$ select user_id, first_name, last_name, username, image_url, email
     from public.profile_cards where user_id = 'user_2cCardAda' $$,
  $$ values ('user_2cCardAda', 'Ada', 'Lovelace', 'ada', 'https://img.clerk.com/ada.png',
             'ada@example.com') $$,
  'webhook: the card is written with the profile');
select is(
  public.sync_clerk_user('msg_2cCard2', 'user.updated', 'user_2cCardAda',
    '2026-01-01 11:00:00+00',
    '{"email": "ada@lovelace.test", "first_name": "Augusta", "last_name": "Lovelace"}'),
  'applied', 'webhook: user.updated applied');
select results_eq(
  $$ select first_name, username, image_url, email from public.profile_cards
     where user_id = 'user_2cCardAda' $$,
  $$ values ('Augusta', null::text, null::text, 'ada@lovelace.test') $$,
  'webhook: the card follows the update');

-- A newer write that changes only what a card does not hold leaves the card's row untouched.
create temp table card_version on commit drop as
  select xmin::text as version from public.profile_cards where user_id = 'user_2cCardAda';
select is(
  public.sync_clerk_user('msg_2cCard3', 'user.updated', 'user_2cCardAda',
    '2026-01-01 12:00:00+00',
    '{"email": "ada@lovelace.test", "phone": "+15555550199", "first_name": "Augusta",
      "last_name": "Lovelace", "public_metadata": {"plan": "team"}}'),
  'applied', 'webhook: an update of the phone and metadata only');
select is(
  (select xmin::text from public.profile_cards where user_id = 'user_2cCardAda'),
  (select version from card_version),
  'the card is not rewritten when none of its columns changed');

-- The backfill.
select ok(
  public.sync_clerk_users('[{"user_id": "user_2cCardBob", "email": "bob@example.com",
    "first_name": "Bob", "clerk_updated_at": "2026-02-01 10:00:00+00"},
    {"user_id": "user_2cCardAda", "email": "ada@lovelace.test", "first_name": "Ada",
     "clerk_updated_at": "2026-02-01 10:00:00+00"}]')->'applied'
    @> '["user_2cCardBob", "user_2cCardAda"]'::jsonb,
  'backfill: one page of two users applied');
select results_eq(
  $$ select user_id, first_name from public.profile_cards
     where user_id in ('user_2cCardAda', 'user_2cCardBob') order by user_id $$,
  $$ values ('user_2cCardAda', 'Ada'), ('user_2cCardBob', 'Bob') $$,
  'backfill: a new card and an updated one, from one statement');

-- Sync on visit.
select is(
  public.sync_clerk_profile('{"user_id": "user_2cCardCat", "email": "cat@example.com",
    "first_name": "Cat", "clerk_updated_at": "2026-02-01 10:00:00+00"}')->>'status',
  'applied', 'sync on visit: applied');
select is((select first_name from public.profile_cards where user_id = 'user_2cCardCat'), 'Cat',
  'sync on visit: the card is written with the profile');

-- Deletions.
select is(
  public.sync_clerk_user('msg_2cCard4', 'user.deleted', 'user_2cCardAda',
    '2026-03-01 10:00:00+00', null),
  'deleted', 'webhook: user.deleted');
select is_empty($$ select * from public.profile_cards where user_id = 'user_2cCardAda' $$,
  'webhook: the card goes with the profile');
select lives_ok($$ select public.tombstone_clerk_users(array['user_2cCardBob']) $$,
  'reconcile: a user Clerk no longer lists is tombstoned');
select is_empty($$ select * from public.profile_cards where user_id = 'user_2cCardBob' $$,
  'reconcile: the card goes with the profile');
reset role;

select * from finish();
rollback;
