#!/usr/bin/env node
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(
    "backplane: dist/ is missing; build it first with `make build` (or `npm run build`)\n",
  );
  process.exit(2);
}
await import(main.href);
