import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statusHttp } from "../../src/cli/agent.js";
import { ensureHttpToken } from "../../src/lib/http-token.js";

/**
 * The agent's `--http-token-file` goes through the controller's check of its token file: a file
 * others can read or write, a symlink, an empty file or one that is not a token is refused, with
 * the reason, before the agent starts.
 */
describe("agent --http-token-file", () => {
  let dir: string;
  const TOKEN = randomBytes(24).toString("base64url");
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "bp-agent-token-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const withFile = async (name: string, text: string, mode = 0o600) => {
    const file = join(dir, name);
    await writeFile(file, text);
    await chmod(file, mode); // not through writeFile: the umask would narrow it
    return { http: "127.0.0.1:0", "http-token-file": file };
  };

  it("serves with the token of a private file, trimmed", async () => {
    expect(await statusHttp(await withFile("good", `  ${TOKEN}\n`))).toEqual({
      listen: "127.0.0.1:0",
      token: TOKEN,
    });
    // openssl rand -base64 32: + / = are token characters too (RFC 6750's b64token).
    const b64 = "q3+Zk/0aV9n1Yb2cXw8eR4tU6iO7pL5sD3fG1hJ2kM0=";
    expect(await statusHttp(await withFile("b64", `${b64}\n`))).toMatchObject({ token: b64 });
  });

  const refused: Array<[string, () => Promise<Record<string, unknown>>, RegExp]> = [
    [
      "readable by others",
      () => withFile("wide", TOKEN, 0o644),
      /mode 644 lets others at it \(chmod 600 it\)/,
    ],
    ["writable by the group", () => withFile("group", TOKEN, 0o620), /mode 620 lets others/],
    ["empty", () => withFile("empty", ""), /: empty$/],
    ["only whitespace", () => withFile("blank", " \n\t\n"), /: empty$/],
    ["two words", () => withFile("words", `${TOKEN} ${TOKEN}`), /not a token/],
    ["too short", () => withFile("short", "secret\n"), /not a token: one line of 32 to 512/],
    [
      "a symlink",
      async () => {
        const target = await withFile("target", TOKEN);
        const link = join(dir, "link");
        await symlink(target["http-token-file"], link);
        return { http: "127.0.0.1:0", "http-token-file": link };
      },
      /a symbolic link/,
    ],
    [
      "a directory",
      async () => {
        await mkdir(join(dir, "sub"));
        return { http: "127.0.0.1:0", "http-token-file": join(dir, "sub") };
      },
      /not a regular file/,
    ],
    ["missing", async () => ({ http: "127.0.0.1:0", "http-token-file": join(dir, "none") }), /no such file/],
  ];
  for (const [what, flags, reason] of refused) {
    it(`refuses a token file that is ${what}`, async () => {
      const v = await flags();
      await expect(statusHttp(v)).rejects.toThrow(`--http-token-file ${String(v["http-token-file"])}: `);
      await expect(statusHttp(v)).rejects.toThrow(reason);
    });
  }

  it("the controller reuses the same file the agent accepts (one check for both)", async () => {
    const v = await withFile("shared", `${TOKEN}\n`);
    const file = String(v["http-token-file"]);
    expect(await statusHttp(v)).toMatchObject({ token: TOKEN });
    expect(await ensureHttpToken(file)).toEqual({ token: TOKEN, generated: false });
  });
});
