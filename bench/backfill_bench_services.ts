// The remote services of bench/backfill_bench.ts, in a worker of their own: Clerk's Backend API
// (the stand-in, holding the users) and Supabase's PostgREST (the stand-in, served over HTTP).
// In production both run on other machines; here their CPU time is kept off the backfill's
// thread, as it is off the backfill's process in production.
/// <reference lib="deno.worker" />
import {
  fakeClerkUser,
  type PagingCost,
  startClerkApiStandIn,
} from "../tests/support/clerk_api_stand_in.ts";
import { createPostgrestStandIn } from "../tests/support/postgrest_stand_in.ts";

/** Sent by the benchmark to start the services. */
export interface ServicesStart {
  users: number;
  databaseUrl: string;
  jwtSecret: string;
  secretKey: string;
  /** The Clerk stand-in's paging cost model (default: its default). */
  paging?: Partial<PagingCost>;
}

/** Answered once the services listen. */
export interface ServicesReady {
  clerkUrl: string;
  clerkSecretKey: string;
  supabaseUrl: string;
}

let stop: (() => Promise<void>) | null = null;

self.onmessage = async (event: MessageEvent<ServicesStart | "close">) => {
  if (event.data === "close") {
    await stop?.();
    self.postMessage("closed");
    return;
  }
  const { users, databaseUrl, jwtSecret, secretKey, paging } = event.data;
  const clerk = startClerkApiStandIn({ paging });
  for (let i = 1; i <= users; i++) clerk.put(fakeClerkUser(i));
  const rest = createPostgrestStandIn({ databaseUrl, jwtSecret, secretKeys: [secretKey] });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, rest.handler);
  stop = async () => {
    await server.shutdown();
    await clerk.close();
    await rest.close();
  };
  const ready: ServicesReady = {
    clerkUrl: clerk.url,
    clerkSecretKey: clerk.secretKey,
    supabaseUrl: `http://127.0.0.1:${server.addr.port}`,
  };
  self.postMessage(ready);
};
