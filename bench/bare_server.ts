// The start-up floor: a bare Deno.serve that answers 200, started the same way as the function.
const port = Number(Deno.env.get("PORT") ?? "8000");
Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, () => new Response("ok"));
