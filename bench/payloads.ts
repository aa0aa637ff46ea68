// Benchmark events built with tests/support/clerk_payloads.ts: realistic user objects, padded to
// a target size with public_metadata entries (Clerk caps metadata at 8 KB: 64 KB is a stress size).
import { clerkEvent, clerkUserPayload } from "../tests/support/clerk_payloads.ts";

/** The signing secret of the in-process benchmarks. */
export const BENCH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/** One Clerk user event, ready to be signed and delivered. */
export interface BenchEvent {
  svixId: string;
  type: "user.created" | "user.updated";
  userId: string;
  /** The user's `updated_at` (epoch ms): what the row's `clerk_updated_at` must end up as. */
  updatedAt: number;
  body: string;
}

/** A Clerk user event body of at least `bytes` bytes (about 2.1 KB unpadded). */
export function userEventBody(
  type: "user.created" | "user.updated",
  id: string,
  updatedAt: number,
  bytes = 0,
): string {
  const entitlements: { id: string; granted_at: number; scope: string }[] = [];
  const publicMetadata = { plan: "pro", seats: 5, onboarded: true, entitlements };
  const build = () =>
    JSON.stringify(clerkEvent(
      type,
      clerkUserPayload({
        id,
        updatedAt,
        createdAt: updatedAt - 86_400_000,
        firstName: "Ada",
        lastName: "Lovelace",
        username: `ada_${id.slice(-8)}`,
        phone: "+15555550100",
        publicMetadata,
        privateMetadata: { stripe_customer: "cus_NffrFeUfNV2Hib" },
        unsafeMetadata: { theme: "dark" },
        externalId: "567772",
      }),
      updatedAt,
    ));
  let body = build();
  while (body.length < bytes) {
    for (let n = Math.ceil((bytes - body.length) / 64); n > 0; n--) {
      entitlements.push({
        id: `ent_${entitlements.length}`,
        granted_at: updatedAt,
        scope: "a:b:c",
      });
    }
    body = build();
  }
  return body;
}

/**
 * `users` users with a user.created then a user.updated each (`updated_at` one second later), in
 * blocks of 100 creates then their 100 updates; ids start with `prefix`.
 */
export function userEvents(prefix: string, users: number, t0 = Date.now()): BenchEvent[] {
  const events: BenchEvent[] = [];
  for (let block = 0; block < users; block += 100) {
    const ids = Array.from(
      { length: Math.min(100, users - block) },
      (_, i) => `${prefix}${block + i}`,
    );
    for (const type of ["user.created", "user.updated"] as const) {
      for (const userId of ids) {
        const updatedAt = type === "user.created" ? t0 : t0 + 1000;
        const svixId = `msg_${userId}_${type === "user.created" ? "c" : "u"}`;
        events.push({
          svixId,
          type,
          userId,
          updatedAt,
          body: userEventBody(type, userId, updatedAt),
        });
      }
    }
  }
  return events;
}
