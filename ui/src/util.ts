import { useEffect, useRef, useState } from "react";
import { isAppError } from "./api";
import type { SyncErrorCode } from "./bindings/SyncErrorCode";

/** Words for any failure: an AppError's message, never its bare code. */
export function errMsg(err: unknown): string {
  if (isAppError(err)) return err.message || "Something went wrong.";
  if (err instanceof Error) return err.message;
  if (typeof err === "string") return err;
  return "Something went wrong.";
}

/** Which codes mean the sync server could not be asked (not a refusal); every code is listed, so a new one must be decided here. */
const NEEDS_SERVER: Record<SyncErrorCode | "local_only" | "not_configured" | "closed", boolean> = {
  offline: true, timeout: true, interrupted: true, unauthenticated: true, upgrade_required: true, server_error: true,
  protocol: true, other_account: true, local_store: true, wrong_credentials: true, account_disabled: true,
  too_many_attempts: true, session_expired: true, bad_api_key: true, auth_service: true,
  local_only: true, not_configured: true, closed: true,
  // Sign-up's own refusals, never an answer to a server operation.
  email_in_use: false, weak_password: false, invalid_email: false,
};

/** Whether a failed server operation (teams, sharing) failed for want of the sync server. */
export function needsServer(err: unknown): boolean {
  return isAppError(err) && NEEDS_SERVER[err.code as keyof typeof NEEDS_SERVER] === true;
}

export type EDate = { $date: string } | null | undefined;

export function toDate(d: EDate): Date | null {
  if (d == null || d.$date == null) return null;
  const t = new Date(d.$date);
  return isNaN(t.getTime()) ? null : t;
}

export function nowDate(): { $date: string } {
  return { $date: new Date().toISOString() };
}

let locale = "en";

/** Uses the chosen language for the page and for dates and numbers. */
export function applyLanguage(language: string | null | undefined) {
  locale = language || "en";
  document.documentElement.lang = locale;
}

export function fmtDate(d: EDate): string {
  const t = toDate(d);
  return t ? t.toLocaleString(locale) : "—";
}

export function fmtDay(d: EDate): string {
  const t = toDate(d);
  return t ? t.toISOString().slice(0, 10) : "";
}

export function relTime(d: EDate, now = Date.now()): string {
  const t = toDate(d);
  if (!t) return "never";
  const s = Math.round((now - t.getTime()) / 1000);
  if (s < 10) return "just now";
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const days = Math.round(h / 24);
  return `${days} d ago`;
}

export function fmtNum(n: number): string {
  return n.toLocaleString(locale);
}

export function plural(n: number, word: string, many = word + "s"): string {
  return `${fmtNum(n)} ${n === 1 ? word : many}`;
}

export function splitTags(s: string): string[] {
  return s
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

export function useDebounced<T>(value: T, ms = 150): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/** Re-renders every `ms` so relative times stay fresh. */
export function useTick(ms: number): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setN((x) => x + 1), ms);
    return () => clearInterval(t);
  }, [ms]);
  return n;
}

/** Calls the latest handler on a window CustomEvent (app-wide commands). */
export function useCommand(name: string, handler: () => void) {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => {
    const h = () => ref.current();
    window.addEventListener("pf:" + name, h);
    return () => window.removeEventListener("pf:" + name, h);
  }, [name]);
}

export function command(name: string) {
  window.dispatchEvent(new CustomEvent("pf:" + name));
}

export type DiffLine = { kind: "same" | "add" | "del"; text: string; a?: number; b?: number };

/** Line-based diff by longest common subsequence: old `a` against new `b`. */
export function diffLines(aText: string, bText: string): DiffLine[] {
  const a = aText.split("\n");
  const b = bText.split("\n");
  // Trim the common head and tail so the table stays small.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const n = endA - start;
  const m = endB - start;
  const out: DiffLine[] = [];
  for (let i = 0; i < start; i++) out.push({ kind: "same", text: a[i], a: i + 1, b: i + 1 });
  if (n * m > 4_000_000) {
    // Too large for a table: show it as a whole replacement.
    for (let i = start; i < endA; i++) out.push({ kind: "del", text: a[i], a: i + 1 });
    for (let j = start; j < endB; j++) out.push({ kind: "add", text: b[j], b: j + 1 });
  } else {
    const w = m + 1;
    const t = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        t[i * w + j] =
          a[start + i] === b[start + j]
            ? t[(i + 1) * w + j + 1] + 1
            : Math.max(t[(i + 1) * w + j], t[i * w + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[start + i] === b[start + j]) {
        out.push({ kind: "same", text: a[start + i], a: start + i + 1, b: start + j + 1 });
        i++;
        j++;
      } else if (i < n && (j >= m || t[(i + 1) * w + j] >= t[i * w + j + 1])) {
        out.push({ kind: "del", text: a[start + i], a: start + i + 1 });
        i++;
      } else {
        out.push({ kind: "add", text: b[start + j], b: start + j + 1 });
        j++;
      }
    }
  }
  for (let k = 0; k < a.length - endA; k++)
    out.push({ kind: "same", text: a[endA + k], a: endA + k + 1, b: endB + k + 1 });
  return out;
}

/**
 * Puts text on the clipboard: the Clipboard API first, then the old
 * select-and-copy way, since the API can be refused (no permission, page not
 * focused). Says whether either worked.
 */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Fall through to the older way.
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  const focused = document.activeElement as HTMLElement | null;
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  focused?.focus?.();
  return ok;
}
