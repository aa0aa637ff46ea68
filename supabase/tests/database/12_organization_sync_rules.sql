-- The rules of public.sync_clerk_organization and public.sync_clerk_membership, called as
-- service_role (as the clerk-webhook function does): duplicates, only newer data applies, a
-- membership before its organization, a role change that overtakes the creation, deletions
-- ordered by the envelope's timestamp, organization.deleted and user.deleted removing
-- memberships, a member added again after removal, private fields never stored.
begin;
create extension if not exists pgtap with schema extensions;
select plan(35);

set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

-- Helpers: a mapped organization and membership as the function's mapping sends them.
create function pg_temp.org(p_id text, p_name text, p_updated text) returns jsonb
language sql as $$
  select jsonb_build_object('org_id', p_id, 'name', p_name, 'slug', lower(p_name),
    'public_metadata', jsonb_build_object('tier', 'gold'), 'created_by', 'user_2rCreator',
    'clerk_created_at', '2026-01-01T00:00:00Z', 'clerk_updated_at', p_updated)
$$;
create function pg_temp.member(p_id text, p_org text, p_user text, p_role text,
  p_created text, p_updated text) returns jsonb
language sql as $$
  select jsonb_build_object('membership_id', p_id, 'org_id', p_org, 'user_id', p_user,
    'role', p_role, 'role_name', initcap(split_part(p_role, ':', 2)),
    'permissions', jsonb_build_array('org:sys_profile:read'), 'public_metadata', '{}'::jsonb,
    'clerk_created_at', p_created, 'clerk_updated_at', p_updated)
$$;

-- A membership before its organization's own event: it applies and creates the organization.
select is(
  public.sync_clerk_membership('msg_2r1', 'organizationMembership.created',
    '2026-01-01 10:00:00+00',
    pg_temp.member('orgmem_2rA', 'org_2rAcme', 'user_2rAda', 'org:member',
      '2026-01-01T10:00:00Z', '2026-01-01T10:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme', '2026-01-01T09:00:00Z')),
  'applied', 'a membership before its organization''s event applies');
select results_eq(
  $$ select name, slug, public_metadata, created_by from public.organizations
     where org_id = 'org_2rAcme' $$,
  $$ values ('Acme', 'acme', '{"tier": "gold"}'::jsonb, 'user_2rCreator') $$,
  'its nested snapshot created the organization row');
select is(
  public.sync_clerk_organization('msg_2r2', 'organization.created', 'org_2rAcme',
    '2026-01-01 09:00:00+00', pg_temp.org('org_2rAcme', 'Acme', '2026-01-01T09:00:00Z')),
  'stale', 'the organization''s own created event, not newer than the snapshot, is stale');
select is(
  public.sync_clerk_membership('msg_2r1', 'organizationMembership.created',
    '2026-01-01 10:00:00+00',
    pg_temp.member('orgmem_2rA', 'org_2rAcme', 'user_2rAda', 'org:member',
      '2026-01-01T10:00:00Z', '2026-01-01T10:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme', '2026-01-01T09:00:00Z')),
  'duplicate', 'a redelivery is a duplicate');

-- An organization update applies; an older snapshot in a later membership event does not undo it.
select is(
  public.sync_clerk_organization('msg_2r3', 'organization.updated', 'org_2rAcme',
    '2026-01-02 09:00:00+00', pg_temp.org('org_2rAcme', 'Acme Corp', '2026-01-02T09:00:00Z')),
  'applied', 'a newer organization.updated applies');
select is(
  public.sync_clerk_membership('msg_2r4', 'organizationMembership.created',
    '2026-01-01 11:00:00+00',
    pg_temp.member('orgmem_2rB', 'org_2rAcme', 'user_2rBob', 'org:member',
      '2026-01-01T11:00:00Z', '2026-01-01T11:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme', '2026-01-01T09:00:00Z')),
  'applied', 'a membership with an older organization snapshot still applies');
select is((select name from public.organizations where org_id = 'org_2rAcme'), 'Acme Corp',
  'an old snapshot never overwrites a newer organization row');

-- A role change that overtakes the creation: the creation, arriving later, is stale.
select is(
  public.sync_clerk_membership('msg_2r5', 'organizationMembership.updated',
    '2026-01-03 10:00:00+00',
    pg_temp.member('orgmem_2rC', 'org_2rAcme', 'user_2rCy', 'org:admin',
      '2026-01-03T09:00:00Z', '2026-01-03T10:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme Corp', '2026-01-02T09:00:00Z')),
  'applied', 'a role change that arrives first applies');
