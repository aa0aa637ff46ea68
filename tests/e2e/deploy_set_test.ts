// What `supabase functions deploy --use-api` uploads, and that it runs on its own. The pinned CLI
// deploys each function (with the README's flags) to a stand-in for Supabase's Management API,
// which keeps the multipart upload. The CLI collects the files itself, without Docker or Deno
// (supabase/cli apps/cli-go/pkg/function/deploy.go `writeForm`: the import map, the static files,
// then `ImportMap.WalkImportPaths` in deno.go, a regex walk of the entrypoint's relative imports);
// deno.json and deno.lock are not part of it. The test checks the set against Deno's own module
// graph of the uploaded entrypoint, then writes ONLY the uploaded files into an empty directory
// per function and runs each there on FUNCTION_DENO (the Edge Runtime's Deno 2.1 in the test
// command's platform pass), with the uploaded import map as the CLI's metadata names it and no
// lock, as the platform has none: a signed Clerk event is applied (through the PostgREST stand-in
// into the database) and a session token gets the caller's profile (through the Clerk API
// stand-in).
import assert from "node:assert/strict";
import { clerkEvent, clerkId, clerkUserPayload } from "../support/clerk_payloads.ts";
import { mintSessionToken } from "../support/clerk_session.ts";
import { functionDeno } from "../support/function_deno.ts";
import { EXAMPLE_USER_ID, type FunctionName, startLocalStack } from "../support/local_stack.ts";
import {
  type CapturedDeploy,
  startManagementApiStandIn,
  writeCliProfile,
} from "../support/management_api_stand_in.ts";
import { deliver, post, runId, snapshot, withSql } from "./support.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SUPABASE = `${ROOT}node_modules/.bin/supabase`;
const FUNCTIONS: FunctionName[] = ["clerk-webhook", "clerk-profile-sync"];
const decoder = new TextDecoder();

