import { useCallback, useEffect, useState } from "react";
import { api, type CollectionName } from "./api";
import type { Collection } from "./bindings/Collection";
import type { AttentionItem } from "./bindings/AttentionItem";
import type { Conflict } from "./bindings/Conflict";
import type { Resolution } from "./bindings/Resolution";
import type { SyncStatus } from "./bindings/SyncStatus";
import { useApp } from "./ctx";
import { Badge, Empty, Modal, Progress } from "./ui";
import { fmtDate, relTime, useTick } from "./util";

export function stateWords(s: SyncStatus | null, signedIn: boolean): string {
  if (!signedIn) return "Local only";
  if (!s) return "Starting…";
  switch (s.state) {
    case "idle":
      return "Idle";
    case "offline":
      return "Offline";
    case "connecting":
      return "Connecting…";
    case "syncing":
      return s.total != null ? `Syncing ${s.done}/${s.total}` : `Syncing (${s.done})`;
    case "up_to_date":
      return s.live ? "Live" : "Up to date";
    case "error":
      return s.retrying ? `Sync error: ${s.message} (retrying)` : `Sync error: ${s.message}`;
  }
}

function show(v: unknown): string {
  if (v === null || v === undefined) return "(empty / deleted)";
  if (typeof v === "string") return v;
  return JSON.stringify(v, null, 2);
}

const key = (collection: Collection, id: string) => collection + "/" + id;

/** The titles of the documents the rows are about (fetched once each; missing ones stay unknown). */
function useTitles(refs: { collection: Collection; doc_id: string }[] | null): Record<string, string | null> {
  const [titles, setTitles] = useState<Record<string, string | null>>({});
  const wanted = Array.from(new Set((refs ?? []).map((r) => key(r.collection, r.doc_id)))).sort().join("\n");
  useEffect(() => {
    let live = true;
    const todo = wanted ? wanted.split("\n").filter((k) => !(k in titles)) : [];
    if (todo.length === 0) return;
    Promise.all(
      todo.map(async (k) => {
        const i = k.indexOf("/");
        try {
          const doc = (await api.get(k.slice(0, i) as CollectionName, k.slice(i + 1))) as Record<string, unknown> | null;
          const t = doc?.title ?? doc?.display_name;
          return [k, typeof t === "string" && t.trim() ? t : null] as const;
        } catch {
          return [k, null] as const;
        }
      }),
    ).then((pairs) => live && setTitles((old) => ({ ...old, ...Object.fromEntries(pairs) })));
    return () => {
      live = false;
    };
  }, [wanted]); // eslint-disable-line react-hooks/exhaustive-deps
  return titles;
}

/** A document named by its title, with its id beside it; just the id when there is no title. */
function DocName(props: { titles: Record<string, string | null>; collection: Collection; id: string; testid: string }) {
  const t = props.titles[key(props.collection, props.id)];
  return t ? (
    <>
      <span data-testid={props.testid}>“{t}”</span> <code className="muted" title="Document id">{props.id}</code>
    </>
  ) : (
    <code data-testid={props.testid}>{props.id}</code>
  );
}

export function StatusBar(props: { onSyncNow: () => void }) {
  const { status, info, error, notify, bumpLibrary, navigate } = useApp();
  useTick(15000);
  const [panel, setPanel] = useState<"conflicts" | "attention" | null>(null);
  const signedIn = info?.account != null;
  const words = stateWords(status, signedIn);
  const title =
    !signedIn
      ? "Not signed in: your library lives on this computer only. Sign in from Settings to sync."
      : status?.state === "offline"
        ? `Offline: ${status.reason}`
        : words;

  return (
    <footer className="statusbar" aria-label="Sync status">
      <span className={"dot " + (signedIn ? status?.state ?? "idle" : "local")} aria-hidden />
      <span data-testid="sync-indicator" title={title} className="sync-words">
        {words}
      </span>
      {signedIn && status?.state === "syncing" && (
        <span className="sync-progress" data-testid="sync-progress">
          <small>{status.phase === "push" ? "Sending" : "Receiving"}</small>
          <Progress value={status.done} max={status.total ?? Math.max(status.done, 1)} />
        </span>
      )}
      <span data-testid="pending-count" title={status?.oldest_pending_age_secs != null ? `Oldest waiting ${status.oldest_pending_age_secs} s` : undefined}>
        {(status?.pending ?? 0).toLocaleString("en-US")} pending
      </span>
      <span data-testid="last-synced" title={fmtDate(status?.last_synced_at)}>
        {signedIn && status?.last_synced_at != null ? "Last synced " + relTime(status.last_synced_at) : "Never synced"}
      </span>
      <span className="spacer" />
      <button
        className="small status-account"
        data-testid="status-account"
        title={signedIn ? `Signed in as ${info?.account?.email}: open Profile to sign out` : "Not signed in: sign in or create an account in Settings"}
        onClick={() => navigate({ screen: signedIn ? "profile" : "settings" })}
      >
        <span aria-hidden>{signedIn ? "☺ " : "○ "}</span>
        {signedIn ? info?.account?.email : "Local only"}
      </button>
      <button className="small" data-testid="attention-button" onClick={() => setPanel("attention")}>
        Needs attention <Badge n={status?.needs_attention ?? 0} testid="attention-badge" />
      </button>
      <button className="small" data-testid="conflicts-button" onClick={() => setPanel("conflicts")}>
        Conflicts <Badge n={status?.open_conflicts ?? 0} testid="conflicts-badge" />
      </button>
      <button className="small primary" data-testid="sync-now" onClick={props.onSyncNow} title="Sync now (Ctrl+Shift+S)">
        Sync now
      </button>
      {panel === "conflicts" && (
        <ConflictsPanel onClose={() => setPanel(null)} error={error} notify={notify} changed={bumpLibrary} />
      )}
      {panel === "attention" && <AttentionPanel onClose={() => setPanel(null)} error={error} changed={bumpLibrary} />}
    </footer>
  );
}

