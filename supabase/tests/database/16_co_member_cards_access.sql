-- Who reads what of people: the own profile whole, the cards (name, username, image, primary
-- email) of people in a shared organization, never a co-member's phone or public_metadata. One
-- block per actor: anon, a member reading herself, her co-member, a member of another
-- organization, a user in no organization, service_role.
begin;
create extension if not exists pgtap with schema extensions;
select plan(40);

-- Acme: Mia and Ann. Globex: Gus. Ned in no organization. Written as the sync writes them.
insert into public.profiles
  (user_id, email, phone, first_name, last_name, username, image_url, public_metadata,
   clerk_updated_at) values
  ('user_2cMia', 'mia@acme.test', '+15555550101', 'Mia', 'Moss', 'mia',
   'https://img.clerk.com/mia.png', '{"plan": "pro"}', '2026-01-01 10:00:00+00'),
  ('user_2cAnn', 'ann@acme.test', '+15555550102', 'Ann', 'Ash', 'ann',
   'https://img.clerk.com/ann.png', '{"salary_band": "B"}', '2026-01-01 10:00:00+00'),
  ('user_2cGus', 'gus@globex.test', '+15555550103', 'Gus', 'Gray', 'gus', null, '{}',
   '2026-01-01 10:00:00+00'),
  ('user_2cNed', 'ned@nowhere.test', '+15555550104', 'Ned', 'North', null, null, '{}',
   '2026-01-01 10:00:00+00');
insert into public.organizations (org_id, name, clerk_updated_at) values
  ('org_2cAcme', 'Acme', '2026-01-01 10:00:00+00'),
  ('org_2cGlobex', 'Globex', '2026-01-01 10:00:00+00');
insert into public.organization_memberships
  (org_id, user_id, membership_id, role, clerk_created_at, clerk_updated_at) values
  ('org_2cAcme', 'user_2cMia', 'orgmem_2cMia', 'org:member', '2026-01-01', '2026-01-01'),
  ('org_2cAcme', 'user_2cAnn', 'orgmem_2cAnn', 'org:admin', '2026-01-01', '2026-01-01'),
  ('org_2cGlobex', 'user_2cGus', 'orgmem_2cGus', 'org:admin', '2026-01-01', '2026-01-01');

-- The shape, the grants, the policies.
select columns_are('public', 'profile_cards',
  array['user_id', 'first_name', 'last_name', 'username', 'image_url', 'email'],
  'a card is the name, username, image and primary email: no phone, no metadata');
select col_is_pk('public', 'profile_cards', 'user_id', 'one card per user');
select fk_ok('public', 'profile_cards', 'user_id', 'public', 'profiles', 'user_id',
  'a card belongs to a profile (and goes with it)');
select table_privs_are('public', 'profile_cards', 'anon', array[]::text[],
  'anon has no privileges on profile_cards');
select table_privs_are('public', 'profile_cards', 'authenticated', array['SELECT'],
  'authenticated may only SELECT profile_cards');
select table_privs_are('public', 'profile_cards', 'service_role', array['SELECT'],
  'service_role may only SELECT profile_cards: cards are written by the triggers alone');
select policies_are('public', 'profile_cards',
  array['Users can read their own card and the cards of co-members'],
  'profile_cards has one policy');
select policy_roles_are('public', 'profile_cards',
  'Users can read their own card and the cards of co-members',
  array['authenticated'], 'the card policy applies to authenticated only');
select policies_are('public', 'profiles', array['Users can read their own profile'],
  'profiles has only the own-row policy: co-members no longer read each other''s profile');

-- anon.
set local role anon;
set local request.jwt.claims = '{"role":"anon"}';
select throws_ok($$ select * from public.profile_cards $$, '42501',
  'permission denied for table profile_cards', 'anon: cannot read cards');
select throws_ok($$ select * from public.profiles $$, '42501',
  'permission denied for table profiles', 'anon: cannot read profiles');
set local request.jwt.claims = '{"sub":"user_2cMia","role":"anon"}';
select throws_ok($$ select * from public.profile_cards $$, '42501',
  'permission denied for table profile_cards', 'anon: not even with a member''s sub');
reset role;

-- Mia, reading herself: her whole profile, her own card.
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_2cMia","role":"authenticated"}';
select results_eq(
  $$ select user_id, phone, public_metadata from public.profiles $$,
  $$ values ('user_2cMia', '+15555550101', '{"plan": "pro"}'::jsonb) $$,
  'self: reads her own profile, phone and metadata included, and no other');
select results_eq(
  $$ select user_id, first_name, last_name, username, image_url, email
     from public.profile_cards where user_id = 'user_2cMia' $$,
  $$ values ('user_2cMia', 'Mia', 'Moss', 'mia', 'https://img.clerk.com/mia.png',
             'mia@acme.test') $$,
  'self: reads her own card');
