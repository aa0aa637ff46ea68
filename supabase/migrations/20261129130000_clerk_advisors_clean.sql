-- Supabase's advisors (the supabase/splinter lints) clean on this schema.
--
-- function_search_path_mutable: clerk_sync.user_lock_key had no `set search_path`, so that
-- PostgreSQL would inline it into each caller's query. Pinning it would stop the inlining and add
-- a configuration switch per user locked (the backfill locks 500 users per call). Instead the key
-- and the locking now live in one function, clerk_sync.lock_users(text[]), with its search_path
-- pinned, called once per transaction with every user the transaction writes: one switch per
-- call, whatever the number of users, and the key still exists in one place. It is created, and
-- the writers call it, in 20261129120000_clerk_inferred_tombstones.sql; the old key goes here.
--
-- auth_rls_initplan: the lint looks for the text `select auth.jwt()`. The policy read
-- `(select auth.jwt() ->> 'sub')`, stored as `( SELECT (auth.jwt() ->> 'sub'::text))`, which the
-- lint flags although PostgreSQL evaluates it once per statement too. `(select auth.jwt()) ->>
-- 'sub'` is equally an init plan and passes.

drop function clerk_sync.user_lock_key(text);

alter policy "Users can read their own profile" on public.profiles
  using ((select auth.jwt()) ->> 'sub' = user_id);
