import { hostname, userInfo } from "node:os";

/**
 * Who did it, as the audit trail records it: the OS user (from the passwd entry, so an unset or
 * spoofed $USER does not change it) and the host, e.g. `cli:alice@head-1`.
 */
export function actorName(role: string): string {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers): fall back to the environment
    user = process.env.USER ?? process.env.LOGNAME;
  }
  return `${role}:${user || "unknown"}@${hostname()}`.slice(0, 128);
}
