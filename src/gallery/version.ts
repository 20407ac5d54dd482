import semver from "semver";

export type VersionVerdict = "newer" | "same" | "older" | "different";

function asSemver(v: string): semver.SemVer | null {
  return semver.parse(v.trim().replace(/^v(?=\d)/, ""), { loose: true });
}

/**
 * How the gallery's version relates to the installed one: semver when both parse (so a gallery
 * downgrade is `older`, not an upgrade), else plain inequality (`different`).
 */
export function compareVersions(installed: string, available: string): VersionVerdict {
  const a = asSemver(installed);
  const b = asSemver(available);
  if (a && b) {
    const c = semver.compare(b, a);
    return c > 0 ? "newer" : c < 0 ? "older" : "same";
  }
  return installed.trim() === available.trim() ? "same" : "different";
}

/** Whether moving from `installed` to `available` is an upgrade. */
export function isVersionUpgrade(installed: string, available: string): boolean {
  const v = compareVersions(installed, available);
  return v === "newer" || v === "different";
}
