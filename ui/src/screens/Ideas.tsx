import { useCallback, useEffect, useRef, useState } from "react";
import { api, type Changes } from "../api";
import type { Idea } from "../bindings/Idea";
import type { IdeaStatus } from "../bindings/IdeaStatus";
import type { ListRequest } from "../bindings/ListRequest";
import type { Project } from "../bindings/Project";
import { useApp } from "../ctx";
import { Empty, Field, Modal, Select, enums } from "../ui";
import { plural, splitTags, useCommand, useDebounced } from "../util";
import { ShareDialog } from "./ShareDialog";
import { PromptPicker, usePromptTitles } from "./shared";
import { ShareMarks, ViewOnlyNotice, accessOf, useMe, useUserNames } from "./sharing";

const COLUMN_PAGE = 100;
/** The drag payload type of an idea card: its id. */
const IDEA_DRAG = "application/x-promptforge-idea";
type Column = { items: Idea[]; total: number };

export function IdeasScreen() {
  const { libraryTick, error, target } = useApp();
  const [text, setText] = useState("");
  const q = useDebounced(text, 150);
  const [starredOnly, setStarredOnly] = useState(false);
  const [priority, setPriority] = useState("");
  const [cols, setCols] = useState<Partial<Record<IdeaStatus, Column>>>({});
  const [editing, setEditing] = useState<Idea | "new" | null>(null);
  const [dropOn, setDropOn] = useState<IdeaStatus | null>(null);
  const [projects, setProjects] = useState<Project[]>([]);
  const searchRef = useRef<HTMLInputElement>(null);
  const seq = useRef(0);
  const me = useMe();
  const names = useUserNames();

  const req = useCallback(
    (status: IdeaStatus, offset: number): ListRequest => {
      const r: ListRequest = { status, offset, limit: COLUMN_PAGE, sort: "updated_at" };
      if (q.trim()) r.text = q.trim();
      if (starredOnly) r.starred = true;
      if (priority) r.priority = priority;
      return r;
    },
    [q, starredOnly, priority],
  );

  const loadAll = useCallback(async () => {
    const my = ++seq.current;
    try {
      const pages = await Promise.all(enums.ideaStatus.map((s) => api.list("ideas", req(s, 0))));
      if (my !== seq.current) return;
      const next: Partial<Record<IdeaStatus, Column>> = {};
      enums.ideaStatus.forEach((s, i) => (next[s] = { items: pages[i].items, total: pages[i].total }));
      setCols(next);
    } catch (e) {
      if (my === seq.current) error(e);
    }
  }, [req, error]);

  useEffect(() => {
    void loadAll();
  }, [loadAll, libraryTick]);

  useEffect(() => {
    api.list("projects", { limit: 1000, sort: "title" }).then((p) => setProjects(p.items), () => undefined);
  }, [libraryTick]);

  useEffect(() => {
    if (target.screen === "ideas" && target.id) api.get("ideas", target.id).then((i) => i && setEditing(i), error);
  }, [target, error]);

  const more = async (s: IdeaStatus) => {
    const c = cols[s];
    if (!c) return;
    try {
      const p = await api.list("ideas", req(s, c.items.length));
      setCols((old) => ({ ...old, [s]: { items: [...(old[s]?.items ?? []), ...p.items], total: p.total } }));
    } catch (e) {
      error(e);
    }
  };

  const patch = async (idea: Idea, changes: Changes) => {
    try {
      await api.update("ideas", idea._id, changes);
      await loadAll();
    } catch (e) {
      error(e);
    }
  };

  useCommand("new", () => setEditing("new"));
  useCommand("search", () => searchRef.current?.focus());

  const totalAll = enums.ideaStatus.reduce((n, s) => n + (cols[s]?.total ?? 0), 0);
  const loaded = enums.ideaStatus.every((s) => cols[s] != null);

  return (
    <div className="page">
      <div className="page-head">
        <h1>Ideas</h1>
        <input ref={searchRef} type="search" placeholder="Search ideas (Ctrl+F)" value={text} onChange={(e) => setText(e.target.value)} data-testid="idea-search" />
        <label className="check small">
          <input type="checkbox" checked={starredOnly} onChange={(e) => setStarredOnly(e.target.checked)} data-testid="idea-starred-filter" />
          Starred only
        </label>
        <Select label="Priority" value={priority as ""} options={enums.priority} any="Any priority" onChange={setPriority} testid="idea-priority-filter" />
        <span className="muted" data-testid="idea-total">
          {plural(totalAll, "idea")}
        </span>
        <button className="primary" onClick={() => setEditing("new")} data-testid="new-idea" title="New idea (Ctrl+N)">
          New idea
        </button>
      </div>
      {loaded && totalAll === 0 && !q && !starredOnly && !priority ? (
        <Empty testid="ideas-empty">No ideas yet — press Ctrl+N to jot down your first one.</Empty>
      ) : (
        <div className="board" data-testid="idea-board">
          {enums.ideaStatus.map((s) => {
            const c = cols[s];
            return (
              <section
                key={s}
                className={"column" + (dropOn === s ? " drop-target" : "")}
                data-testid={"idea-column-" + s}
                aria-label={s}
                onDragOver={(e) => {
                  if (!e.dataTransfer.types.includes(IDEA_DRAG)) return;
                  e.preventDefault();
                  e.dataTransfer.dropEffect = "move";
                  setDropOn(s);
                }}
                onDragLeave={() => setDropOn((d) => (d === s ? null : d))}
                onDrop={(e) => {
                  setDropOn(null);
                  const id = e.dataTransfer.getData(IDEA_DRAG);
                  const idea = Object.values(cols)
                    .flatMap((col) => col?.items ?? [])
                    .find((x) => x._id === id);
                  if (idea && idea.status !== s) {
                    e.preventDefault();
                    void patch(idea, { status: s });
                  }
                }}
              >
                <h3>
                  {s} <span className="muted">{c?.total ?? ""}</span>
                </h3>
                {c?.items.map((i) => (
                  <article
                    key={i._id}
                    className={"card priority-" + i.priority}
                    data-testid="idea-card"
                    draggable
                    onDragStart={(e) => {
                      e.dataTransfer.setData(IDEA_DRAG, i._id);
                      e.dataTransfer.effectAllowed = "move";
                    }}
                  >
                    <div className="card-head">
                      <button
                        className={"star" + (i.starred ? " on" : "")}
                        aria-label={i.starred ? "Unstar" : "Star"}
                        aria-pressed={i.starred}
                        data-testid="idea-star"
                        onClick={() => patch(i, { starred: !i.starred })}
                      >
                        {i.starred ? "★" : "☆"}
                      </button>
                      <button className="linkish card-title" data-testid="idea-open" onClick={() => setEditing(i)}>
                        {i.title}
                      </button>
                    </div>
                    <p className="muted clamp">{i.description}</p>
                    <div className="card-marks">
                      <ShareMarks collection="ideas" doc={i} me={me} names={names} />
                    </div>
                    <div className="card-foot">
                      <span className={"chip pri-" + i.priority} data-testid="idea-priority">
                        {i.priority}
                      </span>
                      <select aria-label="Status" value={i.status} data-testid="idea-status" onChange={(e) => patch(i, { status: e.target.value })}>
                        {enums.ideaStatus.map((o) => (
                          <option key={o} value={o}>
                            {o}
                          </option>
                        ))}
                      </select>
                    </div>
                  </article>
                ))}
                {c && c.items.length === 0 && <p className="muted small-text">Nothing here.</p>}
                {c && c.items.length < c.total && (
                  <button className="small" onClick={() => more(s)}>
                    Load more
                  </button>
                )}
              </section>
            );
          })}
        </div>
      )}
      {editing && (
        <IdeaDialog
          idea={editing === "new" ? null : editing}
          projects={projects}
          me={me}
          names={names}
          onClose={() => setEditing(null)}
          onShared={() => void loadAll()}
          onSaved={() => {
            setEditing(null);
            void loadAll();
          }}
        />
      )}
    </div>
  );
}

