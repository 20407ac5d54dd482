import { execFile } from "node:child_process";
import { createPrivateKey, randomUUID, sign, X509Certificate } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Credentials } from "../../src/oci/auth.js";
import { RegistryClient } from "../../src/oci/registry-client.js";
import { removeDir, spawnLogged, stopProcess, tempDir, waitFor, type Spawned } from "../harness/proc.js";

const run = promisify(execFile);
const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/**
 * A real docker-registry behind the bearer-token challenge, with a small token server: anyone
 * gets pull on `public/*`; the user gets pull and push everywhere. Tokens are ES256 JWTs whose
 * x5c header carries the certificate the registry trusts.
 */
export class TokenRegistry {
  readonly tokenRequests: Array<{ scope: string; user?: string }> = [];
  private constructor(
    private readonly proc: Spawned,
    private readonly tokens: Server,
    readonly dir: string,
    readonly host: string,
    readonly user: Credentials,
  ) {}

  static async start(user: Credentials = { username: "robot", password: "t0ken" }): Promise<TokenRegistry> {
    const dir = await tempDir("token-registry");
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      join(dir, "tok.key"),
      "-out",
      join(dir, "tok.crt"),
      "-days",
      "1",
      "-subj",
      "/CN=bp-token",
    ]);
    const key = createPrivateKey(await readFile(join(dir, "tok.key")));
    const certDer = new X509Certificate(await readFile(join(dir, "tok.crt"))).raw;
    const self: { reg?: TokenRegistry } = {};
    const tokens = createServer((req, res) => {
      const u = new URL(req.url ?? "/", "http://x");
      const auth = req.headers.authorization;
      let who: string | undefined;
      if (auth?.startsWith("Basic ")) {
        const [name, pass] = Buffer.from(auth.slice(6), "base64").toString().split(":");
        if (name !== user.username || pass !== user.password) {
          res.writeHead(401).end();
          return;
        }
        who = name;
      }
      const access = u.searchParams.getAll("scope").flatMap((scope) => {
        self.reg?.tokenRequests.push({ scope, user: who });
        const [type, name, actions] = scope.split(":");
        const granted = (actions ?? "")
          .split(",")
          .filter((a) => who || (a === "pull" && name?.startsWith("public/")));
        return granted.length ? [{ type, name, actions: granted }] : [];
      });
      const now = Math.floor(Date.now() / 1000);
      const header = { alg: "ES256", typ: "JWT", x5c: [certDer.toString("base64")] };
      const claims = {
        iss: "bp-issuer",
        sub: who ?? "",
        aud: u.searchParams.get("service"),
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
      };
      const body = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
      const sig = sign("sha256", Buffer.from(body), { key, dsaEncoding: "ieee-p1363" });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ token: `${body}.${b64url(sig)}`, expires_in: 300 }));
    });
    await new Promise<void>((r) => tokens.listen(0, "127.0.0.1", () => r()));
    const realm = `http://127.0.0.1:${(tokens.address() as AddressInfo).port}/token`;
    const conf = join(dir, "config.yml");
    await writeFile(
      conf,
      [
        "version: 0.1",
        "log: { level: info, accesslog: { disabled: true } }",
        `storage: { filesystem: { rootdirectory: "${join(dir, "data")}" } }`,
        `http: { addr: "127.0.0.1:0", secret: "bp-test-secret" }`,
        `auth: { token: { realm: "${realm}", service: bp-registry, issuer: bp-issuer, rootcertbundle: "${join(dir, "tok.crt")}" } }`,
      ].join("\n") + "\n",
    );
    const proc = spawnLogged("docker-registry", ["serve", conf]);
    const host = await waitFor(
      "token registry to listen",
      () => {
        if (proc.child.exitCode !== null) throw new Error(`docker-registry exited:\n${proc.output()}`);
        return /listening on (127\.0\.0\.1:\d+)/.exec(proc.output())?.[1];
      },
      15_000,
    );
    self.reg = new TokenRegistry(proc, tokens, dir, host, user);
    return self.reg;
  }

  /** A client holding the user's credentials (for pushing). */
  client(): RegistryClient {
    return new RegistryClient({ credentials: (h) => (h === this.host ? this.user : undefined) });
  }

  ref(repository: string, tag: string): string {
    return `${this.host}/${repository}:${tag}`;
  }

  async dispose(): Promise<void> {
    await stopProcess(this.proc);
    this.tokens.closeAllConnections();
    await new Promise((r) => this.tokens.close(r));
    await removeDir(this.dir);
  }
}