select is(
  public.sync_clerk_membership('msg_2r6', 'organizationMembership.created',
    '2026-01-03 09:00:00+00',
    pg_temp.member('orgmem_2rC', 'org_2rAcme', 'user_2rCy', 'org:member',
      '2026-01-03T09:00:00Z', '2026-01-03T09:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme Corp', '2026-01-02T09:00:00Z')),
  'stale', 'the overtaken creation is stale');
select results_eq(
  $$ select role, role_name, permissions from public.organization_memberships
     where user_id = 'user_2rCy' $$,
  $$ values ('org:admin', 'Admin', array['org:sys_profile:read']) $$,
  'the role change is kept, stored as Clerk sent it');

-- Roles are stored exactly as sent: custom and legacy ones.
select is(
  public.sync_clerk_membership('msg_2r7', 'organizationMembership.created',
    '2026-01-03 12:00:00+00',
    pg_temp.member('orgmem_2rD', 'org_2rAcme', 'user_2rDee', 'basic_member',
      '2026-01-03T12:00:00Z', '2026-01-03T12:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme Corp', '2026-01-02T09:00:00Z')),
  'applied', 'a legacy role is accepted');
select is((select role from public.organization_memberships where user_id = 'user_2rDee'),
  'basic_member', 'a legacy role is stored unchanged');

-- .deleted ordered by the envelope's timestamp, even with an older updated_at; a late .updated
-- of the removed membership is stale.
select is(
  public.sync_clerk_membership('msg_2r8', 'organizationMembership.deleted',
    '2026-01-04 10:00:00+00',
    pg_temp.member('orgmem_2rC', 'org_2rAcme', 'user_2rCy', 'org:member',
      '2026-01-03T09:00:00Z', '2026-01-03T09:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme Corp', '2026-01-02T09:00:00Z')),
  'deleted', 'a .deleted with an old updated_at deletes');
select is_empty($$ select * from public.organization_memberships where user_id = 'user_2rCy' $$,
  'the removed member''s row is gone');
select is(
  public.sync_clerk_membership('msg_2r9', 'organizationMembership.updated',
    '2026-01-03 11:00:00+00',
    pg_temp.member('orgmem_2rC', 'org_2rAcme', 'user_2rCy', 'org:admin',
      '2026-01-03T09:00:00Z', '2026-01-03T11:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme Corp', '2026-01-02T09:00:00Z')),
  'stale', 'a late .updated of the removed membership is stale');
select is(
  public.sync_clerk_membership('msg_2r10', 'organizationMembership.updated',
    '2026-01-05 11:00:00+00',
    pg_temp.member('orgmem_2rC', 'org_2rAcme', 'user_2rCy', 'org:admin',
      '2026-01-03T09:00:00Z', '2026-01-05T11:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme Corp', '2026-01-02T09:00:00Z')),
  'stale', 'even one dated after the removal: the membership itself was created before it');
select is_empty($$ select * from public.organization_memberships where user_id = 'user_2rCy' $$,
  'the removed member stays removed');

-- Added again later: a membership created after the removal applies.
select is(
  public.sync_clerk_membership('msg_2r11', 'organizationMembership.created',
    '2026-01-06 10:00:00+00',
    pg_temp.member('orgmem_2rC2', 'org_2rAcme', 'user_2rCy', 'org:member',
      '2026-01-06T10:00:00Z', '2026-01-06T10:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme Corp', '2026-01-02T09:00:00Z')),
  'applied', 'a membership created after the removal applies');
select is(
  public.sync_clerk_membership('msg_2r12', 'organizationMembership.deleted',
    '2026-01-04 10:00:00+00',
    pg_temp.member('orgmem_2rC', 'org_2rAcme', 'user_2rCy', 'org:member',
      '2026-01-03T09:00:00Z', '2026-01-03T09:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme Corp', '2026-01-02T09:00:00Z')),
  'stale', 'a late removal of the old membership (another svix id) removes nothing: stale');
select is((select membership_id from public.organization_memberships where user_id = 'user_2rCy'),
  'orgmem_2rC2', '... but does not remove the newer membership');
