/** Reads a listing page after page, one page ahead of its consumer. */
import type { ClerkListing, ClerkObject, Cursor, Page } from "./clerk_source.ts";

/**
 * Yields the pages after `cursor`, reading the next page while the caller works on the current
 * one. Stops after the last page, or before reading more once `signal` is aborted.
 */
export async function* readPages<T extends ClerkObject>(
  listing: ClerkListing<T>,
  cursor: Cursor,
  signal?: AbortSignal,
): AsyncGenerator<Page<T>> {
  let pending: Promise<Page<T>> | null = handled(listing.next(cursor));
  try {
    while (pending) {
      const page: Page<T> = await pending;
      pending = null;
      if (!page.last && !signal?.aborted) pending = handled(listing.next(page.cursor));
      yield page;
    }
  } finally {
    // The caller stopped early (interrupt, error): let the read-ahead settle, never leak it.
    if (pending) await pending.catch(() => {});
  }
}

/** Marks a promise that may reject before anyone awaits it as handled; the await rethrows. */
export function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
