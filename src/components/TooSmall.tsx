import { Box, Text } from "ink";
import type { ReactNode } from "react";

export const MIN_COLUMNS = 60;
export const MIN_ROWS = 16;

/** btop-style notice with the numbers, instead of a broken layout. `q` still quits. */
export function TooSmall({ columns, rows }: { columns: number; rows: number }): ReactNode {
  return (
    <Box flexDirection="column">
      <Text bold>Terminal too small</Text>
      <Text>
        need {MIN_COLUMNS}×{MIN_ROWS}, have {columns}×{rows}
      </Text>
      <Text dimColor>resize, or press q to quit</Text>
    </Box>
  );
}
