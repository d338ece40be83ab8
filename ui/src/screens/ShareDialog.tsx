// Sharing one prompt, idea or project with named people. Who has it is the
// sync server's to decide (only the server knows which email is whose), so
// every step goes through the `share_request` command, online only: offline
// or signed out the dialog says so and nothing is queued. The sync that
// follows a change brings the document's new sharing fields into the library.
import { useCallback, useEffect, useState } from "react";
import { api } from "../api";
import type { SharedWith } from "../bindings/SharedWith";
import type { SharePermission } from "../bindings/SharePermission";
import type { ShareRequest } from "../bindings/ShareRequest";
import { useApp } from "../ctx";
import { Confirm, Field, Modal } from "../ui";
import { errMsg, needsServer } from "../util";
import { PERMISSION_WORDS, type Shareable } from "./sharing";

const KIND: Record<Shareable, string> = { prompts: "prompt", ideas: "idea", projects: "project" };

/** Words for a failed sharing operation: what was tried and why it did not happen. */
export function shareErrorWords(what: string, err: unknown): string {
  const msg = errMsg(err).replace(/[.\s]+$/, "");
  if (needsServer(err)) return `Sharing needs the sync server: ${msg}. Could not ${what}; nothing was changed.`;
  return `Could not ${what}. ${msg.charAt(0).toUpperCase()}${msg.slice(1)}.`;
}

type Failure = { text: string; listing: boolean };

export function ShareDialog(props: { collection: Shareable; id: string; title: string; onClose: () => void; onChanged?: () => void }) {
  const { collection, id } = props;
  const { notify } = useApp();
  const kind = KIND[collection];
  // Ideas keep no permissions: they are shared to view.
  const permissions: SharePermission[] = collection === "ideas" ? ["read"] : ["read", "write"];
  const [people, setPeople] = useState<SharedWith[] | null>(null);
  const [failure, setFailure] = useState<Failure | null>(null);
  const [busy, setBusy] = useState(false);
  const [email, setEmail] = useState("");
  const [permission, setPermission] = useState<SharePermission>("read");
  const [removing, setRemoving] = useState<SharedWith | null>(null);

  /** Sends one request; answers whether it was done. */
  const ask = useCallback(
    async (what: string, request: ShareRequest): Promise<boolean> => {
      setBusy(true);
      setFailure(null);
      try {
        const done = await api.shareRequest(request);
        setPeople(done.shared_with);
        return true;
      } catch (e) {
        setFailure({ text: shareErrorWords(what, e), listing: request.op === "list" });
        return false;
      } finally {
        setBusy(false);
      }
    },
    [],
  );

  const list = useCallback(() => ask("load who has access", { op: "list", collection, id }), [ask, collection, id]);
  useEffect(() => {
    void list();
  }, [list]);

  const nameOf = (p: SharedWith) => p.display_name || p.user_id;

  const share = async () => {
    const to = email.trim();
    if (!to || busy) return;
    const ok = await ask(`share with ${to}`, { op: "share", collection, id, email: to, permission });
    if (ok) {
      setEmail("");
      notify(`Shared with ${to} (${PERMISSION_WORDS[permission].toLowerCase()})`);
      props.onChanged?.();
    }
  };
  const unshare = async (p: SharedWith) => {
    setRemoving(null);
    const ok = await ask(`stop sharing with ${nameOf(p)}`, { op: "unshare", collection, id, user_id: p.user_id });
    if (ok) {
      notify(`${nameOf(p)} no longer has access`);
      props.onChanged?.();
    }
  };

  return (
    <Modal
      title={`Share “${props.title || "(untitled)"}”`}
      onClose={props.onClose}
      testid="share-dialog"
      footer={
        <button onClick={props.onClose} data-testid="share-done">
          Done
        </button>
      }
    >
      {failure && (
        <div className="banner team-error" role="alert" data-testid="share-error">
          <span>{failure.text}</span>
          <span className="spacer" />
          {failure.listing && (
            <button className="small" disabled={busy} onClick={() => void list()} data-testid="share-retry">
              Try again
            </button>
          )}
          <button className="icon" aria-label="Dismiss" onClick={() => setFailure(null)}>
            ×
          </button>
        </div>
      )}
      <h3 className="pane-head" id="share-people-head">
        Who has access
      </h3>
      {people == null ? (
        <p className="muted small-text" data-testid="share-loading">
          {busy ? "Asking the sync server…" : "Who has access is unknown until the sync server answers."}
        </p>
      ) : people.length === 0 ? (
        <p className="muted small-text" data-testid="share-empty">
          Only you have access to this {kind}.
        </p>
      ) : (
        <ul className="share-people" aria-labelledby="share-people-head" data-testid="share-people">
          {people.map((p) => (
            <li key={p.user_id} data-testid="share-person" data-user-id={p.user_id}>
              <span className="share-name" data-testid="share-person-name" title={p.user_id}>
                {nameOf(p)}
              </span>
              <span className="muted" data-testid="share-person-permission">
                {PERMISSION_WORDS[p.permission]}
              </span>
              <button className="small danger" disabled={busy} onClick={() => setRemoving(p)} aria-label={`Remove ${nameOf(p)}`} data-testid="share-remove">
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        className="share-form"
        data-testid="share-form"
        onSubmit={(e) => {
          e.preventDefault();
          void share();
        }}
      >
        <h3 className="pane-head">Add someone</h3>
        <div className="inline">
          <Field label="Email">
            <input type="email" placeholder="name@example.com" value={email} onChange={(e) => setEmail(e.target.value)} data-testid="share-email" />
          </Field>
          <Field label="Permission">
            <select value={permission} onChange={(e) => setPermission(e.target.value as SharePermission)} data-testid="share-permission">
              {permissions.map((p) => (
                <option key={p} value={p}>
                  {PERMISSION_WORDS[p]}
                </option>
              ))}
            </select>
          </Field>
          <button type="submit" className="primary" disabled={busy || !email.trim()} data-testid="share-submit">
            Share
          </button>
        </div>
        <p className="muted small-text">
          {collection === "ideas"
            ? "Ideas are shared to view only."
            : "To change someone’s permission, share with their email again and pick the new one."}{" "}
          They need a PromptForge account; it reaches their library at their next sync.
        </p>
      </form>
      {removing && (
        <Confirm title="Stop sharing" confirmText="Remove" onConfirm={() => void unshare(removing)} onClose={() => setRemoving(null)} busy={busy}>
          <p>
            Stop sharing “{props.title}” with {nameOf(removing)}? It leaves their library at their next sync.
          </p>
        </Confirm>
      )}
    </Modal>
  );
}
