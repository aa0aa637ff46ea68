// Organization-scoped RLS (a benchmark, not a test): the cost of the policy an app puts on its own
// org-scoped tables with this project's helper, `using (org_id in (select clerk_rls.org_ids()))`,
// on a `documents` table of 100,000 rows across 1,000 organizations. The same select runs as a
// member (authenticated, the policy applies) and as service_role (BYPASSRLS: the plain
// `where org_id = ...` alone), in interleaved pairs on one connection; the ratio is member ÷
// plain. Target: within 1.5x, which holds only if the helper runs once per statement, not once
// per row (a per-row call of a SECURITY DEFINER function costs ~100x more on 100 rows).
// Then the co-member read: one organization's memberships joined to the members' cards
// (public.profile_cards), where the member's select goes through both tables' policies.
//
// Run alone: deno run -A --frozen bench/org_rls_bench.ts [pairs]
import postgres from "postgres";
import { startCluster } from "../tests/support/pg_cluster.ts";
import { formatRatio, type RatioSummary, summarizeRatios } from "./ratio.ts";

/** What one run measured. */
export interface OrgRlsBenchResult {
  rows: number;
  organizations: number;
  /** Rows one select returns (one organization's documents). */
  rowsPerSelect: number;
  selectsPerPair: number;
  /** Microseconds per select, per pair. */
  plainMicros: number[];
  memberMicros: number[];
  /** member ÷ plain per pair, median and spread; target <= 1.5. */
  ratio: RatioSummary;
  /** The member's plan: the policy's sub-select is an (hashed) SubPlan evaluated once. */
  plan: string[];
  /** The co-member read: the cards of one organization's members (profile_cards). */
  cards: {
    rowsPerSelect: number;
    plainMicros: number[];
    memberMicros: number[];
    /**
     * member ÷ plain per pair, for context: one clerk_rls.co_member_ids() per statement, the
     * policy co-members' profiles had before the cards (measured at the same cost).
     */
    ratio: RatioSummary;
    plan: string[];
  };
}

const ROWS = 100_000;
const ORGANIZATIONS = 1_000;
const SELECTS = 3_000;
const MEMBER = "user_bench_member";

/** Builds the table on a fresh cluster, runs `pairs` interleaved pairs, removes the cluster. */
export async function runOrgRlsBench(pairs = 3): Promise<OrgRlsBenchResult> {
  const cluster = await startCluster();
  const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`
      create table public.documents (
        id bigint generated always as identity primary key,
        org_id text not null references public.organizations (org_id) on delete cascade,
        title text not null,
        body text not null
      );
      create index documents_org_id_idx on public.documents (org_id);
      alter table public.documents enable row level security;
      revoke all on public.documents from anon, authenticated, service_role;
      grant select on public.documents to authenticated, service_role;
      create policy "Members can read their organizations' documents"
        on public.documents for select to authenticated
        using (org_id in (select clerk_rls.org_ids()));
      insert into public.organizations (org_id, name, clerk_updated_at)
        select 'org_bench' || g, 'Organization ' || g, now()
        from generate_series(1, ${ORGANIZATIONS}) g;
      insert into public.documents (org_id, title, body)
        select 'org_bench' || (g % ${ORGANIZATIONS} + 1), 'Document ' || g, repeat('x', 200)
        from generate_series(1, ${ROWS}) g;
      -- 20 members per organization; the member belongs to three of them.
      insert into public.organization_memberships
        (org_id, user_id, membership_id, role, clerk_created_at, clerk_updated_at)
        select 'org_bench' || (g % ${ORGANIZATIONS} + 1), 'user_bench' || g, 'orgmem_bench' || g,
          'org:member', now(), now()
        from generate_series(1, ${ORGANIZATIONS * 20}) g;
      -- Every member has a profile (and so a card, written by the profiles triggers).
      insert into public.profiles (user_id, email, phone, first_name, last_name, image_url,
          clerk_updated_at)
        select 'user_bench' || g, 'user' || g || '@example.com', '+1555' || g, 'First' || g,
          'Last' || g, 'https://img.clerk.com/' || g, now()
        from generate_series(1, ${ORGANIZATIONS * 20}) g;
      insert into public.profiles (user_id, email, clerk_updated_at)
        values ('${MEMBER}', 'member@example.com', now());
      insert into public.organization_memberships
        (org_id, user_id, membership_id, role, clerk_created_at, clerk_updated_at)
        values ('org_bench7', '${MEMBER}', 'orgmem_m1', 'org:admin', now(), now()),
               ('org_bench70', '${MEMBER}', 'orgmem_m2', 'org:member', now(), now()),
               ('org_bench700', '${MEMBER}', 'orgmem_m3', 'org:member', now(), now());
      analyze;
    `);
    const query = "select id, title from public.documents where org_id = $1";
    const asMember = `set local role authenticated; set local request.jwt.claims = ` +
      `'{"sub":"${MEMBER}","role":"authenticated"}'`;
    const asService = `set local role service_role; set local request.jwt.claims = ` +
      `'{"role":"service_role"}'`;

    const pass = (setup: string) => timedPass(sql, setup, query);
    // The app's "people of this organization" read: its memberships joined to their cards.
    const cardQuery = "select c.user_id, c.first_name, c.last_name, c.image_url, m.role " +
      "from public.organization_memberships m " +
      "join public.profile_cards c on c.user_id = m.user_id where m.org_id = $1";
    const cardPass = (setup: string) => timedPass(sql, setup, cardQuery);

    const plainMicros: number[] = [];
    const memberMicros: number[] = [];
    let rowsPerSelect = 0;
    // An untimed pair first: caches, plans and the connection warm for both sides.
    await pass(asService);
    await pass(asMember);
    for (let i = 0; i < pairs; i++) {
      const plain = await pass(asService);
      const member = await pass(asMember);
      if (plain.rows !== member.rows) {
        throw new Error(`the member saw ${member.rows} rows, the plain select ${plain.rows}`);
      }
      rowsPerSelect = member.rows;
      plainMicros.push(plain.micros);
      memberMicros.push(member.micros);
    }
    const cardPlain: number[] = [];
    const cardMember: number[] = [];
    let cardRows = 0;
    await cardPass(asService);
    await cardPass(asMember);
    for (let i = 0; i < pairs; i++) {
      const plain = await cardPass(asService);
      const member = await cardPass(asMember);
      if (plain.rows !== member.rows) {
        throw new Error(`the member saw ${member.rows} cards, the plain select ${plain.rows}`);
      }
      cardRows = member.rows;
      cardPlain.push(plain.micros);
      cardMember.push(member.micros);
    }
    const explain = (q: string) =>
      sql.begin(async (tx) => {
        await tx.unsafe(asMember);
        const rows = await tx.unsafe(`explain analyze ${q.replace("$1", "'org_bench7'")}`);
        return rows.map((row) => String(row["QUERY PLAN"]));
      });
    const plan = await explain(query);
    const cardPlan = await explain(cardQuery);
    return {
      rows: ROWS,
      organizations: ORGANIZATIONS,
      rowsPerSelect,
      selectsPerPair: SELECTS,
      plainMicros,
      memberMicros,
      ratio: summarizeRatios(memberMicros.map((m, i) => m / plainMicros[i])),
      plan,
      cards: {
        rowsPerSelect: cardRows,
        plainMicros: cardPlain,
        memberMicros: cardMember,
        ratio: summarizeRatios(cardMember.map((m, i) => m / cardPlain[i])),
        plan: cardPlan,
      },
    };
  } finally {
    await sql.end();
    await cluster.destroy();
  }
}

