-- Who can read what of organizations, memberships and profiles, one block per actor:
-- a member of Acme, an admin of Globex (not in Acme), a signed-in user in no organization, anon,
-- and service_role; plus the clerk_rls helpers' answers and grants.
begin;
create extension if not exists pgtap with schema extensions;
select plan(47);

-- Two organizations: Acme (Mia member, Ann admin) and Globex (Gus admin).
insert into public.profiles (user_id, email, clerk_updated_at) values
  ('user_2oMia', 'mia@acme.test', '2026-01-01 10:00:00+00'),
  ('user_2oAnn', 'ann@acme.test', '2026-01-01 10:00:00+00'),
  ('user_2oGus', 'gus@globex.test', '2026-01-01 10:00:00+00'),
  ('user_2oNed', 'ned@nowhere.test', '2026-01-01 10:00:00+00');
insert into public.organizations (org_id, name, slug, clerk_updated_at) values
  ('org_2oAcme', 'Acme', 'acme', '2026-01-01 10:00:00+00'),
  ('org_2oGlobex', 'Globex', 'globex', '2026-01-01 10:00:00+00');
insert into public.organization_memberships
  (org_id, user_id, membership_id, role, clerk_created_at, clerk_updated_at) values
  ('org_2oAcme', 'user_2oMia', 'orgmem_2oMia', 'org:member', '2026-01-01', '2026-01-01'),
  ('org_2oAcme', 'user_2oAnn', 'orgmem_2oAnn', 'org:admin', '2026-01-01', '2026-01-01'),
  ('org_2oGlobex', 'user_2oGus', 'orgmem_2oGus', 'org:admin', '2026-01-01', '2026-01-01');

-- Grants, before RLS.
select table_privs_are('public', 'organizations', 'anon', array[]::text[],
  'anon has no privileges on organizations');
select table_privs_are('public', 'organization_memberships', 'anon', array[]::text[],
  'anon has no privileges on organization_memberships');
select table_privs_are('public', 'organizations', 'authenticated', array['SELECT'],
  'authenticated may only SELECT organizations');
select table_privs_are('public', 'organization_memberships', 'authenticated', array['SELECT'],
  'authenticated may only SELECT organization_memberships');
