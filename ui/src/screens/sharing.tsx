// Who owns a prompt, idea or project and who else has it, read from the
// document's own sharing fields (prompts and projects:
// `collaboration.allowed_users` and `collaboration.permissions`; ideas:
// `shared_with`), and the marks that say so in lists and editors.
import { useEffect, useState } from "react";
import { api } from "../api";
import type { Idea } from "../bindings/Idea";
import type { Project } from "../bindings/Project";
import type { Prompt } from "../bindings/Prompt";
import type { SharePermission } from "../bindings/SharePermission";
import { useApp } from "../ctx";
import { plural } from "../util";

/** The collections a document can be shared in. */
export type Shareable = "prompts" | "ideas" | "projects";
export type ShareableDoc<C extends Shareable> = { prompts: Prompt; ideas: Idea; projects: Project }[C];

/** Words for a permission. */
export const PERMISSION_WORDS: Record<SharePermission, string> = { read: "Can view", write: "Can edit" };

/** The signed-in account's id (before sign-in, the id the library's documents are owned by). */
export function useMe(): string | null {
  const { info } = useApp();
  return info?.account?.user_id ?? info?.user_id ?? null;
}

export type Access = {
  /** The current user owns it (and so may share it). */
  own: boolean;
  owner: string;
  /** The people it is shared with by name (not its team). */
  people: string[];
  /** What the current user was given when it is shared with them; null when it is not (theirs, or reached through a team). */
  mine: SharePermission | null;
};

/** What a person listed on a document may do, as the server reads it: ideas are shared to view; otherwise only "read" is read-only. */
export function permissionOf(collection: Shareable, doc: ShareableDoc<Shareable>, uid: string): SharePermission {
  if (collection === "ideas") return "read";
  const perms = (doc as Prompt | Project).collaboration?.permissions ?? {};
  return perms[uid] === "read" ? "read" : "write";
}

export function accessOf(collection: Shareable, doc: ShareableDoc<Shareable>, me: string | null): Access {
  const people = (collection === "ideas" ? (doc as Idea).shared_with : (doc as Prompt | Project).collaboration?.allowed_users) ?? [];
  const owner = doc.user_id;
  const own = me == null || owner === me;
  const listed = me != null && !own && people.includes(me);
  return { own, owner, people, mine: listed ? permissionOf(collection, doc, me) : null };
}

/** User id to name, for the accounts the library knows (re-read when the library changes). */
export function useUserNames(): Record<string, string> {
  const { libraryTick } = useApp();
  const [names, setNames] = useState<Record<string, string>>({});
  useEffect(() => {
    let live = true;
    api.list("users", { limit: 1000 }).then(
      (r) => live && setNames(Object.fromEntries(r.items.map((u) => [u._id, u.display_name || u.email || u._id]))),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [libraryTick]);
  return names;
}

/**
 * "Shared" on the owner's shared documents; "Shared with you" (or "Owned by …"
 * when it reached you through a team) and "View only" on someone else's.
 */
export function ShareMarks(props: { collection: Shareable; doc: ShareableDoc<Shareable>; me: string | null; names: Record<string, string> }) {
  const a = accessOf(props.collection, props.doc, props.me);
  const nameOf = (uid: string) => props.names[uid] ?? uid;
  if (a.own) {
    if (a.people.length === 0) return null;
    const who = a.people.map(nameOf).join(", ");
    return (
      <span className="chip shared" data-testid="shared-badge" title={`Shared with ${plural(a.people.length, "person", "people")}: ${who}`}>
        Shared
      </span>
    );
  }
  const owner = nameOf(a.owner);
  return (
    <>
      <span
        className="chip shared-with-me"
        data-testid="owner-mark"
        title={a.mine ? `Owned by ${owner}; shared with you (${PERMISSION_WORDS[a.mine].toLowerCase()})` : `Owned by ${owner}`}
      >
        {a.mine ? "Shared with you" : `Owned by ${owner}`}
      </span>
      {a.mine === "read" && (
        <span className="chip warn" data-testid="view-only" title={`${owner} shared it with you to view; the sync server refuses changes to it`}>
          View only
        </span>
      )}
    </>
  );
}

/** The notice on a document shared with the current user to view only: edits stay possible here, but the server refuses them. */
export function ViewOnlyNotice(props: { kind: string; owner: string }) {
  return (
    <div className="banner view-only" role="status" data-testid="view-only-notice">
      {props.owner} shared this {props.kind} with you to view only. You can still type and save here, but the sync server will refuse your
      changes: they will not reach anyone else, and they will be listed under “Needs attention”.
    </div>
  );
}
