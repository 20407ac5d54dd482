import { describe, expect, it } from "vitest";
import type { z } from "zod";
import * as P from "../../src/protocol/index.js";
import * as X from "../fixtures/records.js";

/** Every record schema with a valid example, and the id-like fields it carries. */
const cases: Array<{
  name: string;
  schema: z.ZodType;
  example: Record<string, unknown>;
  idField?: string;
  textField?: string;
}> = [
  { name: "Heartbeat", schema: P.Heartbeat, example: X.heartbeat, idField: "nodeId", textField: "name" },
  {
    name: "NodeRecord",
    schema: P.NodeRecord,
    example: X.nodeRecord,
    idField: "id",
    textField: "statusReason",
  },
  { name: "Inventory", schema: P.Inventory, example: X.inventory, idField: "nodeId" },
  { name: "OpRecord", schema: P.OpRecord, example: X.opRecord, idField: "id", textField: "error" },
  { name: "WorkItem", schema: P.WorkItem, example: X.workItem, idField: "opId" },
  { name: "CancelSignal", schema: P.CancelSignal, example: X.cancelSignal, idField: "nodeId" },
  { name: "ProgressEvent", schema: P.ProgressEvent, example: X.progressEvent, idField: "opId" },
  { name: "UpgradeInfo", schema: P.UpgradeInfo, example: X.upgradeInfo, textField: "installedVersion" },
  { name: "Settings", schema: P.Settings, example: X.settings, textField: "updatedBy" },
  { name: "Lease", schema: P.Lease, example: X.lease, textField: "holder" },
  { name: "AuditEvent", schema: P.AuditEvent, example: X.auditEvent, idField: "opId", textField: "message" },
];

describe("record schemas", () => {
  for (const c of cases) {
    describe(c.name, () => {
      it("accepts its valid example, also after a JSON round trip", () => {
        expect(P.decode(c.schema, JSON.stringify(c.example))).toMatchObject({ ok: true });
        expect(P.validate(c.schema, c.example).ok).toBe(true);
      });

      it("rejects truncated JSON", () => {
        const json = JSON.stringify(c.example);
        const r = P.decode(c.schema, json.slice(0, Math.floor(json.length / 2)));
        expect(r).toMatchObject({ ok: false });
        expect(!r.ok && r.error).toMatch(/not JSON/);
      });

      it("rejects an unknown schema version and says so", () => {
        const r = P.validate(c.schema, { ...c.example, v: 2 });
        expect(r.ok).toBe(false);
        expect(!r.ok && r.error).toMatch(/^v: unsupported schema version/);
        expect(P.validate(c.schema, { ...c.example, v: undefined }).ok).toBe(false);
      });

      it("rejects wrong types", () => {
        const key = Object.keys(c.example).find((k) => typeof c.example[k] === "number" && k !== "v");
        const wrong = key ? { ...c.example, [key]: "12" } : { ...c.example, v: "1" };
        expect(P.validate(c.schema, wrong).ok).toBe(false);
        expect(P.validate(c.schema, []).ok).toBe(false);
        expect(P.validate(c.schema, null).ok).toBe(false);
      });

      if (c.idField) {
        it("rejects subject-breaking ids", () => {
          for (const bad of ["a.b", "n*", "n>", "has space", "", "x".repeat(65), "tab\there"]) {
            const r = P.validate(c.schema, { ...c.example, [c.idField!]: bad });
            expect(r.ok, `${c.idField}=${JSON.stringify(bad)}`).toBe(false);
          }
        });
      }

      if (c.textField) {
        it("rejects oversized strings", () => {
          const r = P.validate(c.schema, { ...c.example, [c.textField!]: "x".repeat(100_000) });
          expect(r.ok).toBe(false);
          expect(!r.ok && r.error).toMatch(new RegExp(`^${c.textField}:`));
        });
      }
    });
  }

  it("rejects a message over the size cap before parsing it", () => {
    const r = P.decode(P.Heartbeat, "x".repeat(5 * 1024 * 1024));
    expect(!r.ok && r.error).toMatch(/too large/);
  });

  it("validates nested ids too (a node id inside the op's heartbeat)", () => {
    const bad = { ...X.nodeRecord, last: { ...X.heartbeat, nodeId: "a.>" } };
    const r = P.validate(P.NodeRecord, bad);
    expect(!r.ok && r.error).toMatch(/^last\.nodeId:/);
  });

  it("rejects a bad backend name and a bad sha256 in an install target", () => {
    expect(P.validate(P.OpRecord, { ...X.opRecord, backend: "../etc" }).ok).toBe(false);
    const t = { ...X.opRecord.target!, sha256: "abc" };
    expect(P.validate(P.OpRecord, { ...X.opRecord, target: t }).ok).toBe(false);
  });
});

