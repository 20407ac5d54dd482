import { buildImage, parseImageRef, pushImage, RegistryClient } from "../oci/index.js";
import { envBacked, list, parse, printedHelp, str, UsageError } from "./args.js";

const HELP = `Usage: backplane publish DIR REF [--user U --password P] [--insecure-registry HOST:PORT] [--version V]

Build a one-layer OCI image from a backend directory (it must hold an executable run.sh) and push it.

  DIR                      the backend directory
  REF                      registry/repository:tag, e.g. registry.example:5000/backends/mybackend:1.0.0
  --user, --password       registry basic-auth credentials [BACKPLANE_REGISTRY_USER, BACKPLANE_REGISTRY_PASSWORD]
  --insecure-registry H:P  allow plain HTTP to this registry (loopback is always allowed) [BACKPLANE_INSECURE_REGISTRY]
  --version V              recorded as the org.opencontainers.image.version annotation

Example:
  backplane publish ./my-backend 127.0.0.1:5000/backends/my-backend:1.0.0
`;

export const flags = {
  ...envBacked({
    user: { type: "string" },
    password: { type: "string" },
    "insecure-registry": { type: "string", multiple: true },
  } as const),
  version: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, flags, {
    ...process.env,
    BACKPLANE_USER: process.env.BACKPLANE_REGISTRY_USER,
    BACKPLANE_PASSWORD: process.env.BACKPLANE_REGISTRY_PASSWORD,
  });
  if (printedHelp(p, HELP)) return 0;
  const [dir, refText] = p.positionals;
  if (!dir || !refText) throw new UsageError("give a directory and an image reference");
  // The agent's own check, so that what publish accepts is what an agent will activate.
  const { validateBackendTree } = await import("../agent/backend-tree.js");
  try {
    await validateBackendTree(dir);
  } catch (e) {
    throw new UsageError(`${dir}: ${(e as Error).message}; a backend needs an executable run.sh`);
  }
  let ref: ReturnType<typeof parseImageRef>;
  try {
    ref = parseImageRef(refText);
  } catch (e) {
    throw new UsageError(
      `${refText} is not a registry/repository:tag reference (${(e as Error).message}), e.g. registry.example:5000/backends/my-backend:1.0.0`,
    );
  }
  const user = str(p.values.user);
  const password = str(p.values.password);
  const client = new RegistryClient({
    credentials: () => (user && password !== undefined ? { username: user, password } : undefined),
    insecureRegistries: list(p.values["insecure-registry"]),
  });
  const version = str(p.values.version);
  const img = await buildImage(
    [dir],
    version ? { annotations: { "org.opencontainers.image.version": version } } : {},
  );
  try {
    const digest = await pushImage(client, ref, img);
    const size = img.layers.reduce((n, l) => n + l.size, 0);
    process.stdout.write(`${refText}@${digest}\n`);
    process.stderr.write(`pushed ${img.layers.length} layer(s), ${size} bytes compressed\n`);
    return 0;
  } finally {
    await img.dispose();
  }
}
