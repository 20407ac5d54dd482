import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** LocalAI's real backend gallery (f7e8d9e, 465 entries), used by path and never copied. */
export const FIXTURE_URL = new URL("../../../shared/fixtures/localai-backend-index.yaml", import.meta.url);
export const FIXTURE_PATH = fileURLToPath(FIXTURE_URL);
export const fixtureText = (): string => readFileSync(FIXTURE_PATH, "utf8");
