// Teams: the teams you belong to, their members and roles, invitations.
// Membership is the sync server's to decide, so every change goes through
// the `team_request` command (online only); the teams themselves are read
// from the local library, which the sync that follows each change updates.
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { api } from "../api";
import type { Notification } from "../bindings/Notification";
import type { Team } from "../bindings/Team";
import type { TeamMember } from "../bindings/TeamMember";
import type { TeamRequest } from "../bindings/TeamRequest";
import type { TeamRole } from "../bindings/TeamRole";
import { useApp } from "../ctx";
import { Confirm, Empty, Field } from "../ui";
import { errMsg, fmtDate, fmtDay, needsServer, plural, relTime, toDate, useCommand } from "../util";

const RANK: Record<TeamRole, number> = { owner: 3, admin: 2, editor: 1, viewer: 0 };
const INVITE_ROLES: TeamRole[] = ["admin", "editor", "viewer"];

/** Words for a failed team operation: what was tried and why it did not happen. */
export function teamErrorWords(what: string, err: unknown): string {
  const msg = errMsg(err).replace(/[.\s]+$/, "");
  if (needsServer(err)) return `Teams need the sync server: ${msg}. Could not ${what}; nothing was changed.`;
  return `Could not ${what}: ${msg}.`;
}

/** The team id an invitation's `https://promptforge.ai/teams/<id>` link names. */
export function teamIdOf(url: string | null | undefined): string | null {
  const m = /^https:\/\/promptforge\.ai\/teams\/([^/?#]+)/.exec(url ?? "");
  return m ? decodeURIComponent(m[1]) : null;
}

const roleOf = (t: Team, uid: string | null): TeamRole | null => (uid ? t.members?.[uid]?.role ?? null : null);
const stamp = (t: Team) => toDate(t.updated_at)?.getTime() ?? 0;

/** Whether `actor` may change or remove a member who is `target` (as the server decides). */
function mayManage(actor: TeamRole | null, target: TeamRole): boolean {
  if (actor === "owner") return target !== "owner";
  if (actor === "admin") return RANK[target] < RANK.admin;
  return false;
}

/** The roles `actor` may give someone (never owner: that is a transfer). */
function givableRoles(actor: TeamRole | null): TeamRole[] {
  if (actor === "owner") return INVITE_ROLES;
  if (actor === "admin") return ["editor", "viewer"];
  return [];
}

type Invitation = { teamId: string; notes: Notification[] };
type ErrorAt = { where: "create" | "invitations" | "team"; text: string };
type Run = (what: string, request: TeamRequest, where: ErrorAt["where"], done?: string) => Promise<Team | null>;

export function TeamsScreen() {
  const { info, libraryTick, notify, target } = useApp();
  const me = info?.account?.user_id ?? info?.user_id ?? null;
  const [listed, setListed] = useState<Team[] | null>(null);
  // Teams as the server last answered them: shown until the sync that
  // follows brings the same (or a newer) copy into the library.
  const [answers, setAnswers] = useState<Record<string, Team>>({});
  const [notes, setNotes] = useState<Notification[]>([]);
  const [names, setNames] = useState<Record<string, string>>({});
  const [selected, setSelected] = useState<string | null>(target.screen === "teams" && target.id ? target.id : null);
  const [error, setError] = useState<ErrorAt | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      const [teams, invites, users] = await Promise.all([
        api.list("teams", { limit: 1000, sort: "updated_at" }),
        api.list("notifications", { mine: true, category: "teams", limit: 200, sort: "created_at" }),
        api.list("users", { limit: 1000 }).catch(() => null),
      ]);
      setListed(teams.items);
      setNotes(invites.items);
      if (users) {
        const n: Record<string, string> = {};
        for (const u of users.items) n[u._id] = u.display_name || u.email || u._id;
        setNames(n);
      }
    } catch (e) {
      setListed((old) => old ?? []);
      setError({ where: "team", text: `Could not read the teams: ${errMsg(e)}` });
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load, libraryTick]);
  useEffect(() => {
    if (target.screen === "teams" && target.id) setSelected(target.id);
  }, [target]);

  const teams = useMemo(() => {
    const byId = new Map<string, Team>();
    for (const t of listed ?? []) byId.set(t._id, t);
    for (const a of Object.values(answers)) {
      const l = byId.get(a._id);
      if (!l || stamp(a) > stamp(l)) byId.set(a._id, a);
    }
    return [...byId.values()]
      .filter((t) => t.deleted_at == null && roleOf(t, me) != null)
      .sort((a, b) => a.name.localeCompare(b.name));
  }, [listed, answers, me]);

  const invitations = useMemo(() => {
    const mine = new Set(teams.map((t) => t._id));
    const byTeam = new Map<string, Invitation>();
    for (const n of notes) {
      if (n.dismissed || n.title !== "Team invitation") continue;
      const id = teamIdOf(n.action_url);
      if (!id || mine.has(id)) continue;
      const inv = byTeam.get(id) ?? { teamId: id, notes: [] };
      inv.notes.push(n);
      byTeam.set(id, inv);
    }
    return [...byTeam.values()];
  }, [notes, teams]);

  const run: Run = useCallback(
    async (what, request, where, done) => {
      setError(null);
      setBusy(true);
      try {
        const team = await api.teamRequest(request);
        if (team && team._id) setAnswers((a) => ({ ...a, [team._id]: team }));
        if (done) notify(done);
        await load();
        return team;
      } catch (e) {
        setError({ where, text: teamErrorWords(what, e) });
        return null;
      } finally {
        setBusy(false);
      }
    },
    [load, notify],
  );

  const answerInvitation = async (inv: Invitation, accept: boolean) => {
    const ok = await run(
      accept ? "accept the invitation" : "decline the invitation",
      { op: accept ? "accept" : "decline", team_id: inv.teamId },
      "invitations",
      accept ? "You joined the team" : "Invitation declined",
    );
    if (!ok) return;
    // The invitation is answered: put its notifications away (best effort).
    const at = { $date: new Date().toISOString() };
    await Promise.all(
      inv.notes.map((n) =>
        api.update("notifications", n._id, { read: true, read_at: n.read_at ?? at, dismissed: true, dismissed_at: at }).catch(() => undefined),
      ),
    );
    if (accept) setSelected(inv.teamId);
    await load();
  };

  const current = teams.find((t) => t._id === selected) ?? null;
  const errorAt = (where: ErrorAt["where"]) =>
    error?.where === where ? (
      <div className="banner team-error" role="alert" data-testid="team-error">
        <span>{error.text}</span>
        <span className="spacer" />
        <button className="icon" aria-label="Dismiss" onClick={() => setError(null)}>
          ×
        </button>
      </div>
    ) : null;

  return (
    <div className="split">
      <section className="list-pane">
        <div className="toolbar">
          <h3 className="pane-head">Your teams</h3>
          <span className="spacer" />
          <span className="muted small-text" data-testid="team-count">
            {listed == null ? "…" : plural(teams.length, "team")}
          </span>
        </div>
        <div className="list">
          {listed != null && teams.length === 0 && <Empty testid="teams-empty">You are in no team yet — create one below, or accept an invitation.</Empty>}
          {teams.map((t) => (
            <div
              key={t._id}
              role="button"
              tabIndex={0}
              className={"row" + (selected === t._id ? " selected" : "")}
              data-testid="team-row"
              onClick={() => setSelected(t._id)}
              onKeyDown={(e) => e.key === "Enter" && setSelected(t._id)}
            >
              <div className="row-title">{t.name}</div>
              <div className="row-sub muted">
                <span data-testid="team-member-count">{plural(Object.keys(t.members ?? {}).length, "member")}</span>
                <span>
                  you: <span data-testid="team-your-role">{roleOf(t, me)}</span>
                </span>
              </div>
            </div>
          ))}
          <div className="pane-section" data-testid="invitations">
            <h3 className="pane-head">Pending invitations</h3>
            {errorAt("invitations")}
            {invitations.length === 0 && <p className="muted small-text">No invitations waiting.</p>}
            <ul className="notifications">
              {invitations.map((inv) => {
                const n = inv.notes[0];
                return (
                  <li key={inv.teamId} className="notification" data-testid="invitation">
                    <div className="n-main">
                      <div>{n.message || `You are invited to join the team ${inv.teamId}.`}</div>
                      <small className="muted" title={fmtDate(n.created_at)}>
                        {relTime(n.created_at)}
                      </small>
                    </div>
                    <div className="row-actions">
                      <button className="small primary" disabled={busy} onClick={() => answerInvitation(inv, true)} data-testid="invitation-accept">
                        Accept
                      </button>
                      <button className="small" disabled={busy} onClick={() => answerInvitation(inv, false)} data-testid="invitation-decline">
                        Decline
                      </button>
                    </div>
                  </li>
                );
              })}
            </ul>
          </div>
          <CreateTeam run={run} busy={busy} errorBanner={errorAt("create")} onCreated={(t) => setSelected(t._id)} />
        </div>
      </section>
      <section className="detail-pane">
        {errorAt("team") && <div className="editor">{errorAt("team")}</div>}
        {current && me ? (
          <TeamDetail key={current._id} team={current} me={me} names={names} run={run} busy={busy} />
        ) : (
          <Empty>{teams.length ? "Pick a team to see its members." : "Teams share projects and prompts with the people in them."}</Empty>
        )}
      </section>
    </div>
  );
}

