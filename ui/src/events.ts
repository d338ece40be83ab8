// Usage events from the UI (copies, uses, listing views, searches): reported
// fire-and-forget, because analytics must never slow down or break what the
// user is doing. Whether anything is kept is the Rust side's decision (it
// drops everything while analytics are off), so the UI always reports.
import { useEffect, useRef } from "react";
import { api } from "./api";
import type { UiEvent } from "./bindings/UiEvent";

export function record(report: UiEvent): void {
  try {
    api.recordEvent(report).catch((e) => console.warn("usage event not recorded", report.event, e));
  } catch (e) {
    console.warn("usage event not recorded", report.event, e);
  }
}

/** How long a search must stay unchanged before it counts as run (not every keystroke does). */
export const SEARCH_SETTLE_MS = 800;

/**
 * Reports a search once it settles: `query` is the text whose results are
 * shown and `results` their count (null while they are being fetched). Only
 * the query's length leaves the UI, never its text.
 */
export function useSearchEvent(collection: string, query: string, results: number | null) {
  // The same search shown again (a sync refetched it) is not a new search.
  const last = useRef("");
  useEffect(() => {
    const q = query.trim();
    if (!q || results == null) return;
    const key = `${q}\u0000${results}`;
    if (key === last.current) return;
    const t = setTimeout(() => {
      last.current = key;
      record({ event: "search_run", collection, query_length: Array.from(q).length, results });
    }, SEARCH_SETTLE_MS);
    return () => clearTimeout(t);
  }, [collection, query, results]);
}
