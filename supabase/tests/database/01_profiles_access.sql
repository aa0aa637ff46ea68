-- Who can read and write public.profiles: the owner reads their row and only it; other
-- signed-in users, sessions without claims and anon see nothing; only service_role writes.
begin;
create extension if not exists pgtap with schema extensions;
select plan(24);

-- Two Clerk users with a profile each (written as the migration owner, like the sync does).
insert into public.profiles (user_id, email, first_name, clerk_updated_at)
values
  ('user_2pOwnerA1b2C3d4E5f6G7h8', 'owner@example.com', 'Olive', '2026-01-01 10:00:00+00'),
  ('user_2pStrangerZ9y8X7w6V5u4', 'stranger@example.com', 'Sam', '2026-01-01 10:00:00+00');

-- Grants: what each role may do at all, before RLS. No TRUNCATE anywhere (RLS does not apply).
select table_privs_are(
  'public', 'profiles', 'anon', array[]::text[],
  'anon has no privileges on profiles'
);
select table_privs_are(
  'public', 'profiles', 'authenticated', array['SELECT'],
  'authenticated may only SELECT profiles'
);
select table_privs_are(
  'public', 'profiles', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'service_role may SELECT, INSERT, UPDATE and DELETE profiles'
);

-- Owner: a signed-in Clerk user with a profile.
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_2pOwnerA1b2C3d4E5f6G7h8","role":"authenticated"}';

select results_eq(
  $$ select user_id from public.profiles $$,
  $$ values ('user_2pOwnerA1b2C3d4E5f6G7h8') $$,
  'owner sees exactly one row: their own'
);
select is(
  (select email from public.profiles where user_id = 'user_2pOwnerA1b2C3d4E5f6G7h8'),
  'owner@example.com',
  'owner reads their own email'
);
select is_empty(
  $$ select * from public.profiles where user_id = 'user_2pStrangerZ9y8X7w6V5u4' $$,
  'owner cannot read the stranger''s row, even by its id'
);
select throws_ok(
  $$ update public.profiles set first_name = 'Mallory'
     where user_id = 'user_2pOwnerA1b2C3d4E5f6G7h8' $$,
  '42501', 'permission denied for table profiles',
  'owner cannot update their own row'
);
select throws_ok(
  $$ insert into public.profiles (user_id, clerk_updated_at) values ('user_2pForged', now()) $$,
  '42501', 'permission denied for table profiles',
  'owner cannot insert a profile'
);
select throws_ok(
  $$ delete from public.profiles where user_id = 'user_2pOwnerA1b2C3d4E5f6G7h8' $$,
  '42501', 'permission denied for table profiles',
  'owner cannot delete their own row'
);

reset role;

-- Stranger: another signed-in Clerk user.
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_2pStrangerZ9y8X7w6V5u4","role":"authenticated"}';

select results_eq(
  $$ select user_id from public.profiles $$,
  $$ values ('user_2pStrangerZ9y8X7w6V5u4') $$,
  'stranger sees only their own row'
);
select is_empty(
  $$ select * from public.profiles where user_id = 'user_2pOwnerA1b2C3d4E5f6G7h8' $$,
  'stranger cannot read the owner''s row'
);
select throws_ok(
  $$ update public.profiles set email = 'x@example.com'
     where user_id = 'user_2pOwnerA1b2C3d4E5f6G7h8' $$,
  '42501', 'permission denied for table profiles',
  'stranger cannot update the owner''s row'
);
select throws_ok(
  $$ delete from public.profiles where user_id = 'user_2pOwnerA1b2C3d4E5f6G7h8' $$,
  '42501', 'permission denied for table profiles',
  'stranger cannot delete the owner''s row'
);

reset role;

-- Authenticated without claims, or with claims that carry no sub: auth.jwt() ->> 'sub' is NULL.
set local role authenticated;
set local request.jwt.claims = '';

select is_empty(
  $$ select * from public.profiles $$,
  'authenticated without claims sees no rows'
);

set local request.jwt.claims = '{"role":"authenticated"}';

select is_empty(
  $$ select * from public.profiles $$,
  'authenticated with claims but no sub sees no rows'
);

reset role;

-- Anon: no grant at all, so every statement is refused before RLS, whatever the claims say.
set local role anon;
set local request.jwt.claims = '{"role":"anon"}';

select throws_ok(
  $$ select * from public.profiles $$,
  '42501', 'permission denied for table profiles',
  'anon cannot select profiles'
);
select throws_ok(
  $$ insert into public.profiles (user_id, clerk_updated_at) values ('user_2pForged', now()) $$,
  '42501', 'permission denied for table profiles',
  'anon cannot insert a profile'
);
select throws_ok(
  $$ update public.profiles set email = null $$,
  '42501', 'permission denied for table profiles',
  'anon cannot update profiles'
);
select throws_ok(
  $$ delete from public.profiles $$,
  '42501', 'permission denied for table profiles',
  'anon cannot delete profiles'
);

set local request.jwt.claims = '{"sub":"user_2pOwnerA1b2C3d4E5f6G7h8","role":"anon"}';

select throws_ok(
  $$ select * from public.profiles $$,
  '42501', 'permission denied for table profiles',
  'anon cannot select profiles even with the owner''s sub in its claims'
);

reset role;

-- service_role: bypasses RLS (no policy names it) and has the write grants the sync relies on.
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

select results_eq(
  $$ select user_id from public.profiles
     where user_id in ('user_2pOwnerA1b2C3d4E5f6G7h8', 'user_2pStrangerZ9y8X7w6V5u4')
     order by user_id $$,
  $$ values ('user_2pOwnerA1b2C3d4E5f6G7h8'), ('user_2pStrangerZ9y8X7w6V5u4') $$,
  'service_role reads every row'
);
select lives_ok(
  $$ insert into public.profiles (user_id, clerk_updated_at)
     values ('user_2pServiceInsert000001', '2026-01-01 10:00:00+00') $$,
  'service_role can insert a profile'
);
select results_eq(
  $$ update public.profiles set first_name = 'Olivia'
     where user_id = 'user_2pOwnerA1b2C3d4E5f6G7h8' returning first_name $$,
  $$ values ('Olivia') $$,
  'service_role can update any row'
);
select results_eq(
  $$ delete from public.profiles where user_id = 'user_2pStrangerZ9y8X7w6V5u4' returning user_id $$,
  $$ values ('user_2pStrangerZ9y8X7w6V5u4') $$,
  'service_role can delete any row'
);

reset role;

select * from finish();
rollback;