select is(
  public.sync_clerk_membership('msg_2r13', 'organizationMembership.updated',
    '2026-01-03 12:00:00+00',
    pg_temp.member('orgmem_2rC', 'org_2rAcme', 'user_2rCy', 'org:admin',
      '2026-01-03T09:00:00Z', '2026-01-03T12:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme Corp', '2026-01-02T09:00:00Z')),
  'stale', 'an event of the old membership never replaces the newer one');

-- user.deleted removes the user's memberships; later membership events for them are stale.
select is(
  public.sync_clerk_user('msg_2r14', 'user.deleted', 'user_2rBob', '2026-01-07 10:00:00+00'),
  'deleted', 'user.deleted is applied');
select is_empty($$ select * from public.organization_memberships where user_id = 'user_2rBob' $$,
  'user.deleted removed the user''s memberships');
select is(
  public.sync_clerk_membership('msg_2r15', 'organizationMembership.updated',
    '2026-01-07 12:00:00+00',
    pg_temp.member('orgmem_2rB', 'org_2rAcme', 'user_2rBob', 'org:admin',
      '2026-01-01T11:00:00Z', '2026-01-07T12:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme Corp', '2026-01-02T09:00:00Z')),
  'stale', 'a membership event of a deleted user is stale');

-- organization.deleted removes the organization and all its memberships; late events are stale.
select is(
  public.sync_clerk_organization('msg_2r16', 'organization.deleted', 'org_2rAcme',
    '2026-01-08 10:00:00+00'),
  'deleted', 'organization.deleted is applied');
select is_empty($$ select * from public.organizations where org_id = 'org_2rAcme' $$,
  'the organization row is gone');
select is_empty($$ select * from public.organization_memberships where org_id = 'org_2rAcme' $$,
  'all its memberships are gone, without one .deleted per member');
select is(
  public.sync_clerk_membership('msg_2r17', 'organizationMembership.created',
    '2026-01-09 10:00:00+00',
    pg_temp.member('orgmem_2rE', 'org_2rAcme', 'user_2rEve', 'org:member',
      '2026-01-09T10:00:00Z', '2026-01-09T10:00:00Z'),
    pg_temp.org('org_2rAcme', 'Acme Corp', '2026-01-09T10:00:00Z')),
  'stale', 'a late membership event of a deleted organization is stale');
select is(
  public.sync_clerk_organization('msg_2r18', 'organization.updated', 'org_2rAcme',
    '2026-01-09 11:00:00+00', pg_temp.org('org_2rAcme', 'Back', '2026-01-09T11:00:00Z')),
  'stale', 'a late organization.updated of a deleted organization is stale');
select is_empty($$ select * from public.organizations where org_id = 'org_2rAcme' $$,
  'the deleted organization never comes back');

-- Bad arguments are refused with 22023.
select throws_ok(
  $$ select public.sync_clerk_organization('msg_2rBad1', 'organization.updated', 'org_2rZ',
       now(), '{"org_id": "org_2rZ"}') $$,
  '22023', null, 'an organization without a name or updated_at is refused');
select throws_ok(
  $$ select public.sync_clerk_membership('msg_2rBad2', 'organizationMembership.created', now(),
       '{"membership_id": "orgmem_x", "org_id": "org_2rZ", "user_id": "user_x",
         "role": "org:member", "clerk_created_at": "2026-01-01T00:00:00Z",
         "clerk_updated_at": "2026-01-01T00:00:00Z"}',
       '{"org_id": "org_2rOther", "name": "Other", "clerk_updated_at": "2026-01-01T00:00:00Z"}') $$,
  '22023', null, 'a membership whose snapshot is another organization is refused');
select throws_ok(
  $$ select public.sync_clerk_organization('msg_2rBad3', 'organization.renamed', 'org_2rZ', now()) $$,
  '22023', null, 'an unknown event type is refused');

-- The delivery log names the subjects (checked as the owner).
reset role;
select results_eq(
  $$ select event_type, user_id, org_id, outcome from clerk_sync.webhook_events
     where svix_id in ('msg_2r1', 'msg_2r16') order by svix_id $$,
  $$ values ('organizationMembership.created', 'user_2rAda', 'org_2rAcme', 'applied'),
            ('organization.deleted', null, 'org_2rAcme', 'deleted') $$,
  'the delivery log records each event with its user and organization');
select results_eq(
  $$ select kind from clerk_sync.deleted_organizations where org_id = 'org_2rAcme' $$,
  $$ values ('announced') $$, 'organization.deleted leaves an announced tombstone');

select * from finish();
rollback;