function CreateTeam(props: { run: Run; busy: boolean; errorBanner: ReactNode; onCreated: (t: Team) => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [missing, setMissing] = useState(false);
  const nameRef = useRef<HTMLInputElement>(null);
  useCommand("new", () => nameRef.current?.focus());
  const create = async () => {
    if (!name.trim()) {
      setMissing(true);
      nameRef.current?.focus();
      return;
    }
    setMissing(false);
    const request: TeamRequest = { op: "create", team_id: crypto.randomUUID(), name: name.trim() };
    if (description.trim()) request.description = description.trim();
    const t = await props.run(`create the team “${name.trim()}”`, request, "create", "Team created");
    if (t) {
      setName("");
      setDescription("");
      props.onCreated(t);
    }
  };
  return (
    <form
      className="pane-section"
      data-testid="team-create-form"
      onSubmit={(e) => {
        e.preventDefault();
        void create();
      }}
    >
      <h3 className="pane-head">Create team</h3>
      {props.errorBanner}
      {missing && (
        <div className="banner team-error" role="alert" data-testid="team-error">
          A team needs a name.
        </div>
      )}
      <Field label="Name">
        <input ref={nameRef} value={name} maxLength={100} onChange={(e) => setName(e.target.value)} data-testid="team-name" title="New team (Ctrl+N)" />
      </Field>
      <Field label="Description (optional)">
        <input value={description} onChange={(e) => setDescription(e.target.value)} data-testid="team-description" />
      </Field>
      <button type="submit" className="primary" disabled={props.busy} data-testid="team-create">
        Create team
      </button>
    </form>
  );
}

type Ask = { kind: "remove"; uid: string } | { kind: "transfer"; uid: string } | { kind: "delete" } | { kind: "leave" };

function TeamDetail(props: { team: Team; me: string; names: Record<string, string>; run: Run; busy: boolean }) {
  const { team, me, names, run, busy } = props;
  const myRole = roleOf(team, me);
  const [email, setEmail] = useState("");
  const [inviteRole, setInviteRole] = useState<TeamRole>("editor");
  const [transferTo, setTransferTo] = useState("");
  const [ask, setAsk] = useState<Ask | null>(null);

  const members = Object.entries(team.members ?? {}).sort(
    ([a, x], [b, y]) => RANK[y.role] - RANK[x.role] || (toDate(x.joined_at)?.getTime() ?? 0) - (toDate(y.joined_at)?.getTime() ?? 0) || a.localeCompare(b),
  );
  const nameOf = (uid: string) => (uid === me ? `${names[uid] ?? uid} (you)` : names[uid] ?? uid);
  const canInvite = myRole === "owner" || myRole === "admin" || (myRole === "editor" && team.settings?.allow_invites === true);
  const inviteRoles = INVITE_ROLES.filter((r) => myRole != null && RANK[r] <= RANK[myRole]);
  const others = members.filter(([uid]) => uid !== me);

  const invite = async () => {
    const to = email.trim();
    if (!to) return;
    const ok = await run(`invite ${to}`, { op: "invite", team_id: team._id, email: to, role: inviteRole }, "team", `Invitation sent to ${to}`);
    if (ok) setEmail("");
  };
  const setRole = (uid: string, role: TeamRole) =>
    run(`make ${nameOf(uid)} ${role}`, { op: "set_role", team_id: team._id, user_id: uid, role }, "team", `${nameOf(uid)} is now ${role}`);
  const confirm = async () => {
    if (!ask) return;
    const a = ask;
    setAsk(null);
    if (a.kind === "remove") await run(`remove ${nameOf(a.uid)}`, { op: "remove", team_id: team._id, user_id: a.uid }, "team", `${nameOf(a.uid)} was removed`);
    if (a.kind === "transfer") {
      const ok = await run(`hand the team to ${nameOf(a.uid)}`, { op: "transfer", team_id: team._id, user_id: a.uid }, "team", `${nameOf(a.uid)} now owns the team`);
      if (ok) setTransferTo("");
    }
    if (a.kind === "delete") await run(`delete the team “${team.name}”`, { op: "delete", team_id: team._id }, "team", "Team deleted");
    if (a.kind === "leave") await run(`leave the team “${team.name}”`, { op: "leave", team_id: team._id }, "team", `You left ${team.name}`);
  };

  return (
    <div className="editor" data-testid="team-detail">
      <div className="editor-head">
        <h2 className="team-title" data-testid="team-title">
          {team.name}
        </h2>
        <span className="chip" data-testid="team-detail-role">
          you: {myRole}
        </span>
        <span className="spacer" />
        {myRole !== "owner" && (
          <button className="danger" disabled={busy} onClick={() => setAsk({ kind: "leave" })} data-testid="team-leave">
            Leave team
          </button>
        )}
      </div>
      {team.description && <p className="muted">{team.description}</p>}
      <h3>Members</h3>
      <table className="table members">
        <thead>
          <tr>
            <th>Member</th>
            <th>Role</th>
            <th>Joined</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {members.map(([uid, m]: [string, TeamMember]) => {
            const manage = uid !== me && mayManage(myRole, m.role);
            const roles = givableRoles(myRole);
            return (
              <tr key={uid} data-testid="member-row" data-user-id={uid}>
                <td data-testid="member-name" title={uid}>
                  {nameOf(uid)}
                </td>
                <td>
                  {manage ? (
                    <select
                      className="small"
                      value={m.role}
                      disabled={busy}
                      aria-label={`Role of ${nameOf(uid)}`}
                      data-testid="member-role"
                      onChange={(e) => void setRole(uid, e.target.value as TeamRole)}
                    >
                      {(roles.includes(m.role) ? roles : [m.role, ...roles]).map((r) => (
                        <option key={r} value={r}>
                          {r}
                        </option>
                      ))}
                    </select>
                  ) : (
                    <span data-testid="member-role-text">{m.role}</span>
                  )}
                </td>
                <td title={fmtDate(m.joined_at)}>{fmtDay(m.joined_at) || "—"}</td>
                <td>
                  {manage && (
                    <button className="small danger" disabled={busy} onClick={() => setAsk({ kind: "remove", uid })} data-testid="member-remove">
                      Remove
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>

      {canInvite && (
        <form
          className="inline team-invite"
          data-testid="invite-form"
          onSubmit={(e) => {
            e.preventDefault();
            void invite();
          }}
        >
          <h3 className="wide-head">Invite by email</h3>
          <input type="email" placeholder="name@example.com" aria-label="Email to invite" value={email} onChange={(e) => setEmail(e.target.value)} data-testid="invite-email" />
          <select aria-label="Role of the invited member" value={inviteRole} onChange={(e) => setInviteRole(e.target.value as TeamRole)} data-testid="invite-role">
            {inviteRoles.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
          <button type="submit" className="primary" disabled={busy || !email.trim()} data-testid="invite-submit">
            Invite
          </button>
        </form>
      )}

      {myRole === "owner" && (
        <div className="owner-zone">
          <h3>Ownership</h3>
          <div className="inline">
            <select aria-label="New owner" value={transferTo} onChange={(e) => setTransferTo(e.target.value)} data-testid="team-transfer-to">
              <option value="">Choose a member…</option>
              {others.map(([uid]) => (
                <option key={uid} value={uid}>
                  {nameOf(uid)}
                </option>
              ))}
            </select>
            <button disabled={busy || !transferTo} onClick={() => setAsk({ kind: "transfer", uid: transferTo })} data-testid="team-transfer">
              Transfer ownership
            </button>
            <span className="spacer" />
            <button className="danger" disabled={busy} onClick={() => setAsk({ kind: "delete" })} data-testid="team-delete">
              Delete team
            </button>
          </div>
        </div>
      )}

      {ask && (
        <Confirm
          title={
            ask.kind === "remove" ? "Remove member" : ask.kind === "transfer" ? "Transfer ownership" : ask.kind === "delete" ? "Delete team" : "Leave team"
          }
          confirmText={ask.kind === "remove" ? "Remove" : ask.kind === "transfer" ? "Transfer" : ask.kind === "delete" ? "Delete team" : "Leave"}
          onConfirm={() => void confirm()}
          onClose={() => setAsk(null)}
          busy={busy}
        >
          {ask.kind === "remove" && <p>Remove {nameOf(ask.uid)} from {team.name}? They lose access to the team’s projects.</p>}
          {ask.kind === "transfer" && <p>Make {nameOf(ask.uid)} the owner of {team.name}? You stay in the team as an admin.</p>}
          {ask.kind === "delete" && <p>Delete {team.name} for everyone? Its {plural(members.length, "member")} lose access to its projects.</p>}
          {ask.kind === "leave" && <p>Leave {team.name}? You lose access to its projects until someone invites you again.</p>}
        </Confirm>
      )}
    </div>
  );
}
