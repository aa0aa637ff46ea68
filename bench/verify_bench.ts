// Per-event CPU cost: svix verification, its WebCrypto floor, and the handler's whole in-process
// path (verify, parse, map) with a store and a logger that do nothing. Run by bench/run.ts as
// `deno bench --json`; each group's baseline is the floor.
import { createHmac } from "node:crypto";
import { Webhook } from "svix";
import { createHandler } from "../supabase/functions/clerk-webhook/handler.ts";
import type { Logger } from "../supabase/functions/_shared/log.ts";
import type { WebhookStore } from "../supabase/functions/clerk-webhook/store.ts";
import { createVerifiers, verifyClerkWebhook } from "../supabase/functions/clerk-webhook/verify.ts";
import { BENCH_SECRET, userEventBody } from "./payloads.ts";

const encoder = new TextEncoder();
const verifiers = createVerifiers([BENCH_SECRET]);
const keyBytes = Uint8Array.from(
  atob(BENCH_SECRET.slice("whsec_".length)),
  (c) => c.charCodeAt(0),
);
const hmacKey = await crypto.subtle.importKey(
  "raw",
  keyBytes,
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["sign"],
);
const noopStore: WebhookStore = { apply: () => Promise.resolve("applied") };
const noopLog: Logger = { info() {}, warn() {}, error() {} };
const handle = createHandler({ secrets: [BENCH_SECRET], store: noopStore, log: noopLog });

for (const bytes of [0, 64 * 1024]) {
  const body = userEventBody("user.updated", "user_2benchCpuCostOfOneEvent0", Date.now(), bytes);
  const group = `${(body.length / 1024).toFixed(1)} KB`;
  const id = "msg_bench_cpu";
  const now = new Date();
  const timestamp = String(Math.floor(now.getTime() / 1000));
  const signature = new Webhook(BENCH_SECRET).sign(id, now, body);
  const bodyBytes = encoder.encode(body);
  const headers = new Headers({
    "content-type": "application/json",
    "svix-id": id,
    "svix-timestamp": timestamp,
    "svix-signature": signature,
  });

  Deno.bench({
    name: "floor: WebCrypto HMAC-SHA256 + compare",
    group,
    baseline: true,
    async fn() {
      const mac = await crypto.subtle.sign(
        "HMAC",
        hmacKey,
        encoder.encode(`${id}.${timestamp}.${body}`),
      );
      if (!timingSafeEqual(`v1,${toBase64(new Uint8Array(mac))}`, signature)) {
        throw new Error("mac");
      }
    },
  });
  Deno.bench({
    name: "node:crypto HMAC-SHA256 + compare (sync)",
    group,
    fn() {
      const mac = createHmac("sha256", keyBytes).update(`${id}.${timestamp}.${body}`).digest();
      if (!timingSafeEqual(`v1,${mac.toString("base64")}`, signature)) throw new Error("mac");
    },
  });
  Deno.bench({
    name: "svix verify (verifyClerkWebhook)",
    group,
    fn() {
      verifyClerkWebhook(bodyBytes, headers, verifiers);
    },
  });
  Deno.bench({
    name: "handler: verify + parse + map, no-op store",
    group,
    async fn(b) {
      const req = new Request("http://bench.local/", { method: "POST", headers, body });
      b.start();
      const res = await handle(req);
      b.end();
      if (res.status !== 200) throw new Error(`handler answered ${res.status}`);
    },
  });
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

// Compares every character whatever the first difference, as svix's own compare does.
function timingSafeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