describe("API schemas", () => {
  const valid: { [M in P.ApiMethod]: P.ApiRequest<M> } = {
    "ops.install": { backend: "llama-cpp", nodes: ["gpu-01", "gpu-02"], actor: "cli" },
    "ops.upgrade": { backend: "llama-cpp", force: true },
    "ops.reinstall": { backend: "llama-cpp", nodes: ["gpu-01"] },
    "ops.delete": { backend: "llama-cpp", nodes: ["gpu-01"] },
    "ops.rollback": { backend: "llama-cpp", nodes: ["gpu-01"] },
    "ops.cancel": { opId: X.opRecord.id },
    "ops.dismiss": { opId: X.opRecord.id },
    "ops.retry": { opId: X.opRecord.id },
    "ops.get": { opId: X.opRecord.id },
    "ops.list": { all: true },
    "ops.history": { limit: 10 },
    "upgrades.list": {},
    "upgrades.check": {},
    "settings.get": {},
    "settings.set": { autoUpgrade: true },
    "nodes.list": {},
    "nodes.approve": { nodeId: "gpu-01" },
    "nodes.drain": { nodeId: "gpu-01", reason: "maintenance" },
    "nodes.resume": { nodeId: "gpu-01" },
    "nodes.hold": { nodeId: "gpu-01", backend: "llama-cpp", reason: "debugging" },
    "nodes.unhold": { nodeId: "gpu-01" },
    "backends.pin": { backend: "llama-cpp", version: "1.0.0", selector: "gpu=h100" },
    "backends.unpin": { backend: "llama-cpp" },
    "policy.list": {},
    "gallery.list": {},
    "gallery.resolve": { backend: "llama-cpp", nodes: ["gpu-01"] },
    "rollouts.plan": { backend: "llama-cpp", selector: "gpu=h100", waves: "1,50%,100%" },
    "rollouts.start": { backend: "llama-cpp", nodes: ["gpu-01"], soak: "30s", autoRevert: true },
    "rollouts.list": { all: true },
    "rollouts.get": { id: "ro-mq3x0c00-ab12" },
    "rollouts.pause": { id: "ro-mq3x0c00-ab12", reason: "lunch" },
    "rollouts.resume": { id: "ro-mq3x0c00-ab12" },
    "rollouts.promote": { id: "ro-mq3x0c00-ab12" },
    "rollouts.abort": { id: "ro-mq3x0c00-ab12" },
    "rollouts.dismiss": { id: "ro-mq3x0c00-ab12" },
  };

  it("covers every method", () => {
    expect(Object.keys(valid).sort()).toEqual([...P.API_METHODS].sort());
  });

  for (const m of P.API_METHODS) {
    it(`${m}: accepts a valid request, rejects junk and unknown fields`, () => {
      const schema = P.api[m].req;
      expect(P.validate(schema, valid[m]).ok).toBe(true);
      expect(P.validate(schema, { ...valid[m], bogus: 1 }).ok).toBe(false);
      expect(P.decode(schema, "{").ok).toBe(false);
      expect(P.validate(schema, "text").ok).toBe(false);
    });
  }

  it("names the field at fault", () => {
    const r = P.api["ops.install"].req.safeParse({ backend: "x", nodes: ["ok", "bad.id"] });
    expect(r.success).toBe(false);
    expect(r.error && P.zodErrorField(r.error)).toBe("nodes.1");
  });

  it("replies are envelopes", () => {
    expect(P.validate(P.ApiEnvelope, { ok: true, data: { nodes: [] } }).ok).toBe(true);
    expect(
      P.validate(P.ApiEnvelope, { ok: false, error: { code: "not_found", message: "no such op" } }).ok,
    ).toBe(true);
    expect(P.validate(P.ApiEnvelope, { ok: false, error: { code: "weird", message: "x" } }).ok).toBe(false);
  });
});

