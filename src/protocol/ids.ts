import { z } from "zod";

/** Characters NATS gives meaning to in a subject token; LocalAI maps them to `-` the same way. */
const SUBJECT_UNSAFE = /[.*>\s]/g;

/** Make any string safe as one subject token, so an id can never widen a subscription. */
export function sanitizeToken(raw: string): string {
  const t = raw.replace(SUBJECT_UNSAFE, "-");
  return t.length > 0 ? t : "-";
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Node and op ids appear in subjects and KV keys, so they are single safe tokens. */
export const NodeId = z
  .string()
  .min(1)
  .max(64)
  .regex(TOKEN, "must be letters, digits, '-' or '_' (no '.', '*', '>' or spaces)");
export type NodeId = z.infer<typeof NodeId>;

export const OpId = NodeId;
export type OpId = z.infer<typeof OpId>;

/** Gallery names as LocalAI writes them (lowercase, '-', digits) plus '.' and '_' for external installs. */
export const BackendName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must start with a letter or digit and use only [A-Za-z0-9._-]");
export type BackendName = z.infer<typeof BackendName>;

export const Capability = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9_-]*$/, "must be a lowercase capability key such as nvidia-cuda-12");
export type Capability = z.infer<typeof Capability>;

/** A bounded free-text field: names, reasons, errors. */
export const Text = (max = 256) => z.string().max(max);

/** Milliseconds since the epoch. */
export const Millis = z.number().int().nonnegative();

export const Sha256Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, "must be sha256:<64 hex>");

/** Make a new op id: sortable by creation time, unique across replicas. */
export function newOpId(now = Date.now()): string {
  const rand = Math.floor(Math.random() * 36 ** 6)
    .toString(36)
    .padStart(6, "0");
  return `op-${now.toString(36)}-${rand}`;
}
