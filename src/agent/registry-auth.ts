import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Credentials } from "../oci/auth.js";
import { registryHost } from "../oci/reference.js";

/** A Docker config key (`https://index.docker.io/v1/`, `r.io:5000`) as the registry host it is for. */
function hostOf(key: string): string {
  return registryHost(key.replace(/^https?:\/\//, "").replace(/\/.*$/, ""));
}

/**
 * Registry credentials from a Docker `config.json` (`auths.<host>.auth` = base64 user:pass, or
 * `username`/`password`). Credential helpers are not run.
 */
export async function loadRegistryAuth(file: string): Promise<Map<string, Credentials>> {
  const raw = JSON.parse(await readFile(file, "utf8")) as {
    auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  };
  const out = new Map<string, Credentials>();
  for (const [key, v] of Object.entries(raw.auths ?? {})) {
    let username = v.username;
    let password = v.password;
    if (v.auth) {
      const plain = Buffer.from(v.auth, "base64").toString("utf8");
      const i = plain.indexOf(":");
      if (i > 0) {
        username = plain.slice(0, i);
        password = plain.slice(i + 1);
      }
    }
    if (username && password !== undefined) out.set(hostOf(key), { username, password });
  }
  return out;
}

/** The Docker config an operator already has, if any. */
export function defaultDockerConfig(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(homedir(), ".docker"), "config.json");
}
