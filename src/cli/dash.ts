export async function run(_argv: string[]): Promise<number> {
  process.stderr.write("backplane dash: not yet implemented in this build\n");
  return 3;
}
