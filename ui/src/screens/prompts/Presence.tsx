// Presence on the open prompt: who else has it open (and typing), and its
// soft lock. The back end hears which prompt is open through set_presence and
// answers with "presence" events; a lock is advice and never blocks a save.
import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "../../api";
import type { LockView } from "../../bindings/LockView";
import type { PresenceView } from "../../bindings/PresenceView";
import type { PresentPerson } from "../../bindings/PresentPerson";

/** How long "Lock for 15 min" locks, in seconds. */
export const LOCK_SECS = 15 * 60;

// Presence calls go out one at a time and in order, so "closed A" never
// overtakes "opened B", and a lock request always follows the presence that
// says which prompt it is about.
let queue: Promise<unknown> = Promise.resolve();
function enqueue<T>(f: () => Promise<T>): Promise<T> {
  const run = queue.then(f);
  queue = run.catch(() => undefined);
  return run;
}

function tell(promptId: string | null, editing: boolean, after: Promise<unknown> = Promise.resolve()) {
  enqueue(() => after.then(() => api.setPresence(promptId, editing))).catch((e) => console.debug("set_presence failed", e));
}

/** "14:05": a lock's end on this machine's clock. */
export function hhmm(ms: number): string {
  const d = new Date(ms);
  return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
}

/**
 * Tells the back end that `promptId` is open (null: nothing, e.g. a new
 * prompt) and whether it has unsaved edits, and keeps the latest presence of
 * that prompt. A lock that lapses disappears by itself.
 */
export function usePresence(promptId: string | null, editing: boolean) {
  const [view, setView] = useState<PresenceView | null>(null);
  const idRef = useRef(promptId);
  idRef.current = promptId;
  /** Settles once the "presence" listener is in place (so no answer is missed). */
  const listening = useRef<Promise<unknown>>(Promise.resolve());

  // Declared first: effects run in order, so the listener is asked for
  // before the first set_presence.
  useEffect(() => {
    setView(null);
    if (promptId == null) return;
    let live = true;
    const un = api.onPresence((v) => {
      if (!live) return;
      if (v == null) setView(null);
      else if (v.prompt_id === promptId) setView(v);
    });
    listening.current = un.catch(() => undefined);
    return () => {
      live = false;
      un.then((f) => f(), () => undefined);
    };
  }, [promptId]);

  // Opened, and each flip of the unsaved-edits state (not each keystroke).
  useEffect(() => {
    if (promptId != null) tell(promptId, editing, listening.current);
  }, [promptId, editing]);

  // Closed, switched to another prompt, or unmounted.
  useEffect(() => {
    if (promptId == null) return;
    return () => tell(null, false);
  }, [promptId]);

  // Drop the lock once it lapses, even when no event says so.
  const until = view?.lock?.until_ms ?? null;
  const [recheck, setRecheck] = useState(0);
  useEffect(() => {
    if (until == null) return;
    const left = Math.min(Math.max(until - Date.now(), 0) + 50, 2 ** 31 - 1);
    const t = setTimeout(() => {
      if (Date.now() >= until) setView((v) => (v && v.lock && v.lock.until_ms <= Date.now() ? { ...v, lock: null } : v));
      else setRecheck((n) => n + 1);
    }, left);
    return () => clearTimeout(t);
  }, [until, recheck]);

  /** Takes (or renews) the lock for `secs` seconds, or releases it (null); shows the answer. */
  const lock = useCallback(async (secs: number | null) => {
    const v = await enqueue(() => api.lockPrompt(secs));
    if (v && v.prompt_id === idRef.current) setView(v);
    return v;
  }, []);

  const live = view?.lock != null && view.lock.until_ms > Date.now() ? view.lock : null;
  return { others: view?.others ?? [], lock: live, takeLock: lock };
}

function personWords(p: PresentPerson): string {
  return (p.same_user ? "you on another device" : p.name) + (p.editing ? " (typing)" : "");
}

/** "Also here: Ada L. (typing), Grace"; nothing when nobody else is here. */
export function PresenceStrip(props: { others: PresentPerson[] }) {
  if (props.others.length === 0) return null;
  return (
    <span className="presence" data-testid="presence" role="status" title="Others with this prompt open">
      <span className="presence-dot" aria-hidden />
      Also here: {props.others.map(personWords).join(", ")}
    </span>
  );
}

export function LockBadge(props: { lock: LockView | null }) {
  const l = props.lock;
  if (!l) return null;
  return (
    <span
      className={"lock-badge" + (l.mine ? " mine" : "")}
      data-testid="lock-badge"
      title="A soft lock asks others to wait; it never stops anyone from saving."
    >
      {l.mine
        ? `You hold the soft lock until ${hhmm(l.until_ms)}`
        : `Locked by ${l.name} until ${hhmm(l.until_ms)} — you can still edit; your changes will merge`}
    </span>
  );
}
