import { useCallback, useEffect, useRef, useState } from "react";
import { api, type Changes } from "../api";
import type { Idea } from "../bindings/Idea";
import type { Milestone } from "../bindings/Milestone";
import type { Project } from "../bindings/Project";
import type { Prompt } from "../bindings/Prompt";
import { useApp } from "../ctx";
import { Empty, Field, Modal, Progress, Select, enums } from "../ui";
import { fmtDay, nowDate, plural, relTime, splitTags, useCommand, useDebounced } from "../util";
import { ShareDialog } from "./ShareDialog";
import { ShareMarks, ViewOnlyNotice, accessOf, useMe, useUserNames } from "./sharing";

/** Progress: share of milestones done when there are any, else the stored figure. */
export function projectProgress(p: Project): number {
  const ms = p.timeline?.milestones ?? [];
  if (ms.length > 0) return Math.round((ms.filter((m) => m.completed).length / ms.length) * 100);
  return Math.round(p.progress ?? 0);
}

export function ProjectsScreen() {
  const { libraryTick, error, target } = useApp();
  const [text, setText] = useState("");
  const q = useDebounced(text, 150);
  const [status, setStatus] = useState("");
  const [items, setItems] = useState<Project[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [selected, setSelected] = useState<string | null>(target.screen === "projects" && target.id ? target.id : null);
  const [creating, setCreating] = useState(false);
  const searchRef = useRef<HTMLInputElement>(null);
  const teamNames = useTeamNames(libraryTick);
  const me = useMe();
  const names = useUserNames();

  const load = useCallback(
    async (offset = 0) => {
      try {
        const r = await api.list("projects", { text: q.trim() || null, status: status || null, offset, limit: 100, sort: "updated_at" });
        setItems((old) => (offset === 0 ? r.items : [...old, ...r.items]));
        setTotal(r.total);
      } catch (e) {
        error(e);
      }
    },
    [q, status, error],
  );
  useEffect(() => {
    void load(0);
  }, [load, libraryTick]);
  useEffect(() => {
    if (target.screen === "projects" && target.id) setSelected(target.id);
  }, [target]);

  useCommand("new", () => setCreating(true));
  useCommand("search", () => searchRef.current?.focus());

  return (
    <div className="split">
      <section className="list-pane">
        <div className="toolbar">
          <input ref={searchRef} type="search" placeholder="Search projects" value={text} onChange={(e) => setText(e.target.value)} data-testid="project-search" />
          <button className="primary" onClick={() => setCreating(true)} data-testid="new-project" title="New project (Ctrl+N)">
            New
          </button>
        </div>
        <div className="toolbar">
          <Select label="Status" value={status as ""} options={enums.projectStatus} any="Any status" onChange={setStatus} />
          <span className="muted">{total == null ? "…" : plural(total, "project")}</span>
        </div>
        <div className="list">
          {total === 0 && <Empty testid="projects-empty">{q || status ? "No projects match." : "No projects yet — press Ctrl+N to start one."}</Empty>}
          {items.map((p) => (
            <div key={p._id} role="button" tabIndex={0} className={"row" + (selected === p._id ? " selected" : "")} data-testid="project-row" onClick={() => setSelected(p._id)} onKeyDown={(e) => e.key === "Enter" && setSelected(p._id)}>
              <div className="row-title">
                {p.color && <span className="swatch" style={{ background: p.color }} />}
                {p.title}
                <TeamBadge project={p} names={teamNames} />
                <ShareMarks collection="projects" doc={p} me={me} names={names} />
              </div>
              <div className="row-sub muted">
                <span>{p.status}</span>
                <span>{plural(p.stats?.prompt_count ?? p.prompt_ids?.length ?? 0, "prompt")}</span>
                <span>{projectProgress(p)}%</span>
              </div>
              <Progress value={projectProgress(p)} />
            </div>
          ))}
          {total != null && items.length < total && (
            <button className="load-more" onClick={() => load(items.length)}>
              Load more
            </button>
          )}
        </div>
      </section>
      <section className="detail-pane">
        {selected ? (
          <ProjectDetail key={selected} id={selected} teamNames={teamNames} me={me} names={names} onGone={() => { setSelected(null); void load(0); }} onChanged={() => load(0)} />
        ) : (
          <Empty>Pick a project to see its prompts, ideas and milestones.</Empty>
        )}
      </section>
      {creating && (
        <NewProject
          onClose={() => setCreating(false)}
          onCreated={(p) => {
            setCreating(false);
            setSelected(p._id);
            void load(0);
          }}
        />
      )}
    </div>
  );
}

function NewProject(props: { onClose: () => void; onCreated: (p: Project) => void }) {
  const { error, notify } = useApp();
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const create = async () => {
    if (!title.trim()) return error("A project needs a title.");
    try {
      const p = await api.create("projects", { title, description: description || null });
      notify("Project created");
      props.onCreated(p);
    } catch (e) {
      error(e);
    }
  };
  useCommand("save", () => void create());
  return (
    <Modal
      title="New project"
      onClose={props.onClose}
      testid="project-dialog"
      footer={
        <>
          <button onClick={props.onClose}>Cancel</button>
          <button className="primary" onClick={create} data-testid="project-create">
            Create
          </button>
        </>
      }
    >
      <Field label="Title">
        <input value={title} onChange={(e) => setTitle(e.target.value)} data-testid="project-title-new" onKeyDown={(e) => e.key === "Enter" && create()} />
      </Field>
      <Field label="Description">
        <textarea rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
    </Modal>
  );
}

/** Team id to name, for the teams in the library (re-read when the library changes). */
function useTeamNames(libraryTick: number): Record<string, string> {
  const [names, setNames] = useState<Record<string, string>>({});
  useEffect(() => {
    let live = true;
    api.list("teams", { limit: 1000, deleted: "include" }).then(
      (r) => live && setNames(Object.fromEntries(r.items.map((t) => [t._id, t.name]))),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [libraryTick]);
  return names;
}

/** "Team: <name>" on a project filed into a team. */
function TeamBadge(props: { project: Project; names: Record<string, string> }) {
  const id = props.project.collaboration?.team_id;
  if (!id) return null;
  const name = props.names[id];
  return (
    <span className="chip team" data-testid="team-badge" title={name ? `Shared with the team ${name}` : `Shared with team ${id}`}>
      Team: {name ?? "unknown team"}
    </span>
  );
}

function ProjectDetail(props: {
  id: string;
  teamNames: Record<string, string>;
  me: string | null;
  names: Record<string, string>;
  onGone: () => void;
  onChanged: () => void;
}) {
  const { error, notify, navigate, libraryTick } = useApp();
  const [sharing, setSharing] = useState(false);
  const [p, setP] = useState<Project | null | undefined>(undefined);
  const [prompts, setPrompts] = useState<{ items: Prompt[]; total: number } | null>(null);
  const [ideas, setIdeas] = useState<{ items: Idea[]; total: number } | null>(null);
  const [form, setForm] = useState({ title: "", description: "", status: "planning", priority: "medium", category: "", tags: "" });
  const [newMs, setNewMs] = useState("");
  const [newDue, setNewDue] = useState("");

  const load = useCallback(async () => {
    try {
      const doc = await api.get("projects", props.id);
      setP(doc);
      if (doc) {
        setForm({
          title: doc.title,
          description: doc.description ?? "",
          status: doc.status,
          priority: doc.priority,
          category: doc.category ?? "",
          tags: (doc.tags ?? []).join(", "),
        });
        const [pr, id] = await Promise.all([
          api.list("prompts", { project_id: props.id, limit: 100, sort: "updated_at" }),
          api.list("ideas", { project_id: props.id, limit: 100, sort: "updated_at" }),
        ]);
        setPrompts(pr);
        setIdeas(id);
      }
    } catch (e) {
      error(e);
    }
  }, [props.id, error]);
  useEffect(() => {
    void load();
  }, [load, libraryTick]);

  const patch = async (c: Changes, msg?: string) => {
    try {
      const doc = await api.update("projects", props.id, c);
      setP(doc);
      if (msg) notify(msg);
      props.onChanged();
      return true;
    } catch (e) {
      error(e);
      return false;
    }
  };

  const save = () =>
    patch(
      {
        title: form.title,
        description: form.description || null,
        status: form.status,
        priority: form.priority,
        category: form.category,
        tags: splitTags(form.tags),
      },
      "Project saved",
    );
  useCommand("save", () => void save());

  if (p === undefined) return <p className="muted pad">Loading…</p>;
  if (p === null) return <Empty>This project no longer exists.</Empty>;

  const milestones = p.timeline?.milestones ?? [];
  const setMilestones = (ms: Milestone[]) => {
    const done = ms.filter((m) => m.completed).length;
    const progress = ms.length ? Math.round((done / ms.length) * 100) : p.progress ?? 0;
    // Show the change at once; the store's answer replaces it (or the error reverts it).
    const before = p;
    setP({ ...p, progress, timeline: { ...p.timeline, milestones: ms } });
    return patch({ "timeline.milestones": ms, progress }).then((ok) => {
      if (!ok) setP(before);
    });
  };
  const toggle = (i: number) =>
    setMilestones(milestones.map((m, k) => (k === i ? { ...m, completed: !m.completed, completed_at: !m.completed ? nowDate() : null } : m)));
  const rename = (i: number, title: string) => {
    if (title.trim() && title !== milestones[i].title) void setMilestones(milestones.map((m, k) => (k === i ? { ...m, title } : m)));
  };
  const redate = (i: number, day: string) => setMilestones(milestones.map((m, k) => (k === i ? { ...m, due_date: day ? { $date: day + "T00:00:00Z" } : null } : m)));
  const removeMs = (i: number) => setMilestones(milestones.filter((_, k) => k !== i));
  const addMs = async () => {
    if (!newMs.trim()) return;
    await setMilestones([...milestones, { title: newMs.trim(), due_date: newDue ? { $date: newDue + "T00:00:00Z" } : null, completed: false, completed_at: null }]);
    setNewMs("");
    setNewDue("");
  };
  const progress = projectProgress(p);
  const set = <K extends keyof typeof form>(k: K, v: string) => setForm((f) => ({ ...f, [k]: v }));
  const access = accessOf("projects", p, props.me);

  return (
    <div className="editor" data-testid="project-detail">
      <div className="editor-head">
        <input className="title-input" value={form.title} onChange={(e) => set("title", e.target.value)} data-testid="project-title" aria-label="Project title" />
        <div className="row-actions">
          <button className="primary" onClick={save} data-testid="project-save">
            Save
          </button>
          {access.own && (
            <button onClick={() => setSharing(true)} data-testid="project-share" title="Share this project with people by email">
              Share
            </button>
          )}
          <button
            className="danger"
            onClick={async () => {
              try {
                await api.remove("projects", p._id);
                notify("Project moved to the trash");
                props.onGone();
              } catch (e) {
                error(e);
              }
            }}
          >
            Delete
          </button>
        </div>
      </div>
      <div className="progress-line">
        <Progress value={progress} testid="project-progress" />
        <span data-testid="project-progress-text">{progress}% done</span>
        <span className="muted">updated {relTime(p.updated_at)}</span>
        <TeamBadge project={p} names={props.teamNames} />
        <ShareMarks collection="projects" doc={p} me={props.me} names={props.names} />
      </div>
      {access.mine === "read" && <ViewOnlyNotice kind="project" owner={props.names[p.user_id] ?? p.user_id} />}
      <div className="form-grid">
        <Field label="Description" wide>
          <textarea rows={2} value={form.description} onChange={(e) => set("description", e.target.value)} />
        </Field>
        <Field label="Status">
          <Select value={form.status as "planning"} options={enums.projectStatus} onChange={(v) => set("status", v)} />
        </Field>
        <Field label="Priority">
          <Select value={form.priority as "medium"} options={enums.priority} onChange={(v) => set("priority", v)} />
        </Field>
        <Field label="Category">
          <input value={form.category} onChange={(e) => set("category", e.target.value)} />
        </Field>
        <Field label="Tags">
          <input value={form.tags} onChange={(e) => set("tags", e.target.value)} />
        </Field>
      </div>
      <h3>Milestones</h3>
      <ul className="milestones" data-testid="milestones">
        {milestones.length === 0 && <li className="muted">No milestones yet — add the first step below.</li>}
        {milestones.map((m, i) => (
          <li key={i + ":" + m.title} data-testid="milestone" className={m.completed ? "done" : ""}>
            <input type="checkbox" checked={m.completed} onChange={() => toggle(i)} aria-label={`Done: ${m.title}`} data-testid="milestone-done" />
            <input className="plain" defaultValue={m.title} aria-label="Milestone title" data-testid="milestone-title" onBlur={(e) => rename(i, e.target.value)} onKeyDown={(e) => e.key === "Enter" && (e.target as HTMLInputElement).blur()} />
            <input type="date" value={fmtDay(m.due_date)} aria-label="Due date" onChange={(e) => redate(i, e.target.value)} />
            <button className="icon" aria-label="Remove milestone" onClick={() => removeMs(i)}>
              ×
            </button>
          </li>
        ))}
      </ul>
      <div className="inline">
        <input placeholder="New milestone" value={newMs} onChange={(e) => setNewMs(e.target.value)} onKeyDown={(e) => e.key === "Enter" && addMs()} data-testid="milestone-new" />
        <input type="date" value={newDue} onChange={(e) => setNewDue(e.target.value)} aria-label="Due date of the new milestone" />
        <button onClick={addMs} data-testid="milestone-add">
          Add
        </button>
      </div>
      <div className="two-col">
        <div>
          <h3>
            Prompts <span className="muted" data-testid="project-prompt-count">{prompts ? prompts.total : ""}</span>
          </h3>
          {prompts?.items.length === 0 && <p className="muted">No prompts in this project. Pick this project in a prompt’s editor to add it.</p>}
          <ul className="links">
            {prompts?.items.map((x) => (
              <li key={x._id}>
                <a href="#" data-testid="project-prompt" onClick={(e) => { e.preventDefault(); navigate({ screen: "prompts", id: x._id }); }}>
                  {x.title}
                </a>
              </li>
            ))}
          </ul>
        </div>
        <div>
          <h3>
            Ideas <span className="muted" data-testid="project-idea-count">{ideas ? ideas.total : ""}</span>
          </h3>
          {ideas?.items.length === 0 && <p className="muted">No ideas in this project.</p>}
          <ul className="links">
            {ideas?.items.map((x) => (
              <li key={x._id}>
                <a href="#" data-testid="project-idea" onClick={(e) => { e.preventDefault(); navigate({ screen: "ideas", id: x._id }); }}>
                  {x.title}
                </a>{" "}
                <span className="chip">{x.status}</span>
              </li>
            ))}
          </ul>
        </div>
      </div>
      {sharing && (
        <ShareDialog
          collection="projects"
          id={p._id}
          title={p.title}
          onClose={() => setSharing(false)}
          onChanged={() => {
            void load();
            props.onChanged();
          }}
        />
      )}
    </div>
  );
}
