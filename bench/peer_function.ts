// The peer baseline of `npm run bench` (`peer` in its tables): the Clerk-to-Supabase webhook
// handler that users copy from Clerk's and Supabase's guides and the posts that follow them (for
// one, clerk.com/blog/sync-clerk-user-data-to-supabase, 2025-06-06: Clerk webhooks into a
// Supabase Function). It verifies with svix's `Webhook.verify` on the raw body, then writes with
// the service-role supabase-js client: `.from("profiles").upsert(row)` on user.created and
// user.updated, `.delete().eq("user_id", id)` on user.deleted, served by `Deno.serve` in its own
// `deno run` process. No deduplication, no ordering, a hard delete. It writes the columns the
// function writes (the primary email taken as the first address, as the guides do; every bench
// user has one), so a row it leaves differs from Clerk's only through what it does not guard
// against. Benchmark code, not a model: the project's function is
// `supabase/functions/clerk-webhook/`.
import { createClient } from "@supabase/supabase-js";
import { Webhook } from "svix";

const supabase = createClient(
  Deno.env.get("SUPABASE_URL") ?? "",
  Deno.env.get("SUPABASE_SERVICE_ROLE_KEY") ?? "",
);
const webhook = new Webhook(Deno.env.get("CLERK_WEBHOOK_SECRET") ?? "");
const port = Number(Deno.env.get("PORT") ?? "8000");

Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, async (req) => {
  const payload = await req.text();
  const headers = {
    "svix-id": req.headers.get("svix-id") ?? "",
    "svix-timestamp": req.headers.get("svix-timestamp") ?? "",
    "svix-signature": req.headers.get("svix-signature") ?? "",
  };
  let evt;
  try {
    webhook.verify(payload, headers);
    evt = JSON.parse(payload);
  } catch (err) {
    console.error("Error verifying webhook:", err);
    return new Response("Error verifying webhook", { status: 400 });
  }
  const { id } = evt.data;
  console.log(`Received webhook with ID ${id} and event type of ${evt.type}`);

  if (evt.type === "user.created" || evt.type === "user.updated") {
    const user = evt.data;
    const { error } = await supabase.from("profiles").upsert({
      user_id: user.id,
      email: user.email_addresses[0]?.email_address ?? null,
      phone: user.phone_numbers[0]?.phone_number ?? null,
      first_name: user.first_name,
      last_name: user.last_name,
      username: user.username,
      image_url: user.image_url,
      public_metadata: user.public_metadata,
      clerk_created_at: new Date(user.created_at).toISOString(),
      clerk_updated_at: new Date(user.updated_at).toISOString(),
    });
    if (error) {
      console.error("Error upserting profile:", error);
      return new Response("Error upserting profile", { status: 500 });
    }
  } else if (evt.type === "user.deleted") {
    const { error } = await supabase.from("profiles").delete().eq("user_id", id);
    if (error) {
      console.error("Error deleting profile:", error);
      return new Response("Error deleting profile", { status: 500 });
    }
  }
  return new Response("Webhook received", { status: 200 });
});
