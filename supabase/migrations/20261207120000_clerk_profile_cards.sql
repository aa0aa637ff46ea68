-- What members of an organization read of each other: a card, not the profile. Clerk shows the
-- members of an organization each other's `public_user_data` (name, username, image and one
-- identifier), never a phone number or metadata. Until now the profiles policy let co-members
-- read each other's whole row (phone and public_metadata included).
--
-- A policy cannot hide columns per row, and column privileges cannot vary per row. A view that
-- reads profiles past RLS in the exposed schema is what Supabase's advisor flags
-- (security_definer_view); a security_invoker view over profiles shows only what profiles' RLS
-- shows, the own row; a view over a SECURITY DEFINER function cannot push PostgREST's filters
-- down, has no key, and Realtime does not publish it. So, the Supabase way of exposing part of a
-- private table (the public profile kept from auth.users by a trigger): a table of the card
-- columns, with its own policy, kept in the same transaction as every profile write by triggers
-- on public.profiles. Every writer (webhook, sync on visit, backfill) goes through profiles, so
-- the card cannot drift: inserted and updated with it, deleted with it (foreign key).
--
-- Reading it:
--   own row, every column:            select * from profiles
--   the people of my organizations:   select * from profile_cards

create table public.profile_cards (
  user_id text primary key
    references public.profiles (user_id) on delete cascade on update cascade,
  first_name text,
  last_name text,
  username text,
  image_url text,
  -- The primary email address: the identifier Clerk shows members (public_user_data.identifier).
  email text
);
comment on table public.profile_cards is
  'What members of a Clerk organization may read of each other (Clerk''s public_user_data): '
  'kept from public.profiles by triggers; never written directly.';

-- Grants per role: signed-in users read through RLS, service_role reads, nobody writes (the
-- triggers do, as the table's owner).
revoke all on table public.profile_cards from public, anon, authenticated, service_role;
grant select on table public.profile_cards to authenticated, service_role;
alter table public.profile_cards enable row level security;

-- One policy for both readers of a card (two permissive policies for one role and action are
-- each evaluated for every row: the advisor's multiple_permissive_policies).
create policy "Users can read their own card and the cards of co-members"
  on public.profile_cards for select
  to authenticated
  using (
    (select auth.jwt()) ->> 'sub' = user_id
    or user_id in (select clerk_rls.co_member_ids())
  );

-- The profile itself is the owner's alone again.
drop policy "Users can read their own profile and those of people in their organizations"
  on public.profiles;
create policy "Users can read their own profile"
  on public.profiles for select
  to authenticated
  using ((select auth.jwt()) ->> 'sub' = user_id);

-- Keeps the cards of the rows a statement on profiles inserted or updated: one statement per
-- statement (a backfill page of 500 users is one upsert here too), and a card is rewritten only
-- when one of its columns changed. SECURITY DEFINER: a direct write to profiles by service_role
-- keeps the card too, while no API role may write cards.
create function clerk_sync.refresh_profile_cards()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profile_cards as c (user_id, first_name, last_name, username, image_url, email)
  select n.user_id, n.first_name, n.last_name, n.username, n.image_url, n.email
  from new_rows n
  on conflict (user_id) do update set
    first_name = excluded.first_name,
    last_name = excluded.last_name,
    username = excluded.username,
    image_url = excluded.image_url,
    email = excluded.email
  where (c.first_name, c.last_name, c.username, c.image_url, c.email)
    is distinct from
    (excluded.first_name, excluded.last_name, excluded.username, excluded.image_url, excluded.email);
  return null;
end;
$$;

comment on function clerk_sync.refresh_profile_cards() is
  'Trigger: writes public.profile_cards from the profiles rows a statement inserted or updated.';

revoke all on function clerk_sync.refresh_profile_cards()
  from public, anon, authenticated, service_role;

-- A trigger with a transition table takes one event: one for inserts, one for updates (an
-- upsert fires both, each with its own rows).
create trigger profile_cards_on_insert
  after insert on public.profiles
  referencing new table as new_rows
  for each statement execute function clerk_sync.refresh_profile_cards();
create trigger profile_cards_on_update
  after update on public.profiles
  referencing new table as new_rows
  for each statement execute function clerk_sync.refresh_profile_cards();

-- The cards of the profiles already there.
insert into public.profile_cards (user_id, first_name, last_name, username, image_url, email)
select p.user_id, p.first_name, p.last_name, p.username, p.image_url, p.email
from public.profiles p;