function IdeaDialog(props: {
  idea: Idea | null;
  projects: Project[];
  me: string | null;
  names: Record<string, string>;
  onClose: () => void;
  onSaved: () => void;
  onShared: () => void;
}) {
  const { error, notify, navigate } = useApp();
  const i = props.idea;
  const access = i ? accessOf("ideas", i, props.me) : null;
  const [sharing, setSharing] = useState(false);
  const [f, setF] = useState({
    title: i?.title ?? "",
    description: i?.description ?? "",
    content: i?.content ?? "",
    category: i?.category ?? "general",
    tags: (i?.tags ?? []).join(", "),
    priority: i?.priority ?? "medium",
    complexity: i?.complexity ?? "simple",
    status: i?.status ?? "raw",
    project_id: i?.project_id ?? "",
    related_prompt_ids: i?.related_prompt_ids ?? [],
    personal_notes: i?.personal_notes ?? "",
    implementation_notes: i?.implementation_notes ?? "",
    development_stage: i?.development_stage ?? 0,
    starred: i?.starred ?? false,
  });
  const titles = usePromptTitles(f.related_prompt_ids);
  const set = <K extends keyof typeof f>(k: K, v: (typeof f)[K]) => setF((x) => ({ ...x, [k]: v }));

  const save = async () => {
    if (!f.title.trim()) return error("An idea needs a title.");
    const fields: Changes = {
      title: f.title,
      description: f.description,
      content: f.content || null,
      category: f.category,
      tags: splitTags(f.tags),
      priority: f.priority,
      complexity: f.complexity,
      status: f.status,
      project_id: f.project_id || null,
      related_prompt_ids: f.related_prompt_ids,
      personal_notes: f.personal_notes || null,
      implementation_notes: f.implementation_notes || null,
      development_stage: Number(f.development_stage) || 0,
      starred: f.starred,
    };
    try {
      if (i) await api.update("ideas", i._id, fields);
      else await api.create("ideas", fields);
      notify(i ? "Idea saved" : "Idea created");
      props.onSaved();
    } catch (e) {
      error(e);
    }
  };
  useCommand("save", () => void save());

  const remove = async () => {
    if (!i) return;
    try {
      await api.remove("ideas", i._id);
      notify("Idea moved to the trash");
      props.onSaved();
    } catch (e) {
      error(e);
    }
  };

  return (
    <Modal
      title={i ? "Edit idea" : "New idea"}
      onClose={props.onClose}
      wide
      testid="idea-dialog"
      footer={
        <>
          {i && (
            <button className="danger" onClick={remove} data-testid="idea-delete">
              Delete
            </button>
          )}
          {i && access?.own && (
            <button onClick={() => setSharing(true)} data-testid="idea-share" title="Share this idea with people by email">
              Share
            </button>
          )}
          <span className="spacer" />
          <button onClick={props.onClose}>Cancel</button>
          <button className="primary" onClick={save} data-testid="idea-save">
            Save
          </button>
        </>
      }
    >
      {i && !access?.own && (
        <div className="inline" data-testid="idea-share-marks">
          <ShareMarks collection="ideas" doc={i} me={props.me} names={props.names} />
        </div>
      )}
      {i && access?.mine === "read" && <ViewOnlyNotice kind="idea" owner={props.names[i.user_id] ?? i.user_id} />}
      <div className="form-grid">
        <Field label="Title" wide>
          <input value={f.title} onChange={(e) => set("title", e.target.value)} data-testid="idea-title" />
        </Field>
        <Field label="Description" wide>
          <textarea rows={3} value={f.description} onChange={(e) => set("description", e.target.value)} data-testid="idea-description" />
        </Field>
        <Field label="Notes / draft" wide>
          <textarea rows={3} value={f.content} onChange={(e) => set("content", e.target.value)} />
        </Field>
        <Field label="Status">
          <Select value={f.status} options={enums.ideaStatus} onChange={(v) => v && set("status", v)} testid="idea-dialog-status" />
        </Field>
        <Field label="Priority">
          <Select value={f.priority} options={enums.priority} onChange={(v) => v && set("priority", v)} testid="idea-dialog-priority" />
        </Field>
        <Field label="Complexity">
          <Select value={f.complexity} options={enums.complexity} onChange={(v) => v && set("complexity", v)} />
        </Field>
        <Field label="Category">
          <input value={f.category} onChange={(e) => set("category", e.target.value)} />
        </Field>
        <Field label="Tags (comma separated)">
          <input value={f.tags} onChange={(e) => set("tags", e.target.value)} />
        </Field>
        <Field label="Development stage (0-100)">
          <input type="number" min={0} max={100} value={f.development_stage} onChange={(e) => set("development_stage", Number(e.target.value))} />
        </Field>
        <label className="check">
          <input type="checkbox" checked={f.starred} onChange={(e) => set("starred", e.target.checked)} /> Starred
        </label>
        <Field label="Project" wide>
          <div className="inline">
            <select value={f.project_id} onChange={(e) => set("project_id", e.target.value)} data-testid="idea-project">
              <option value="">No project</option>
              {props.projects.map((p) => (
                <option key={p._id} value={p._id}>
                  {p.title}
                </option>
              ))}
            </select>
            {f.project_id && (
              <button type="button" className="small" data-testid="idea-open-project" onClick={() => navigate({ screen: "projects", id: f.project_id })}>
                Open project
              </button>
            )}
          </div>
        </Field>
        <div className="field wide">
          <span>Related prompts</span>
          <ul className="links" data-testid="idea-related">
            {f.related_prompt_ids.map((id) => (
              <li key={id}>
                <a
                  href="#"
                  data-testid="idea-related-link"
                  onClick={(e) => {
                    e.preventDefault();
                    navigate({ screen: "prompts", id });
                  }}
                >
                  {titles[id] ?? "…"}
                </a>{" "}
                <button type="button" className="icon" aria-label="Unlink" onClick={() => set("related_prompt_ids", f.related_prompt_ids.filter((x) => x !== id))}>
                  ×
                </button>
              </li>
            ))}
          </ul>
          <PromptPicker placeholder="Link a prompt…" exclude={f.related_prompt_ids} onPick={(p) => set("related_prompt_ids", [...f.related_prompt_ids, p._id])} testid="idea-link-prompt" />
        </div>
        <Field label="Implementation notes" wide>
          <textarea rows={2} value={f.implementation_notes} onChange={(e) => set("implementation_notes", e.target.value)} />
        </Field>
        <Field label="Personal notes" wide>
          <textarea rows={2} value={f.personal_notes} onChange={(e) => set("personal_notes", e.target.value)} />
        </Field>
      </div>
      {sharing && i && <ShareDialog collection="ideas" id={i._id} title={i.title} onClose={() => setSharing(false)} onChanged={props.onShared} />}
    </Modal>
  );
}