select table_privs_are('public', 'organizations', 'service_role',
  array['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'service_role may read and write organizations');
select schema_privs_are('clerk_rls', 'authenticated', array['USAGE'],
  'authenticated may use the clerk_rls schema');
select schema_privs_are('clerk_rls', 'anon', array[]::text[], 'anon may not use clerk_rls');
select function_privs_are('clerk_rls', 'is_org_member', array['text'], 'anon', array[]::text[],
  'anon cannot execute clerk_rls.is_org_member');
select function_privs_are('clerk_rls', 'org_role', array['text'], 'authenticated',
  array['EXECUTE'], 'authenticated can execute clerk_rls.org_role');
select function_privs_are('clerk_rls', 'org_ids', array[]::text[], 'service_role',
  array[]::text[], 'service_role has no EXECUTE on clerk_rls.org_ids (it bypasses RLS anyway)');

-- Mia, member of Acme.
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_2oMia","role":"authenticated"}';
select results_eq($$ select org_id from public.organizations $$, $$ values ('org_2oAcme') $$,
  'member: sees exactly her organization');
select results_eq(
  $$ select user_id, role from public.organization_memberships order by user_id $$,
  $$ values ('user_2oAnn', 'org:admin'), ('user_2oMia', 'org:member') $$,
  'member: sees the memberships of her organization, with their roles');
select results_eq($$ select user_id from public.profiles order by user_id $$,
  $$ values ('user_2oMia') $$,
  'member: reads her own profile only (her co-member''s card is in profile_cards)');
select is_empty($$ select * from public.organizations where org_id = 'org_2oGlobex' $$,
  'member: cannot read another organization, even by its id');
select ok(clerk_rls.is_org_member('org_2oAcme'), 'member: is_org_member(Acme) is true');
select ok(not clerk_rls.is_org_member('org_2oGlobex'), 'member: is_org_member(Globex) is false');
select is(clerk_rls.org_role('org_2oAcme'), 'org:member', 'member: org_role(Acme) is org:member');
select is(clerk_rls.org_role('org_2oGlobex'), null, 'member: org_role(Globex) is null');
select throws_ok(
  $$ update public.organizations set name = 'Mine' where org_id = 'org_2oAcme' $$,
  '42501', 'permission denied for table organizations', 'member: cannot update her organization');
select throws_ok(
  $$ insert into public.organization_memberships
       (org_id, user_id, membership_id, role, clerk_created_at, clerk_updated_at)
     values ('org_2oGlobex', 'user_2oMia', 'orgmem_forged', 'org:admin', now(), now()) $$,
  '42501', 'permission denied for table organization_memberships',
  'member: cannot add herself to another organization');
select throws_ok(
  $$ update public.organization_memberships set role = 'org:admin' where user_id = 'user_2oMia' $$,
  '42501', 'permission denied for table organization_memberships',
  'member: cannot promote herself');

-- Gus, admin of Globex (not in Acme).
set local request.jwt.claims = '{"sub":"user_2oGus","role":"authenticated"}';
select results_eq($$ select org_id from public.organizations $$, $$ values ('org_2oGlobex') $$,
  'admin of another organization: sees only Globex');
select results_eq($$ select user_id from public.organization_memberships $$,
  $$ values ('user_2oGus') $$, 'admin of another organization: sees only Globex''s membership');
select results_eq($$ select user_id from public.profiles $$, $$ values ('user_2oGus') $$,
  'admin of another organization: reads only his own profile');
select ok(not clerk_rls.is_org_member('org_2oAcme'),
  'admin of another organization: is_org_member(Acme) is false');
select is(clerk_rls.org_role('org_2oGlobex'), 'org:admin',
  'admin of another organization: org_role(Globex) is org:admin');
select throws_ok(
  $$ delete from public.organization_memberships where org_id = 'org_2oGlobex' $$,
  '42501', 'permission denied for table organization_memberships',
  'admin of another organization: cannot remove members from the database side');

-- Ned, signed in, in no organization.
set local request.jwt.claims = '{"sub":"user_2oNed","role":"authenticated"}';
select is_empty($$ select * from public.organizations $$, 'non-member: sees no organization');
select is_empty($$ select * from public.organization_memberships $$,
  'non-member: sees no membership');
select results_eq($$ select user_id from public.profiles $$, $$ values ('user_2oNed') $$,
  'non-member: reads only his own profile');
select ok(not clerk_rls.is_org_member('org_2oAcme'), 'non-member: is_org_member is false');
select is(clerk_rls.org_role('org_2oAcme'), null, 'non-member: org_role is null');
select is_empty($$ select * from clerk_rls.org_ids() $$, 'non-member: org_ids() is empty');

-- A session without claims (a token without sub).
set local request.jwt.claims = '{"role":"authenticated"}';
select is_empty($$ select * from public.organizations $$, 'no sub: sees no organization');
select ok(not clerk_rls.is_org_member('org_2oAcme'), 'no sub: is_org_member is false');
select is_empty($$ select * from public.profiles $$, 'no sub: reads no profile');

-- anon.
reset role;
set local role anon;
set local request.jwt.claims = '{"role":"anon"}';
select throws_ok($$ select * from public.organizations $$, '42501',
  'permission denied for table organizations', 'anon: cannot read organizations');
select throws_ok($$ select * from public.organization_memberships $$, '42501',
  'permission denied for table organization_memberships', 'anon: cannot read memberships');
select throws_ok($$ select clerk_rls.is_org_member('org_2oAcme') $$, '42501',
  'permission denied for schema clerk_rls', 'anon: cannot call the clerk_rls helpers');
select throws_ok(
  $$ select public.sync_clerk_organization('msg_x', 'organization.created', 'org_x', now(), '{}') $$,
  '42501', 'permission denied for function sync_clerk_organization',
  'anon: cannot call sync_clerk_organization');

-- service_role (BYPASSRLS): reads everything, writes through the sync functions.
reset role;
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';
select is((select count(*) from public.organizations)::int, 2, 'service_role: reads every organization');
select is((select count(*) from public.organization_memberships)::int, 3,
  'service_role: reads every membership');
select is(
  public.sync_clerk_organization('msg_2oAcc1', 'organization.updated', 'org_2oAcme',
    '2026-02-01 10:00:00+00', '{"org_id": "org_2oAcme", "name": "Acme Inc.",
      "clerk_updated_at": "2026-02-01T10:00:00Z"}'),
  'applied', 'service_role: can call sync_clerk_organization');
select throws_ok($$ select * from clerk_sync.deleted_organizations $$, '42501', null,
  'service_role: cannot read the organization tombstones directly');
select throws_ok($$ select * from clerk_sync.deleted_memberships $$, '42501', null,
  'service_role: cannot read the membership tombstones directly');

-- authenticated cannot call the sync functions either.
reset role;
set local role authenticated;
set local request.jwt.claims = '{"sub":"user_2oAnn","role":"authenticated"}';
select throws_ok(
  $$ select public.sync_clerk_membership('msg_y', 'organizationMembership.created', now(),
       '{}', '{}') $$,
  '42501', 'permission denied for function sync_clerk_membership',
  'authenticated: cannot call sync_clerk_membership');
select is(clerk_rls.org_role('org_2oAcme'), 'org:admin', 'Acme''s admin: org_role(Acme) is org:admin');

select * from finish();
rollback;
