// createdObjects() and survivingObjects(): what migrations leave, as add-to reads it to find a
// clash with this project's migrations.
import assert from "node:assert/strict";
import { createdObjects, survivingObjects } from "../scripts/add_to/sql_objects.ts";

const labels = (sql: string) => createdObjects(sql).map((o) => o.label);

Deno.test("createdObjects() reads tables, views, types, functions, indexes and schemas, unqualified in public", () => {
  const sql = `
    create schema if not exists clerk_sync;
    create table profiles (id text);
    CREATE UNLOGGED TABLE IF NOT EXISTS "Clerk_Sync".Events (id int);
    create or replace view public.profile_names as select 1;
    create materialized view clerk_rls.m as select 1;
    create type public.role as enum ('a');
    create domain clerk_id as text;
    create or replace function clerk_sync.lock_users(ids text[]) returns void language sql as $$ $$;
    create procedure p() language sql as $$ $$;
    create unique index concurrently if not exists profiles_email_idx on only clerk_sync.webhook_events (x);
    create index on public.profiles (id);
  `;
  assert.deepEqual(labels(sql), [
    "schema clerk_sync",
    "table public.profiles",
    "table Clerk_Sync.events",
    "view public.profile_names",
    "materialized view clerk_rls.m",
    "type public.role",
    "domain public.clerk_id",
    "function clerk_sync.lock_users",
    "procedure public.p",
    "index clerk_sync.profiles_email_idx",
  ]);
});

Deno.test("createdObjects() ignores comments", () => {
  assert.deepEqual(
    labels("-- create table profiles (id int);\n/* create function f() */ select 1;"),
    [],
  );
});

Deno.test("survivingObjects() follows drops and renames in order, naming the migration that named it", () => {
  const alive = survivingObjects([
    {
      name: "1_a.sql",
      content:
        "create table profiles (id int); create table t (id int); create function f() returns int language sql as $$ select 1 $$;",
    },
    {
      name: "2_b.sql",
      content:
        "alter table public.profiles rename to app_profiles; drop table if exists t, u cascade;",
    },
    {
      name: "3_c.sql",
      content: "alter function f() rename to g; create table profiles_old (x int);",
    },
    { name: "4_d.sql", content: "alter table profiles_old rename to profiles;" },
  ]);
  assert.deepEqual(alive.map((s) => `${s.object.label} ${s.createdBy}`).sort(), [
    "function public.g 3_c.sql",
    "table public.app_profiles 2_b.sql",
    "table public.profiles 4_d.sql",
  ]);
});

Deno.test("survivingObjects() on this repository's migrations leaves its tables and the functions it kept", () => {
  const dir = new URL("../supabase/migrations/", import.meta.url).pathname;
  const migrations = [...Deno.readDirSync(dir)].map((e) => e.name).sort()
    .map((name) => ({ name, content: Deno.readTextFileSync(`${dir}${name}`) }));
  const alive = survivingObjects(migrations).map((s) => s.object.label);
  for (
    const label of [
      "table public.profiles",
      "schema clerk_sync",
      "schema clerk_rls",
      "function public.sync_clerk_user",
    ]
  ) {
    assert.ok(alive.includes(label), label);
  }
});
