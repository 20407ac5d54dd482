export interface Challenge {
  scheme: "basic" | "bearer";
  params: Record<string, string>;
}

/** Parse a `WWW-Authenticate` header (one challenge; parameters keep their case). */
export function parseChallenge(header: string | null): Challenge | null {
  if (!header) return null;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== "basic" && scheme !== "bearer") return null;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2] ?? ""))) params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? "";
  return { scheme, params };
}

export interface Credentials {
  username: string;
  password: string;
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}