function ConflictsPanel(props: { onClose: () => void; error: (e: unknown) => void; notify: (s: string) => void; changed: () => void }) {
  const [items, setItems] = useState<Conflict[] | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const { status } = useApp();
  const load = useCallback(() => {
    api.conflicts(false).then(setItems, (e) => {
      props.error(e);
      setItems([]);
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  useEffect(load, [load, status?.open_conflicts]);
  const resolve = async (c: Conflict, r: Resolution) => {
    setBusy(c.id);
    try {
      await api.resolveConflict(c.id, r);
      props.notify("Conflict resolved");
      props.changed();
      load();
    } catch (e) {
      props.error(e);
    } finally {
      setBusy(null);
    }
  };
  const open = (items ?? []).filter((c) => c.resolved == null);
  const titles = useTitles(items);
  return (
    <Modal title="Conflicts" onClose={props.onClose} wide testid="conflicts-panel">
      {items === null ? (
        <p>Loading…</p>
      ) : open.length === 0 ? (
        <Empty>No conflicts. When this device and another change the same thing, it shows up here.</Empty>
      ) : (
        <ul className="conflicts">
          {open.map((c) => (
            <li key={c.id} data-testid="conflict-row">
              <div className="conflict-head">
                <strong>{c.collection.replace(/_/g, " ")}</strong> <DocName titles={titles} collection={c.collection} id={c.doc_id} testid="conflict-doc" />
                {c.field != null && (
                  <>
                    {" "}
                    — field <code data-testid="conflict-field">{c.field}</code>
                  </>
                )}
                {c.kind !== "field" && <em> ({c.kind === "edit_vs_delete" ? "you edited, it was deleted elsewhere" : "you deleted, it was edited elsewhere"})</em>}
                <small className="muted"> · {fmtDate(c.at)} · kept automatically: {c.resolution.replace(/_/g, " ")}</small>
              </div>
              <div className="mine-theirs">
                <div>
                  <h4>Mine</h4>
                  <pre data-testid="conflict-mine">{show(c.mine)}</pre>
                </div>
                <div>
                  <h4>Theirs</h4>
                  <pre data-testid="conflict-theirs">{show(c.theirs)}</pre>
                </div>
              </div>
              <div className="row-actions">
                <button disabled={busy === c.id} data-testid="keep-mine" onClick={() => resolve(c, "keep_mine")}>
                  Keep mine
                </button>
                <button disabled={busy === c.id} data-testid="keep-theirs" onClick={() => resolve(c, "keep_theirs")}>
                  Keep theirs
                </button>
                {c.kind !== "delete_vs_edit" && (
                  <button
                    disabled={busy === c.id}
                    data-testid="keep-both"
                    title={c.kind === "field" ? "Keep theirs here and a copy with mine" : "Keep a copy with my edit; the original goes to the trash"}
                    onClick={() => resolve(c, "keep_both")}
                  >
                    Keep both
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
    </Modal>
  );
}

function AttentionPanel(props: { onClose: () => void; error: (e: unknown) => void; changed: () => void }) {
  const [items, setItems] = useState<AttentionItem[] | null>(null);
  const { status } = useApp();
  const load = useCallback(() => {
    api.attention().then(setItems, (e) => {
      props.error(e);
      setItems([]);
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  useEffect(load, [load, status?.needs_attention]);
  const titles = useTitles(items);
  const settle = async (it: AttentionItem, retry: boolean) => {
    try {
      await api.settleAttention(it.mutation_id, retry);
      props.changed();
      load();
    } catch (e) {
      props.error(e);
    }
  };
  return (
    <Modal title="Needs attention" onClose={props.onClose} wide testid="attention-panel">
      {items === null ? (
        <p>Loading…</p>
      ) : items.length === 0 ? (
        <Empty>Nothing needs attention. Changes the server refuses for good are listed here.</Empty>
      ) : (
        <ul className="attention">
          {items.map((it) => (
            <li key={it.mutation_id} data-testid="attention-row">
              <div>
                <strong>
                  {it.op} {it.collection.replace(/_/g, " ")}
                </strong>{" "}
                <DocName titles={titles} collection={it.collection} id={it.doc_id} testid="attention-doc" /> <small className="muted">{fmtDate(it.at)}</small>
              </div>
              <div className="attention-msg">{it.message}</div>
              <div className="row-actions">
                <button data-testid="attention-retry" onClick={() => settle(it, true)}>
                  Retry
                </button>
                <button data-testid="attention-dismiss" onClick={() => settle(it, false)}>
                  Dismiss (drop my change)
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
    </Modal>
  );
}
