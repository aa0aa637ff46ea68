/**
 * Carries out a plan (scripts/add_to/plan.ts) in the user's project, in order, the manifest
 * last. Each write first checks that the file is still as the plan saw it, so nothing the user
 * changed in between is overwritten; a changed file replaces the old one by rename.
 */
import { posix } from "node:path";
import { readTextFileIfExists } from "../../backfill/optional_file.ts";
import type { Operation } from "./plan.ts";

/** A write failed or found a file changed since planning; `done` lists what was written. */
export class ApplyError extends Error {
  override name = "ApplyError";
  constructor(message: string, readonly done: readonly Operation[]) {
    super(message);
  }
}

/** Applies `operations` under `root`; throws {@linkcode ApplyError} on the first failure. */
export async function applyPlan(root: string, operations: readonly Operation[]): Promise<void> {
  const done: Operation[] = [];
  for (const op of operations) {
    const file = `${root}/${op.path}`;
    try {
      const current = await readTextFileIfExists(file);
      if (current !== op.before) {
        throw new ApplyError(`${op.path} changed while add-to ran`, done);
      }
      if (op.kind === "delete") {
        await Deno.remove(file);
      } else if (op.kind === "create") {
        await Deno.mkdir(posix.dirname(file), { recursive: true });
        await Deno.writeTextFile(file, op.content, { createNew: true });
      } else {
        const mode = ((await Deno.stat(file)).mode ?? 0o644) & 0o777;
        const temporary = `${file}.add-to-${crypto.randomUUID().slice(0, 8)}`;
        await Deno.writeTextFile(temporary, op.content, { createNew: true, mode });
        try {
          await Deno.rename(temporary, file);
        } catch (error) {
          await Deno.remove(temporary).catch(() => {});
          throw error;
        }
      }
      done.push(op);
    } catch (error) {
      if (error instanceof ApplyError) throw error;
      const why = error instanceof Error ? error.message : String(error);
      throw new ApplyError(`could not ${op.kind} ${op.path}: ${why}`, done);
    }
  }
}