describe("subjects", () => {
  const s = new P.Subjects("bp");

  it("sanitises tokens so an id can never widen a subscription", () => {
    expect(P.sanitizeToken("a.b*c>d e\tf")).toBe("a-b-c-d-e-f");
    expect(P.sanitizeToken("")).toBe("-");
    expect(s.heartbeat("n.*")).toBe("bp.node.n--.heartbeat");
    expect(s.work("x>")).toBe("bp.work.x-");
    expect(s.progress("n1", "op.1")).toBe("bp.progress.n1.op-1");
  });

  it("builds every subject under the prefix", () => {
    const t = new P.Subjects("team.a");
    expect(t.api("ops.install")).toBe("team.a.api.ops.install");
    expect(t.heartbeatAll()).toBe("team.a.node.*.heartbeat");
    expect(t.cancelOfNode("n1")).toBe("team.a.cancel.n1.*");
    expect(t.leader("upgrades.check")).toBe("team.a.controller.upgrades.check");
    expect(P.bucketNames("team.a").ops).toBe("team_a_ops");
    expect(P.streamNames("team.a").work).toBe("TEAM_A_WORK");
  });

  it("refuses a prefix that is not plain tokens", () => {
    expect(() => new P.Subjects("bp.>")).toThrow(/invalid subject prefix/);
    expect(() => new P.Subjects("")).toThrow();
  });

  it("op keys put the node first and round-trip", () => {
    expect(P.opKey("gpu-01", "op-1")).toBe("gpu-01.op-1");
    expect(P.parseOpKey("gpu-01.op-1")).toEqual({ nodeId: "gpu-01", opId: "op-1" });
    expect(P.parseOpKey("a.b.c")).toBeNull();
  });

  it("new op ids are valid ids and unique", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => P.newOpId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(P.OpId.safeParse(id).success).toBe(true);
  });
});

describe("keyDisagreement: the key, which permissions enforce, against the body", () => {
  const now = 1_700_000_000_000;
  const op = { v: 1, id: "op1", nodeId: "n1" } as P.OpRecord;
  const inv = (nodeId: string): P.Inventory => ({ v: 1, nodeId, updatedAt: now, backends: [] });
  const node = (id: string) => ({ id }) as P.NodeRecord;
  const cases: Array<[P.BucketKey, string, unknown, RegExp | null]> = [
    ["ops", "n1.op1", op, null],
    ["ops", "n1.op2", op, /names n1\.op1/],
    ["ops", "n2.op1", op, /names n1\.op1/],
    ["ops", "n1", op, /names n1\.op1/],
    ["inventory", "n1", inv("n1"), null],
    ["inventory", "n1", inv("n2"), /names n2/],
    ["nodes", "n1", node("n1"), null],
    ["nodes", "n1", node("n2"), /names n2/],
    ["settings", "cluster", {}, null],
  ];
  it.each(cases)("%s/%s", (bucket, key, value, want) => {
    const got = P.keyDisagreement(bucket, key, value as never);
    if (want === null) expect(got).toBeNull();
    else expect(got).toMatch(want);
  });
});
