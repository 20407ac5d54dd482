/** Timings shared by every role. Each can be overridden by flags where the role allows it. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
export const UNHEALTHY_AFTER_MISSED = 3;
export const OFFLINE_AFTER_MS = 60_000;
export const OFFLINE_GRACE_MS = 15 * 60_000;
export const STALE_OP_MS = 30 * 60_000;
export const REAP_INTERVAL_MS = 30_000;
export const UPGRADE_CHECK_INTERVAL_MS = 6 * 60 * 60_000;
export const LEASE_TTL_MS = 10_000;
export const PROGRESS_MIN_INTERVAL_MS = 250;
export const MAX_WORK_ATTEMPTS = 3;
export const EVENTS_MAX_AGE_MS = 30 * 24 * 60 * 60_000;
export const DEFAULT_API_TIMEOUT_MS = 10_000;
/** How long the controller remembers a keyed write request (the `requests` bucket's max age). */
export const REQUEST_DEDUPE_TTL_MS = 10 * 60_000;
export const DEFAULT_KEEP_GENERATIONS = 2;
export const DEV_SUFFIX = "development";

/**
 * Largest audit event the EVENTS stream keeps (its max_msg_size): above any event the schema
 * accepts (text fields are capped, so an event with its op record stays well under), below what a
 * publisher with stream access could otherwise pile in.
 */
export const AUDIT_EVENT_MAX_BYTES = 512 * 1024;
