import { THEME_NAMES } from "../theme/palettes.js";

export const CONFIG_VERSION = 1;

export interface ContextConfig {
  name: string;
  servers: string[];
  credsFile?: string;
  nkeyFile?: string;
  user?: string;
  password?: string;
  token?: string;
  prefix?: string;
  /** Open this context read-only unless --read-only=false... (a safety net for production). */
  readOnly?: boolean;
}

export interface DashConfig {
  configVersion: number;
  contexts: ContextConfig[];
  currentContext?: string;
  theme: string;
  /** Command id → key or keys; see docs/keys.md. */
  keys: Record<string, string | string[]>;
}

export const DEFAULTS: DashConfig = {
  configVersion: CONFIG_VERSION,
  contexts: [],
  theme: "default",
  keys: {},
};

/** JSON Schema per top-level key, as conf wants it (ajv, draft 2020-12). */
export const schema = {
  configVersion: { type: "integer", minimum: 0 },
  contexts: {
    type: "array",
    maxItems: 100,
    items: {
      type: "object",
      additionalProperties: false,
      required: ["name", "servers"],
      properties: {
        name: { type: "string", minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_.-]+$" },
        servers: { type: "array", minItems: 1, items: { type: "string", minLength: 1 } },
        credsFile: { type: "string" },
        nkeyFile: { type: "string" },
        user: { type: "string" },
        password: { type: "string" },
        token: { type: "string" },
        prefix: { type: "string", pattern: "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$" },
        readOnly: { type: "boolean" },
      },
    },
  },
  currentContext: { type: "string" },
  theme: { type: "string", enum: THEME_NAMES },
  keys: {
    type: "object",
    additionalProperties: {
      anyOf: [{ type: "string" }, { type: "array", items: { type: "string" }, minItems: 1 }],
    },
  },
} as const;
