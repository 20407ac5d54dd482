export async function run(_argv: string[]): Promise<number> {
  process.stderr.write("backplane nodes: not yet implemented in this build\n");
  return 3;
}
