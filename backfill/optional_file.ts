/** Reading a file that need not exist yet, such as a state file before the first run. */

/** The file's text, or null when there is no file at `path`; other errors are thrown. */
export async function readTextFileIfExists(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
