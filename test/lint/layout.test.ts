import { ESLint } from "eslint";
import { beforeAll, describe, expect, it } from "vitest";

/**
 * DESIGN.md's Layout is enforced by the project's eslint config: each case lints a one-line file
 * placed in a folder and says which rule, if any, must refuse it.
 */
const cases: Array<{ file: string; code: string; refused: "imports" | "syntax" | null }> = [
  // lib/ is below everything
  { file: "src/lib/x.ts", code: `import { Subjects } from "../protocol/index.js";`, refused: "imports" },
  // protocol/ imports only lib
  { file: "src/protocol/x.ts", code: `import { log } from "../lib/log.js";`, refused: null },
  { file: "src/protocol/x.ts", code: `import type { Entry } from "../client/index.js";`, refused: "imports" },
  // client/ is the transport: protocol and lib only
  { file: "src/client/x.ts", code: `import { decode } from "../protocol/index.js";`, refused: null },
  {
    file: "src/client/x.ts",
    code: `import { createDashStore } from "../store/index.js";`,
    refused: "imports",
  },
  { file: "src/client/x.ts", code: `import { Worker } from "../agent/worker.js";`, refused: "imports" },
  // agent and controller never import each other, nor the dashboard
  {
    file: "src/agent/x.ts",
    code: `import { Operations } from "../controller/operations.js";`,
    refused: "imports",
  },
  {
    file: "src/controller/decide/x.ts",
    code: `import type { Worker } from "../../agent/worker.js";`,
    refused: "imports",
  },
  { file: "src/controller/x.ts", code: `import { VIEWS } from "../views/index.js";`, refused: "imports" },
  {
    file: "src/agent/sources/x.ts",
    code: `import type { DashStore } from "../../store/index.js";`,
    refused: "imports",
  },
  { file: "src/agent/x.ts", code: `import { useNow } from "../hooks/useNow.js";`, refused: "imports" },
  { file: "src/agent/x.ts", code: `import { WorkQueue } from "../client/index.js";`, refused: null },
  { file: "src/controller/x.ts", code: `import { isMeta } from "../gallery/index.js";`, refused: null },
  // the dashboard's layers only point down
  { file: "src/store/x.ts", code: `import { VIEWS } from "../views/index.js";`, refused: "imports" },
  { file: "src/hooks/x.ts", code: `import { ClusterClient } from "../client/index.js";`, refused: "imports" },
  { file: "src/components/x.tsx", code: `import { App } from "../app.js";`, refused: "imports" },
  { file: "src/app.tsx", code: `import { main } from "./cli/main.js";`, refused: "imports" },
  { file: "src/app/x.ts", code: `import { Agent } from "../agent/agent.js";`, refused: "imports" },
  { file: "src/app/x.ts", code: `import { VIEWS } from "../views/index.js";`, refused: null },
  { file: "src/gallery/x.ts", code: `import { log } from "../lib/log.js";`, refused: null },
  {
    file: "src/gallery/x.ts",
    code: `import { ClusterClient } from "../client/index.js";`,
    refused: "imports",
  },
  // nothing imports from test/
  {
    file: "src/cli/x.ts",
    code: `import { FakeNode } from "../../test/controller/fake-node.js";`,
    refused: "imports",
  },
  // chaos/ drives real processes with the harness, and only with it
  {
    file: "chaos/scenarios/x.ts",
    code: `import { NatsServer } from "../../test/harness/nats-server.js";`,
    refused: null,
  },
  {
    file: "chaos/lib/x.ts",
    code: `import { localaiList } from "../../test/agent/localai.js";`,
    refused: null,
  },
  {
    file: "chaos/scenarios/x.ts",
    code: `import { FakeNode } from "../../test/controller/fake-node.js";`,
    refused: "imports",
  },
  // the raw connection stays inside the transport
  { file: "src/controller/x.ts", code: `export const f = (c: { nc: unknown }) => c.nc;`, refused: "syntax" },
  { file: "src/agent/x.ts", code: `export const f = (c: { jsm: unknown }) => c.jsm;`, refused: "syntax" },
  { file: "src/client/x.ts", code: `export const f = (c: { js: unknown }) => c.js;`, refused: null },
  {
    file: "src/agent/x.ts",
    code: `export const f = (d: { client: { publish(s: string, v: unknown): void } }) => d.client.publish("s", 1);`,
    refused: "syntax",
  },
  {
    file: "src/controller/x.ts",
    code: `export const f = (client: { publish(s: string, v: unknown): void }) => client.publish("s", 1);`,
    refused: "syntax",
  },
  {
    file: "src/controller/x.ts",
    code: `export const f = (work: { publish(n: string, o: string): void }) => work.publish("n", "o");`,
    refused: null,
  },
];

describe("the layout rules of DESIGN.md are enforced by eslint", () => {
  let eslint: ESLint;
  beforeAll(() => {
    eslint = new ESLint({ cwd: process.cwd() });
  });

  it.each(cases)("$file: $code -> refused by $refused", async ({ file, code, refused }) => {
    const [result] = await eslint.lintText(`${code}\n`, { filePath: file });
    const rules = (result?.messages ?? []).map((m) => m.ruleId);
    expect(rules.filter((r) => r === "no-restricted-imports" || r === "no-restricted-syntax")).toEqual(
      refused === null ? [] : [refused === "imports" ? "no-restricted-imports" : "no-restricted-syntax"],
    );
  });
});
