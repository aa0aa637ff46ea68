// End to end, who reads what: users, organizations and memberships written by the real webhook
// (signed user and organization deliveries to the function process), then read back over HTTP
// through supabase-js `createClient(supabaseUrl, anonKey, { accessToken })` with Clerk session
// tokens that the stack's Clerk instance key signs. The PostgREST stand-in trusts that key as a
// project with Supabase's Clerk third-party auth does, so each read runs as the token's `role`
// claim with its claims set, and the migrations' RLS decides what comes back.
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import {
  clerkId,
  type ClerkMembershipPayload,
  clerkMembershipPayload,
  type ClerkOrganizationPayload,
  clerkOrganizationPayload,
} from "../support/clerk_payloads.ts";
import {
  type ClerkSigningKey,
  generateSigningKey,
  mintSessionToken,
} from "../support/clerk_session.ts";
import { type LocalStack, startLocalStack } from "../support/local_stack.ts";
import { deliver, membershipDelivery, orgDelivery, runId, userDelivery } from "./support.ts";

type Delivered = Parameters<typeof deliver>[1];

async function applied(
  stack: LocalStack,
  delivery: Delivered,
  outcome: "applied" | "deleted" = "applied",
): Promise<void> {
  const answer = await deliver(stack, delivery);
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.body.status, outcome, answer.text);
}

// What an app with Clerk's Supabase integration builds: the anon key, and the session token.
function clientFor(stack: LocalStack, token: () => Promise<string>): SupabaseClient {
  return createClient(stack.supabaseUrl, stack.anonKey, { accessToken: token });
}

function clerkKey(stack: LocalStack): ClerkSigningKey {
  if (!stack.clerkSigningKey) throw new Error("the stack runs without its Clerk instance key");
  return stack.clerkSigningKey;
}

// A user's client: a fresh session token per request, as Clerk's getToken() hands one out.
function signedIn(stack: LocalStack, userId: string): SupabaseClient {
  return clientFor(stack, () => mintSessionToken(clerkKey(stack), userId));
}

async function userIds(client: SupabaseClient): Promise<string[]> {
  const { data, error, status } = await client.from("profiles").select("*").order("user_id");
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(status, 200);
  return data.map((row) => row.user_id);
}

async function cardIds(client: SupabaseClient): Promise<string[]> {
  const { data, error, status } = await client.from("profile_cards").select("user_id")
    .order("user_id");
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(status, 200);
  return data.map((row) => row.user_id);
}

async function orgIds(client: SupabaseClient): Promise<string[]> {
  const { data, error } = await client.from("organizations").select("org_id").order("org_id");
  assert.equal(error, null, JSON.stringify(error));
  return data.map((row) => row.org_id);
}

async function memberships(client: SupabaseClient): Promise<string[]> {
  const { data, error } = await client.from("organization_memberships")
    .select("org_id, user_id, role").order("org_id").order("user_id");
  assert.equal(error, null, JSON.stringify(error));
  return data.map((row) => `${row.org_id} ${row.user_id} ${row.role}`);
}

