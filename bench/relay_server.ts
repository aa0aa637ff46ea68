// The relay floor of `npm run bench` (`relay` in its tables): a `Deno.serve` that forwards the
// body it receives, the arguments of `public.sync_clerk_user` already mapped, to the PostgREST
// stand-in's `/rest/v1/rpc/sync_clerk_user` with `fetch` and the service-role key, and answers
// what the stand-in answered. No verification, no parsing, no mapping, no log line: the least a
// function process must do to turn a delivery into that RPC. Run like the function, as its own
// `deno run` process, with SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY and PORT.
const key = Deno.env.get("SUPABASE_SERVICE_ROLE_KEY") ?? "";
const target = `${Deno.env.get("SUPABASE_URL")}/rest/v1/rpc/sync_clerk_user`;
const headers = { "content-type": "application/json", apikey: key, authorization: `Bearer ${key}` };
const port = Number(Deno.env.get("PORT") ?? "8000");

Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, async (req) => {
  const res = await fetch(target, { method: "POST", headers, body: await req.text() });
  return new Response(await res.text(), {
    status: res.status,
    headers: { "content-type": "application/json" },
  });
});