select throws_ok(
  $$ update public.profile_cards set first_name = 'Mallory' where user_id = 'user_2cMia' $$,
  '42501', 'permission denied for table profile_cards', 'self: cannot edit her card');
reset role;

-- Ann, co-member of Mia: Mia's card, nothing else of Mia.
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_2cAnn","role":"authenticated"}';
select results_eq($$ select user_id from public.profile_cards order by user_id $$,
  $$ values ('user_2cAnn'), ('user_2cMia') $$,
  'co-member: reads the cards of her organization, her own included, nobody else''s');
select results_eq(
  $$ select first_name, last_name, username, image_url, email
     from public.profile_cards where user_id = 'user_2cMia' $$,
  $$ values ('Mia', 'Moss', 'mia', 'https://img.clerk.com/mia.png', 'mia@acme.test') $$,
  'co-member: reads Mia''s name, username, image and primary email');
select is_empty($$ select * from public.profiles where user_id = 'user_2cMia' $$,
  'co-member: cannot read Mia''s profile row');
select is_empty($$ select phone from public.profiles where user_id = 'user_2cMia' $$,
  'co-member: cannot read Mia''s phone');
select is_empty($$ select public_metadata from public.profiles where user_id = 'user_2cMia' $$,
  'co-member: cannot read Mia''s public_metadata');
select throws_ok($$ select phone from public.profile_cards $$, '42703', null,
  'co-member: a card has no phone column to ask for');
select results_eq($$ select user_id, phone from public.profiles $$,
  $$ values ('user_2cAnn', '+15555550102') $$,
  'co-member: still reads her own phone');
select throws_ok($$ delete from public.profile_cards where user_id = 'user_2cMia' $$,
  '42501', 'permission denied for table profile_cards', 'co-member: cannot delete a card');
reset role;

-- Gus, admin of another organization.
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_2cGus","role":"authenticated"}';
select results_eq($$ select user_id from public.profile_cards $$, $$ values ('user_2cGus') $$,
  'other organization: reads only his own card');
select is_empty($$ select * from public.profile_cards where user_id = 'user_2cMia' $$,
  'other organization: cannot read Mia''s card, even by its id');
select results_eq($$ select user_id from public.profiles $$, $$ values ('user_2cGus') $$,
  'other organization: reads only his own profile');
reset role;

-- Ned, in no organization.
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_2cNed","role":"authenticated"}';
select results_eq($$ select user_id from public.profile_cards $$, $$ values ('user_2cNed') $$,
  'non-member: reads only his own card');
select results_eq($$ select user_id from public.profiles $$, $$ values ('user_2cNed') $$,
  'non-member: reads only his own profile');
set local request.jwt.claims = '{"role":"authenticated"}';
select is_empty($$ select * from public.profile_cards $$, 'no sub: reads no card');
select is_empty($$ select * from public.profiles $$, 'no sub: reads no profile');
reset role;

-- A removal reaches the reads at once: Mia leaves Acme.
delete from public.organization_memberships where user_id = 'user_2cMia';
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_2cAnn","role":"authenticated"}';
select results_eq($$ select user_id from public.profile_cards $$, $$ values ('user_2cAnn') $$,
  'co-member no more: Ann no longer reads Mia''s card once Mia left');
reset role;

-- service_role: reads every card, writes none; the cards follow its writes to profiles.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';
select is((select count(*) from public.profile_cards where user_id like 'user_2c%')::int, 4,
  'service_role: reads every card');
select throws_ok(
  $$ insert into public.profile_cards (user_id) values ('user_2cForged') $$,
  '42501', 'permission denied for table profile_cards', 'service_role: cannot insert a card');
select throws_ok(
  $$ update public.profile_cards set email = 'x@example.com' $$,
  '42501', 'permission denied for table profile_cards', 'service_role: cannot update a card');
select lives_ok(
  $$ update public.profiles set first_name = 'Augustus', phone = '+15555550199'
     where user_id = 'user_2cGus' $$,
  'service_role: updates a profile directly');
select is((select first_name from public.profile_cards where user_id = 'user_2cGus'), 'Augustus',
  'service_role: the card follows a direct profile update');
select lives_ok(
  $$ insert into public.profiles (user_id, email, first_name, clerk_updated_at)
     values ('user_2cNew', 'new@example.com', 'Nia', '2026-01-01 10:00:00+00') $$,
  'service_role: inserts a profile directly');
select results_eq(
  $$ select user_id, first_name, email from public.profile_cards where user_id = 'user_2cNew' $$,
  $$ values ('user_2cNew', 'Nia', 'new@example.com') $$,
  'service_role: the card is made with the profile');
select lives_ok($$ delete from public.profiles where user_id = 'user_2cNew' $$,
  'service_role: deletes a profile directly');
select is_empty($$ select * from public.profile_cards where user_id = 'user_2cNew' $$,
  'service_role: the card goes with the profile');
reset role;

select * from finish();
rollback;