/** Runs the README's deploy command for `name` against the stand-in; returns the upload. */
async function deploy(
  name: FunctionName,
  standIn: ReturnType<typeof startManagementApiStandIn>,
  home: string,
): Promise<CapturedDeploy> {
  const profile = `${home}/profile.json`;
  await writeCliProfile(profile, standIn);
  const before = standIn.deploys.length;
  const output = await new Deno.Command(SUPABASE, {
    args: [
      "functions",
      "deploy",
      name,
      "--no-verify-jwt",
      "--use-api",
      `--remote=${standIn.projectRef}`,
      "--profile",
      profile,
      "--yes",
      "--workdir",
      ROOT,
    ],
    cwd: home,
    clearEnv: true,
    env: {
      HOME: home,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      SUPABASE_ACCESS_TOKEN: standIn.accessToken,
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = decoder.decode(output.stdout) + decoder.decode(output.stderr);
  assert.equal(output.code, 0, text);
  assert.match(text, new RegExp(`Deployed Functions on project ${standIn.projectRef}: ${name}`));
  assert.doesNotMatch(text, /deprecated/i, "no deprecation warning from the pinned CLI");
  assert.equal(standIn.deploys.length, before + 1, `one upload for ${name}\n${text}`);
  return standIn.deploys[before];
}

/** Writes the uploaded files below `dir`, each at the path it was uploaded under. */
async function writeUpload(dir: string, upload: CapturedDeploy): Promise<void> {
  for (const file of upload.files) {
    assert.ok(
      !file.name.startsWith("/") && !file.name.split("/").includes(".."),
      `uploaded path ${file.name} stays inside the project`,
    );
    const path = `${dir}/${file.name}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, file.bytes);
  }
}

/** The local modules of Deno's graph of the entrypoint in `dir`, as paths below `dir`. */
async function localGraph(dir: string, importMap: string, entrypoint: string): Promise<string[]> {
  const deno = functionDeno();
  const output = await new Deno.Command(deno.path, {
    args: ["info", "--json", "--no-config", "--no-lock", `--import-map=${importMap}`, entrypoint],
    cwd: dir,
    env: { ...deno.env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, decoder.decode(output.stderr));
  const info = JSON.parse(decoder.decode(output.stdout)) as {
    modules: { specifier: string; error?: string }[];
  };
  const broken = info.modules.filter((m) => m.error).map((m) => `${m.specifier}: ${m.error}`);
  assert.deepEqual(broken, [], "every module of the uploaded graph resolves");
  const base = new URL(`file://${dir}/`).href;
  return info.modules
    .filter((m) => m.specifier.startsWith("file:"))
    .map((m) => m.specifier.slice(base.length))
    .sort();
}

Deno.test("supabase functions deploy --use-api uploads each function's whole graph, and it runs on its own", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "clerk-sync-deploy-" });
  const standIn = startManagementApiStandIn();
  const uploads = new Map<FunctionName, CapturedDeploy>();
  try {
    for (const name of FUNCTIONS) {
      await t.step(`${name}: the upload is the entrypoint's graph and the import map`, async () => {
        const home = `${work}/home-${name}`;
        await Deno.mkdir(home);
        const upload = await deploy(name, standIn, home);
        uploads.set(name, upload);
        assert.equal(upload.slug, name);
        assert.equal(upload.bundleOnly, false);
        assert.deepEqual(upload.metadata, {
          entrypoint_path: `supabase/functions/${name}/index.ts`,
          import_map_path: "import_map.json",
          static_patterns: [],
          verify_jwt: false,
          name,
        });
        const names = upload.files.map((f) => f.name);
        assert.equal(new Set(names).size, names.length, "no file uploaded twice");
        for (const file of upload.files) {
          assert.ok(
            file.name === "import_map.json" || file.name.startsWith("supabase/functions/"),
            `only function code and the import map leave the machine, not ${file.name}`,
          );
          assert.deepEqual(file.bytes, await Deno.readFile(`${ROOT}${file.name}`), file.name);
        }
        for (const absent of ["deno.json", "deno.lock", "package.json", ".env"]) {
          assert.ok(!names.includes(absent), `${absent} is not uploaded`);
        }

        const dir = `${work}/${name}`;
        await writeUpload(dir, upload);
        const graph = await localGraph(
          dir,
          upload.metadata.import_map_path!,
          upload.metadata.entrypoint_path,
        );
        const missing = graph.filter((path) => !names.includes(path));
        assert.deepEqual(missing, [], "every local module of the graph was uploaded");
        assert.ok(graph.includes(`supabase/functions/${name}/index.ts`));
      });
    }
    if (uploads.size !== FUNCTIONS.length) return;
    const version = functionDeno().version;

    const stack = await startLocalStack({
      functionRun: (name) => {
        const { metadata } = uploads.get(name)!;
        return {
          cwd: `${work}/${name}`,
          args: [
            "run",
            "--allow-net",
            "--allow-env",
            "--no-config",
            "--no-lock",
            `--import-map=${metadata.import_map_path}`,
            metadata.entrypoint_path,
          ],
        };
      },
    });
    try {
      await withSql(stack.databaseUrl, async (sql) => {
        await t.step(
          `the uploaded clerk-webhook on Deno ${version} applies a signed user.created`,
          async () => {
            const userId = `user_deploy${runId()}`;
            const at = Date.now() - 1000;
            const user = clerkUserPayload({
              id: userId,
              createdAt: at,
              updatedAt: at,
              firstName: "Deployed",
              lastName: "Set",
              email: `${userId.toLowerCase()}@example.com`,
            });
            const body = JSON.stringify(clerkEvent("user.created", user, at));
            const answer = await deliver(stack, { msgId: clerkId("msg"), body });
            assert.equal(answer.status, 200, answer.text);
            assert.equal(answer.body.status, "applied", answer.text);
            const [row] = (await snapshot(sql, userId)).profiles;
            assert.equal(row?.first_name, "Deployed");
          },
        );

        await t.step(
          `the uploaded clerk-profile-sync on Deno ${version} gets the caller's profile`,
          async () => {
            const token = await mintSessionToken(stack.clerkSigningKey!, EXAMPLE_USER_ID);
            const answer = await post(stack.profileSyncUrl, {
              headers: { authorization: `Bearer ${token}` },
              body: "",
            });
            assert.equal(answer.status, 200, answer.text);
            const profile = answer.body.profile as Record<string, unknown>;
            assert.equal(profile.user_id, EXAMPLE_USER_ID);
            assert.equal(profile.first_name, "Example");
            const [row] = (await snapshot(sql, EXAMPLE_USER_ID)).profiles;
            assert.equal(row?.email, "example@example.org");
          },
        );
      });
    } finally {
      await stack.close();
    }
  } finally {
    await standIn.close();
    await Deno.remove(work, { recursive: true });
  }
});
