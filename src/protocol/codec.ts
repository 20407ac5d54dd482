import type { z } from "zod";

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Parse bytes or text as JSON and validate; never throws. The error names the first bad field. */
export function decode<S extends z.ZodType>(schema: S, raw: Uint8Array | string): Decoded<z.infer<S>> {
  const size = typeof raw === "string" ? raw.length : raw.byteLength;
  if (size > MAX_MESSAGE_BYTES) return { ok: false, error: `message too large (${size} bytes)` };
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === "string" ? raw : decoder.decode(raw));
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
  return validate(schema, json);
}

export function validate<S extends z.ZodType>(schema: S, value: unknown): Decoded<z.infer<S>> {
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: describeZodError(r.error) };
}

export function describeZodError(err: z.ZodError): string {
  const first = err.issues[0];
  if (!first) return "invalid";
  const path = first.path.length > 0 ? first.path.join(".") : "(root)";
  const more = err.issues.length > 1 ? ` (+${err.issues.length - 1} more)` : "";
  return `${path}: ${first.message}${more}`;
}

/** First failing field of a zod error, dotted, for API replies. */
export function zodErrorField(err: z.ZodError): string | undefined {
  const first = err.issues[0];
  return first && first.path.length > 0 ? first.path.join(".") : undefined;
}

export function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}
