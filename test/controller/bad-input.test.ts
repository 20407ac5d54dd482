import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readHttpToken } from "../../src/lib/http-token.js";
import { telemetryOf } from "../../src/lib/telemetry.js";
import { api, decode, ApiEnvelope, streamNames } from "../../src/protocol/index.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader } from "./cluster.js";
import { captureLog } from "../harness/capture-log.js";

const suite = controllerSuite("bad-input");

async function setup() {
  const prefix = uniquePrefix();
  const tokenFile = join(suite.dir, prefix, "http-token");
  const log = captureLog();
  const r = await startReplica(suite.nats.url, prefix, {
    http: { listen: "127.0.0.1:0", tokenFile },
    telemetry: telemetryOf(log.logger),
  });
  suite.defer(() => r.stop());
  await waitLeader([r]);
  const client = await connect(suite.nats.url, prefix);
  suite.defer(() => client.close());
  const token = (await readHttpToken(tokenFile)) ?? "";
  return { r, client, url: r.ctl.httpUrl!, token, log };
}

describe("bad input is refused, never accepted", () => {
  it("a null request body is bad_request for every API method", async () => {
    const { client } = await setup();
    for (const method of Object.keys(api)) {
      const bytes = await client.request(client.subjects.api(method), null, 5_000);
      const env = decode(ApiEnvelope, bytes);
      expect(env.ok && env.value, method).toMatchObject({ ok: false, error: { code: "bad_request" } });
    }
    // An empty body is still the empty request.
    const empty = decode(
      ApiEnvelope,
      await client.request(client.subjects.api("settings.get"), undefined, 5_000),
    );
    expect(empty.ok && empty.value.ok).toBe(true);
  });

  it("a malformed query string is a 400", async () => {
    const { url, token } = await setup();
    const get = (path: string) => fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect((await get("/api/nodes?x=%")).status).toBe(400);
    expect((await get("/api/operations?node=%zz")).status).toBe(400);
    expect((await get("/api/nodes?x=%41")).status).toBe(200);
  });

  it("the audit stream refuses events over its size cap; history skips what is not an event and says so once", async () => {
    const { client, log } = await setup();
    await client.call("settings.set", { autoUpgrade: false, actor: "me" });
    const subject = client.subjects.event("settings.changed", "-", "-");
    const big = {
      v: 1,
      kind: "settings.changed",
      at: Date.now(),
      actor: "x",
      message: "y".repeat(1_000_000),
    };
    await expect(client.js.publish(subject, new TextEncoder().encode(JSON.stringify(big)))).rejects.toThrow();
    await client.js.publish(subject, new TextEncoder().encode("not json"));
    await client.js.publish(
      subject,
      new TextEncoder().encode(JSON.stringify({ ...big, v: 99, message: "z" })),
    );
    const info = await client.jsm.streams.info(streamNames(client.prefix).events);
    expect(info.config.max_msg_size).toBeLessThan(1_000_000);
    for (let i = 0; i < 2; i++) {
      const events = (await client.call("ops.history", {})).events;
      expect(events.filter((e) => e.kind === "settings.changed").map((e) => e.actor)).toEqual(["me"]);
    }
    const warned = log.lines.filter((l) => l.msg === "skipping a malformed audit event");
    expect(warned).toHaveLength(2);
  });
});
