/// <reference lib="deno.worker" />
// Posts deliveries from a Worker: the local stack serves the PostgREST stand-in on the main
// thread, and the load must not queue behind it (nor it behind the load) on one event loop.
import { svixHeaders } from "../tests/support/clerk_payloads.ts";
import { type LoadResult, type LoadSample, runLoad, summarize } from "./load.ts";
import { threadCpuMs } from "./procfs.ts";

/** Deliveries are signed this many at a time, just before they are sent (Svix allows 5 min). */
const SIGN_CHUNK = 5000;

/** One HTTP POST of a load job. */
export interface Delivery {
  body: string;
  /** Fixed headers (the stand-in's), or none when the job signs the delivery. */
  headers?: Record<string, string>;
  /** The `svix-id` to sign with. */
  svixId?: string;
}

/** What the worker is asked to do. */
export interface HttpLoadJob {
  url: string;
  concurrency: number;
  deliveries: Delivery[];
  /** Sign each delivery with this Clerk signing secret (outside the timed part). */
  secret?: string;
}

/** What the worker answers: the load's figures and the CPU time of its timed parts. */
export interface HttpLoadResult extends LoadResult {
  clientCpuMs: number;
}

type Signed = { headers: Record<string, string>; body: string };

self.onmessage = async (event: MessageEvent<HttpLoadJob>) => {
  const { url, concurrency, deliveries, secret } = event.data;
  const samples: LoadSample[] = [];
  let clientCpuMs = 0;
  for (let at = 0; at < deliveries.length; at += SIGN_CHUNK) {
    const chunk: Signed[] = deliveries.slice(at, at + SIGN_CHUNK).map((d) => ({
      body: d.body,
      headers: secret ? svixHeaders(secret, d.body, { msgId: d.svixId }) : d.headers ?? {},
    }));
    const cpuBefore = threadCpuMs();
    samples.push(await runLoad(chunk, concurrency, (d) => post(url, d)));
    clientCpuMs += threadCpuMs() - cpuBefore;
  }
  const answer: HttpLoadResult = { ...summarize(samples, concurrency), clientCpuMs };
  self.postMessage(answer);
};

async function post(url: string, { headers, body }: Signed): Promise<string> {
  const res = await fetch(url, { method: "POST", headers, body });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
  // The function answers {"status": ...}, the stand-in and the relay the SQL function's text as
  // a JSON string, the peer plain text ("Webhook received").
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text.slice(0, 40);
  }
  if (typeof value === "string") return value;
  return String((value as { status?: unknown } | null)?.status);
}
