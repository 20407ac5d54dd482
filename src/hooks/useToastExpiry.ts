import { useEffect } from "react";
import { useActions, useDash } from "./context.js";

/** A toast stays 6 s (k9s' flash delay), errors 12 s; a newer toast replaces it at once. */
export function useToastExpiry(): void {
  const toast = useDash((s) => s.toast);
  const { clearToast } = useActions();
  useEffect(() => {
    if (!toast || toast.level === "info") return;
    const t = setTimeout(() => clearToast(toast.id), toast.level === "err" ? 12_000 : 6_000);
    t.unref();
    return () => clearTimeout(t);
  }, [toast, clearToast]);
}
