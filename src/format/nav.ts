/**
 * Where a navigation command moves a cursor or a scroll offset within 0..last (a page is `page`
 * lines); undefined when the command is not a navigation command.
 */
export function navTarget(cmd: string, cur: number, page: number, last: number): number | undefined {
  const to = (n: number) => Math.max(0, Math.min(last, n));
  switch (cmd) {
    case "nav.up":
      return to(cur - 1);
    case "nav.down":
      return to(cur + 1);
    case "nav.pageUp":
      return to(cur - page);
    case "nav.pageDown":
      return to(cur + page);
    case "nav.top":
      return 0;
    case "nav.bottom":
      return to(last);
    default:
      return undefined;
  }
}
