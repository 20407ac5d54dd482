export async function run(_argv: string[]): Promise<number> {
  process.stderr.write("backplane demo: not yet implemented in this build\n");
  return 3;
}
