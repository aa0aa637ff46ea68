// The steps from the relay floor (bench/relay_server.ts) to the function, one server per step,
// for bench/cpu_gap_bench.ts: each receives the mapped arguments of `public.sync_clerk_user`
// and makes the same RPC. VARIANT: `fetch` (the relay), `fetch+logs` (plus three log lines per
// request, as the function writes), `supabase-js` (the function's own RPC call,
// `callRpc` of supabase/functions/_shared/rpc.ts, instead of fetch), `supabase-js+logs`, and
// `verify+map`: that, receiving the signed delivery instead, verified and mapped by the
// function's own modules (verify.ts, clerk_event.ts) without its HTTP edge (handler.ts).
import { createClient } from "@supabase/supabase-js";
import { parseClerkEvent } from "../supabase/functions/clerk-webhook/clerk_event.ts";
import { createVerifiers, verifyClerkWebhook } from "../supabase/functions/clerk-webhook/verify.ts";
import { callRpc } from "../supabase/functions/_shared/rpc.ts";

const key = Deno.env.get("SUPABASE_SERVICE_ROLE_KEY") ?? "";
const base = Deno.env.get("SUPABASE_URL") ?? "";
const variant = Deno.env.get("VARIANT") ?? "fetch";
const port = Number(Deno.env.get("PORT") ?? "8000");
const target = `${base}/rest/v1/rpc/sync_clerk_user`;
const headers = { "content-type": "application/json", apikey: key, authorization: `Bearer ${key}` };
const client = createClient(base, key, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
});
const logs = variant.endsWith("+logs") || variant === "verify+map";
const verifiers = createVerifiers([Deno.env.get("CLERK_WEBHOOK_SECRET") ?? ""]);
// Lines of the function's shape and length (supabase/functions/clerk-webhook/handler.ts).
const user = "user_r1_func_u1234";

Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, async (req) => {
  const body = variant === "verify+map" ? mappedArgs(req, await req.bytes()) : await req.text();
  if (logs) {
    console.log(`Webhook received: user.updated for user: ${user}`);
    console.log(`Syncing profile for ${user} (Ada Lovelace)`);
  }
  let answer: Response;
  if (variant.startsWith("fetch")) {
    const res = await fetch(target, { method: "POST", headers, body });
    answer = new Response(await res.text(), {
      status: res.status,
      headers: { "content-type": "application/json" },
    });
  } else {
    const data = await callRpc(client, "sync_clerk_user", JSON.parse(body), 8000);
    answer = Response.json(data);
  }
  if (logs) console.log(`Successfully synced profile for user ${user}`);
  return answer;
});

// The RPC's arguments from a signed delivery, as the function's handler derives them.
function mappedArgs(req: Request, bytes: Uint8Array): string {
  const delivery = verifyClerkWebhook(bytes, req.headers, verifiers);
  const event = parseClerkEvent(delivery.body, delivery.id, delivery.timestamp);
  if (event.kind !== "user") throw new Error("not a user event");
  return JSON.stringify({
    p_svix_id: event.svixId,
    p_event_type: event.type,
    p_user_id: event.userId,
    p_occurred_at: event.occurredAt,
    p_profile: event.profile,
  });
}