Deno.test("local stack: members read their organizations and co-members' cards through RLS with Clerk session tokens", async (t) => {
  const stack = await startLocalStack();
  const run = runId();
  // Sorted as the reads order them: Ann, Gus, Mia, Ned; Acme before Globex.
  const [ann, gus, mia, ned] = ["a_ann", "g_gus", "m_mia", "n_ned"].map((name) =>
    `user_rls${run}${name}`
  );
  const [acmeId, globexId] = [`org_rls${run}_acme`, `org_rls${run}_globex`];
  const base = Date.now() - 3600_000;
  const acme = clerkOrganizationPayload({ id: acmeId, name: "Acme", updatedAt: base });
  const globex = clerkOrganizationPayload({ id: globexId, name: "Globex", updatedAt: base });
  function membership(
    organization: ClerkOrganizationPayload,
    userId: string,
    role: string,
  ): ClerkMembershipPayload {
    return clerkMembershipPayload({
      id: clerkId("orgmem"),
      organization,
      userId,
      role,
      createdAt: base + 1000,
    });
  }
  const miaInAcme = membership(acme, mia, "org:member");
  try {
    await t.step(
      "the webhook writes the users, the organizations and the memberships",
      async () => {
        for (const userId of [ann, gus, mia, ned]) {
          await applied(stack, userDelivery("user.created", userId, base, clerkId("msg")));
        }
        for (const org of [acme, globex]) {
          await applied(stack, orgDelivery("organization.created", org, clerkId("msg")));
        }
        for (
          const m of [
            miaInAcme,
            membership(acme, ann, "org:admin"),
            membership(globex, gus, "org:admin"),
          ]
        ) {
          await applied(
            stack,
            membershipDelivery("organizationMembership.created", m, clerkId("msg")),
          );
        }
      },
    );

    await t.step(
      "a member reads her co-members' cards (never their profiles), her organization and its memberships",
      async () => {
        const client = signedIn(stack, mia);
        assert.deepEqual(await userIds(client), [mia], "profiles: her own row only");
        assert.deepEqual(await cardIds(client), [ann, mia]);
        assert.deepEqual(await orgIds(client), [acmeId]);
        assert.deepEqual(await memberships(client), [
          `${acmeId} ${ann} org:admin`,
          `${acmeId} ${mia} org:member`,
        ]);
        const card = await client.from("profile_cards").select("*").eq("user_id", ann).single();
        assert.equal(card.error, null, JSON.stringify(card.error));
        const { image_url, ...identity } = card.data;
        assert.match(image_url, /^https:\/\/img\.clerk\.com\//);
        assert.deepEqual(identity, {
          user_id: ann,
          first_name: `First ${base}`,
          last_name: `Last ${base}`,
          username: `u${base}`,
          email: `${ann.toLowerCase()}+${base}@example.com`,
        });
        // Her co-member's profile row (phone, public_metadata) is out of reach, even by id.
        const profile = await client.from("profiles").select("*").eq("user_id", ann).maybeSingle();
        assert.deepEqual([profile.status, profile.data, profile.error], [200, null, null]);
        const phone = await client.from("profile_cards").select("user_id, phone");
        assert.equal(phone.status, 400);
        assert.equal(phone.error?.code, "42703");
        const own = await client.from("profiles").select("user_id, public_metadata").single();
        assert.deepEqual(own.data, { user_id: mia, public_metadata: { version: String(base) } });
        const stranger = await client.from("profile_cards").select("*").eq("user_id", gus)
          .maybeSingle();
        assert.deepEqual([stranger.status, stranger.data, stranger.error], [200, null, null]);
        const otherOrg = await client.from("organizations").select("*").eq("org_id", globexId)
          .maybeSingle();
        assert.deepEqual([otherOrg.data, otherOrg.error], [null, null]);
        const ownOrg = await client.from("organizations").select("org_id, name, slug").eq(
          "org_id",
          acmeId,
        )
          .single();
        assert.deepEqual(ownOrg.data, { org_id: acmeId, name: "Acme", slug: "acme" });
      },
    );

    await t.step("an admin of another organization reads only his", async () => {
      const client = signedIn(stack, gus);
      assert.deepEqual(await userIds(client), [gus]);
      assert.deepEqual(await cardIds(client), [gus]);
      assert.deepEqual(await orgIds(client), [globexId]);
      assert.deepEqual(await memberships(client), [`${globexId} ${gus} org:admin`]);
      const acmeRead = await client.from("organizations").select("*").eq("org_id", acmeId);
      assert.deepEqual(acmeRead.data, [], "not even by its id");
    });

    await t.step(
      "a user in no organization reads none of it, and only his own profile",
      async () => {
        const client = signedIn(stack, ned);
        assert.deepEqual(await orgIds(client), []);
        assert.deepEqual(await memberships(client), []);
        assert.deepEqual(await userIds(client), [ned]);
        assert.deepEqual(await cardIds(client), [ned]);
      },
    );

    await t.step(
      "anon, a token without the role claim and another instance's token are refused",
      async () => {
        const anon = createClient(stack.supabaseUrl, stack.anonKey);
        for (
          const table of ["organizations", "organization_memberships", "profiles", "profile_cards"]
        ) {
          const answer = await anon.from(table).select("*");
          assert.equal(answer.status, 401, table);
          assert.equal(answer.error?.code, "42501");
          assert.equal(answer.error?.message, `permission denied for table ${table}`);
        }
        // Clerk not yet set up for Supabase: no `role` claim, so PostgREST runs the read as anon.
        const key = clerkKey(stack);
        const roleless = clientFor(
          stack,
          () => mintSessionToken(key, mia, { claims: { role: undefined } }),
        );
        const asAnon = await roleless.from("organizations").select("*");
        assert.equal(asAnon.status, 401);
        assert.equal(asAnon.error?.code, "42501");
        const otherInstance = await generateSigningKey();
        const foreign = clientFor(stack, () => mintSessionToken(otherInstance, mia));
        const refused = await foreign.from("organizations").select("*");
        assert.equal(refused.status, 401);
        assert.equal(refused.error?.code, "PGRST301");
        const expired = clientFor(
          stack,
          () => mintSessionToken(key, mia, { issuedAt: Math.floor(Date.now() / 1000) - 300 }),
        );
        const late = await expired.from("organizations").select("*");
        assert.deepEqual([late.status, late.error?.code, late.error?.message], [
          401,
          "PGRST303",
          "JWT expired",
        ]);
      },
    );

    await t.step("a removal reaches the reads as soon as the webhook applies it", async () => {
      await applied(
        stack,
        membershipDelivery(
          "organizationMembership.deleted",
          miaInAcme,
          clerkId("msg"),
          base + 5000,
        ),
        "deleted",
      );
      const client = signedIn(stack, mia);
      assert.deepEqual(await orgIds(client), []);
      assert.deepEqual(await memberships(client), []);
      assert.deepEqual(await userIds(client), [mia]);
      assert.deepEqual(await cardIds(client), [mia]);
      assert.deepEqual(await cardIds(signedIn(stack, ann)), [ann]);
      assert.deepEqual(await memberships(signedIn(stack, ann)), [`${acmeId} ${ann} org:admin`]);
    });
  } finally {
    await stack.close();
  }
});
