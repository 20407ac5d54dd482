import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * backplane's own gallery in LocalAI's index.yaml format (test/fixtures/gallery/index.yaml): every
 * shape the parser and resolver handle, so the suite needs nothing beside the repository.
 */
export const FIXTURE_URL = new URL("../fixtures/gallery/index.yaml", import.meta.url);
export const FIXTURE_PATH = fileURLToPath(FIXTURE_URL);
export const fixtureText = (): string => readFileSync(FIXTURE_PATH, "utf8");
