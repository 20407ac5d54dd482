import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";
import globals from "globals";

const NO_TEST = { group: ["**/test/**", "../test/*"], message: "nothing imports from test/" };

/** The top-level folders (and app.tsx) of src/, as an import names them. */
const TOP = [
  "agent",
  "app",
  "cli",
  "client",
  "components",
  "config",
  "controller",
  "demo",
  "format",
  "gallery",
  "hooks",
  "keymap",
  "lib",
  "oci",
  "protocol",
  "store",
  "theme",
  "views",
];
const ROLES = ["agent", "controller", "demo", "cli"];
const UI_ABOVE_STORE = ["app", "views", "components", "hooks"];

/**
 * DESIGN.md's Layout, one entry per folder: `allow` lists all it may import (lib is below
 * everything), `deny` what it must not. Imports flow one way: cli → app → views →
 * components/hooks → store → client → protocol → lib; agent and controller import client,
 * protocol, gallery, oci and lib, never views, store or each other.
 */
const LAYOUT = {
  lib: { allow: [] },
  protocol: { allow: ["lib"] },
  client: { allow: ["protocol", "lib"] },
  gallery: { allow: ["protocol", "lib"] },
  oci: { allow: ["protocol", "lib"] },
  agent: { allow: ["client", "protocol", "gallery", "oci", "lib"] },
  controller: { allow: ["client", "protocol", "gallery", "oci", "lib"] },
  app: { deny: ROLES },
  store: { deny: [...ROLES, ...UI_ABOVE_STORE] },
  hooks: {
    deny: [...ROLES, "app", "views", "client"],
    why: "hooks are thin adapters and never open connections",
  },
  components: { deny: [...ROLES, "app", "views"] },
  views: { deny: [...ROLES, "app"] },
  keymap: { deny: [...ROLES, "app"] },
  format: { deny: [...ROLES, ...UI_ABOVE_STORE, "client"] },
  theme: { deny: [...ROLES, ...UI_ABOVE_STORE, "store", "client"] },
  config: { deny: [...ROLES, ...UI_ABOVE_STORE, "store", "client"] },
  demo: { deny: ["cli", ...UI_ABOVE_STORE, "store"] },
};

const importOf = (dirs, from = "(?:\\.\\./)+") => `^${from}(?:${dirs.join("|")})(?:/|\\.js$|$)`;

function layoutRules() {
  const out = Object.entries(LAYOUT).map(([dir, rule]) => {
    const denied = rule.allow ? TOP.filter((d) => d !== dir && !rule.allow.includes(d)) : rule.deny;
    const message = rule.allow
      ? `src/${dir}/ imports only ${rule.allow.length ? rule.allow.join(", ") : "nothing of ours"} (DESIGN.md Layout)`
      : `src/${dir}/ must not import ${rule.deny.join(", ")} (DESIGN.md Layout${rule.why ? `: ${rule.why}` : ""})`;
    return {
      files: [`src/${dir}/**`],
      rules: {
        "no-restricted-imports": ["error", { patterns: [NO_TEST, { regex: importOf(denied), message }] }],
      },
    };
  });
  out.push({
    files: ["src/app.tsx"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            NO_TEST,
            {
              regex: importOf(ROLES, "\\./"),
              message: "the dashboard root imports no role (DESIGN.md Layout)",
            },
          ],
        },
      ],
    },
  });
  return out;
}

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**"] },
  js.configs.recommended,
  { languageOptions: { globals: globals.node } },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-imports": ["error", { patterns: [NO_TEST] }],
    },
  },
  ...layoutRules(),
  {
    // The chaos suite drives real processes with the test harness (and nothing imports chaos/ but its smoke test).
    files: ["chaos/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(?:\\.\\./)+test/(?!harness/|agent/helpers\\.js$|agent/localai\\.js$)",
              message: "chaos/ uses test/harness, test/agent/helpers.js and test/agent/localai.js only",
            },
          ],
        },
      ],
    },
  },
  {
    // The raw connection, JetStream client and manager, and unchecked publishes, stay inside the transport.
    files: ["src/**"],
    ignores: ["src/client/**"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "MemberExpression[property.name=/^(nc|js|jsm)$/]",
          message: "use the typed transport in src/client/, not the raw nc/js/jsm getters",
        },
        {
          selector:
            "CallExpression[callee.property.name='publish'][callee.object.name='client'], CallExpression[callee.property.name='publish'][callee.object.property.name='client']",
          message:
            "publish through the typed channels (publishProgress, publishHeartbeat, publishCancel, WorkQueue, AuditStream), which validate",
        },
      ],
    },
  },
  prettier,
);