// One pass: `SELECTS` selects of the member's organization in one transaction, after a warm-up.
async function timedPass(
  sql: postgres.Sql,
  setup: string,
  query: string,
): Promise<{ micros: number; rows: number }> {
  return await sql.begin(async (tx) => {
    await tx.unsafe(setup);
    let rows = 0;
    for (let i = 0; i < 300; i++) rows = (await tx.unsafe(query, ["org_bench7"])).length;
    const started = performance.now();
    for (let i = 0; i < SELECTS; i++) await tx.unsafe(query, ["org_bench7"], { prepare: true });
    return { micros: ((performance.now() - started) / SELECTS) * 1000, rows };
  });
}

/** The figures as `npm run bench` prints them. */
export function formatOrgRlsReport(r: OrgRlsBenchResult): string {
  const pairs = r.plainMicros.map((p, i) =>
    `  ${String(i + 1).padStart(4)}  ${p.toFixed(0).padStart(11)}  ${
      r.memberMicros[i].toFixed(0).padStart(12)
    }  ${(r.memberMicros[i] / p).toFixed(2).padStart(5)}`
  );
  return [
    `Org-scoped RLS: ${r.rows.toLocaleString("en-US")} documents across ` +
    `${r.organizations.toLocaleString("en-US")} organizations, ${r.rowsPerSelect} rows per ` +
    `select, ${r.selectsPerPair} selects per pass`,
    "  pair  plain µs/sel  member µs/sel  ratio",
    "  ----  ------------  -------------  -----",
    ...pairs,
    `  member ÷ plain: ${formatRatio(r.ratio)} (target <= 1.5)`,
    "  member's plan:",
    ...r.plan.map((line) => `    ${line}`),
    `Co-member cards: an organization's memberships joined to profile_cards, ` +
    `${r.cards.rowsPerSelect} rows per select (policies of both tables for the member)`,
    "  pair  plain µs/sel  member µs/sel  ratio",
    "  ----  ------------  -------------  -----",
    ...r.cards.plainMicros.map((p, i) =>
      `  ${String(i + 1).padStart(4)}  ${p.toFixed(0).padStart(11)}  ${
        r.cards.memberMicros[i].toFixed(0).padStart(12)
      }  ${(r.cards.memberMicros[i] / p).toFixed(2).padStart(5)}`
    ),
    `  member ÷ plain: ${formatRatio(r.cards.ratio)} (context: one co_member_ids() per select)`,
    "  member's plan:",
    ...r.cards.plan.map((line) => `    ${line}`),
  ].join("\n");
}

if (import.meta.main) {
  const pairs = Deno.args[0] ? Number(Deno.args[0]) : 5;
  if (!Number.isInteger(pairs) || pairs < 3) {
    console.error("pairs: a whole number, at least 3");
    Deno.exit(2);
  }
  console.log(formatOrgRlsReport(await runOrgRlsBench(pairs)));
}
