import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { api, type Changes } from "../api";
import type { ListRequest } from "../bindings/ListRequest";
import type { Project } from "../bindings/Project";
import type { Prompt } from "../bindings/Prompt";
import type { PromptVersion } from "../bindings/PromptVersion";
import { useApp } from "../ctx";
import { Confirm, Empty, Field, Modal, Select, enums } from "../ui";
import { diffLines, fmtDate, plural, relTime, splitTags, useCommand, useDebounced } from "../util";

const PAGE = 100;
let readySent = false;

type Filters = {
  text: string;
  category: string;
  tags: string;
  status: string;
  visibility: string;
  project_id: string;
  folder_id: string;
  difficulty: string;
  templates: boolean;
  trash: boolean;
  sort: "updated_at" | "created_at" | "title";
};

const NO_FILTERS: Filters = {
  text: "",
  category: "",
  tags: "",
  status: "",
  visibility: "",
  project_id: "",
  folder_id: "",
  difficulty: "",
  templates: false,
  trash: false,
  sort: "updated_at",
};

/** Fixed height of one row of the prompt list (px); the list is windowed. */
const ROW_H = 56;
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 8;
/** Pages of PAGE rows kept in memory; the farthest from view go first. */
const MAX_PAGES = 40;

/** Fetched pages of one query (`gen`), and the filters they were fetched with. */
type Cache = { gen: number; shown: Filters; total: number | null; pages: Map<number, Prompt[]> };

export function PromptsScreen() {
  const { libraryTick, target, error } = useApp();
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [showFilters, setShowFilters] = useState(false);
  const q = useDebounced(filters, 150);
  const [cache, setCache] = useState<Cache>({ gen: 0, shown: NO_FILTERS, total: null, pages: new Map() });
  const [gen, setGen] = useState(0);
  const [loadedOnce, setLoadedOnce] = useState(false);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewH, setViewH] = useState(800);
  const [selected, setSelected] = useState<string | "new" | null>(target.screen === "prompts" && target.id ? target.id : null);
  const [dirty, setDirty] = useState(false);
  const [pendingSelect, setPendingSelect] = useState<string | "new" | null | undefined>(undefined);
  const [projects, setProjects] = useState<Project[]>([]);
  const [templateDialog, setTemplateDialog] = useState(false);
  const [editorKey, setEditorKey] = useState(0);
  const genRef = useRef(0);
  const inflight = useRef(new Set<string>());
  const listRef = useRef<HTMLDivElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);

  const request = useCallback(
    (offset: number): ListRequest => {
      const r: ListRequest = { offset, limit: PAGE, sort: q.sort };
      if (q.text.trim()) r.text = q.text.trim();
      if (q.category.trim()) r.category = q.category.trim();
      const tags = splitTags(q.tags);
      if (tags.length) r.tags = tags;
      if (q.status) r.status = q.status;
      if (q.visibility) r.visibility = q.visibility;
      if (q.project_id) r.project_id = q.project_id;
      if (q.folder_id.trim()) r.folder_id = q.folder_id.trim();
      if (q.difficulty) r.difficulty = q.difficulty;
      if (q.templates) r.is_template = true;
      r.deleted = q.trash ? "only" : "exclude";
      return r;
    },
    [q],
  );
  const requestRef = useRef(request);
  const shownRef = useRef(q);

  /** Starts over: the pages in view are fetched again (the old ones stay shown until they arrive). */
  const reload = useCallback(() => {
    genRef.current += 1;
    setGen(genRef.current);
  }, []);

  useEffect(() => {
    requestRef.current = request;
    shownRef.current = q;
    reload();
  }, [request, q, libraryTick, reload]);

  // A new query starts at the top of the list.
  useEffect(() => {
    if (listRef.current) listRef.current.scrollTop = 0;
    setScrollTop(0);
  }, [request]);

  useLayoutEffect(() => {
    const el = listRef.current;
    if (!el) return;
    setViewH(el.clientHeight || 800);
    const ro = new ResizeObserver(() => setViewH(el.clientHeight || 800));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const fetchPage = useCallback(
    (g: number, index: number) => {
      const key = g + ":" + index;
      if (inflight.current.has(key)) return;
      inflight.current.add(key);
      const shown = shownRef.current;
      api
        .list("prompts", requestRef.current(index * PAGE))
        .then(
          (page) => {
            if (g !== genRef.current) return;
            setCache((c) => {
              const pages = c.gen === g ? new Map(c.pages) : new Map<number, Prompt[]>();
              pages.delete(index);
              pages.set(index, page.items);
              while (pages.size > MAX_PAGES) {
                let far = index;
                for (const k of pages.keys()) if (Math.abs(k - index) > Math.abs(far - index)) far = k;
                pages.delete(far);
              }
              return { gen: g, shown, total: page.total, pages };
            });
          },
          (e) => {
            if (g === genRef.current) error(e);
          },
        )
        .finally(() => {
          inflight.current.delete(key);
          if (g === genRef.current) setLoadedOnce(true);
        });
    },
    [error],
  );

  // The window: rows in view plus some either side, and the pages holding them.
  const fresh = cache.gen === gen;
  const total = cache.total;
  const firstRow = Math.max(0, Math.floor(scrollTop / ROW_H) - OVERSCAN);
  const endRow = Math.ceil((scrollTop + viewH) / ROW_H) + OVERSCAN;
  const firstPage = Math.floor(firstRow / PAGE);
  let lastPage = Math.floor((endRow - 1) / PAGE);
  if (fresh && total != null) lastPage = Math.min(lastPage, Math.floor((total - 1) / PAGE));
  const missing: number[] = [];
  for (let i = firstPage; i <= lastPage; i++) if (!fresh || !cache.pages.has(i)) missing.push(i);
  const missingKey = missing.join(",");
  const loading = !fresh || missing.length > 0;

  useEffect(() => {
    if (gen === 0 || !missingKey) return;
    for (const i of missingKey.split(",")) fetchPage(gen, Number(i));
  }, [gen, missingKey, fetchPage]);

  useEffect(() => {
    if (loadedOnce && !readySent) {
      readySent = true;
      api.uiReady().catch(() => undefined);
    }
  }, [loadedOnce]);

  useEffect(() => {
    api.list("projects", { limit: 1000, sort: "title" }).then(
      (p) => setProjects(p.items),
      () => undefined,
    );
  }, [libraryTick]);

  useEffect(() => {
    if (target.screen === "prompts" && target.id) setSelected(target.id);
  }, [target]);

  const count = total ?? 0;
  const rows: { index: number; prompt: Prompt | undefined }[] = [];
  for (let i = firstRow; i < Math.min(endRow, count); i++) rows.push({ index: i, prompt: cache.pages.get(Math.floor(i / PAGE))?.[i % PAGE] });
  const loaded = useMemo(() => Array.from(cache.pages.values()).flat(), [cache.pages]);

  // Words and buttons follow the query the rows came from, not the one still being fetched.
  const shown = cache.shown;
  const shownFilters = [shown.category, shown.tags, shown.status, shown.visibility, shown.project_id, shown.folder_id, shown.difficulty].filter(Boolean).length;

  const onScroll = (e: React.UIEvent<HTMLDivElement>) => setScrollTop(e.currentTarget.scrollTop);

  const choose = (id: string | "new" | null) => {
    if (dirty && id !== selected) setPendingSelect(id);
    else {
      setSelected(id);
      setEditorKey((k) => k + 1);
    }
  };

  useCommand("new", () => choose("new"));
  useCommand("search", () => {
    searchRef.current?.focus();
    searchRef.current?.select();
  });

  const set = <K extends keyof Filters>(k: K, v: Filters[K]) => setFilters((f) => ({ ...f, [k]: v }));
  const activeFilters =
    (filters.category ? 1 : 0) +
    (filters.tags ? 1 : 0) +
    (filters.status ? 1 : 0) +
    (filters.visibility ? 1 : 0) +
    (filters.project_id ? 1 : 0) +
    (filters.folder_id ? 1 : 0) +
    (filters.difficulty ? 1 : 0);
  const folders = useMemo(() => Array.from(new Set(loaded.map((p) => p.folder_id).filter((x): x is string => x != null))).sort(), [loaded]);
  const categories = useMemo(() => Array.from(new Set(loaded.map((p) => p.category).filter(Boolean))).sort(), [loaded]);

  const onSaved = (p: Prompt, created: boolean) => {
    if (created) {
      setSelected(p._id);
      setEditorKey((k) => k + 1);
    }
    setCache((c) => {
      for (const [k, page] of c.pages) {
        const i = page.findIndex((x) => x._id === p._id);
        if (i >= 0) {
          const pages = new Map(c.pages);
          const next = page.slice();
          next[i] = p;
          pages.set(k, next);
          return { ...c, pages };
        }
      }
      return c;
    });
    reload();
  };

  return (
    <div className="split">
      <section className="list-pane" aria-label="Prompt list">
        <div className="toolbar">
          <input
            ref={searchRef}
            type="search"
            placeholder="Search prompts (Ctrl+F or /)"
            data-testid="search"
            value={filters.text}
            onChange={(e) => set("text", e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Escape") set("text", "");
            }}
          />
          <button className="primary" data-testid="new-prompt" onClick={() => choose("new")} title="New prompt (Ctrl+N)">
            New
          </button>
        </div>
        <div className="toolbar wrap">
          <button className={"small" + (showFilters ? " active" : "")} data-testid="toggle-filters" onClick={() => setShowFilters((s) => !s)}>
            Filters{activeFilters ? ` (${activeFilters})` : ""}
          </button>
          <label className="check small">
            <input type="checkbox" data-testid="filter-templates" checked={filters.templates} onChange={(e) => set("templates", e.target.checked)} />
            Templates
          </label>
          <label className="check small">
            <input type="checkbox" data-testid="filter-trash" checked={filters.trash} onChange={(e) => set("trash", e.target.checked)} />
            Trash
          </label>
          <button className="small" data-testid="new-from-template" onClick={() => setTemplateDialog(true)}>
            New from template
          </button>
          <select aria-label="Sort" className="small" value={filters.sort} onChange={(e) => set("sort", e.target.value as Filters["sort"])}>
            <option value="updated_at">Recently updated</option>
            <option value="created_at">Recently created</option>
            <option value="title">Title</option>
          </select>
        </div>
        {showFilters && (
          <div className="filters" data-testid="filters">
            <input placeholder="Category" list="pf-categories" data-testid="filter-category" value={filters.category} onChange={(e) => set("category", e.target.value)} />
            <datalist id="pf-categories">
              {categories.map((c) => (
                <option key={c} value={c} />
              ))}
            </datalist>
            <input placeholder="Tags (comma separated)" data-testid="filter-tags" value={filters.tags} onChange={(e) => set("tags", e.target.value)} />
            <Select label="Status" value={filters.status} options={enums.promptStatus} any="Any status" onChange={(v) => set("status", v)} testid="filter-status" />
            <Select label="Visibility" value={filters.visibility} options={enums.visibility} any="Any visibility" onChange={(v) => set("visibility", v)} testid="filter-visibility" />
            <Select label="Difficulty" value={filters.difficulty} options={enums.difficulty} any="Any difficulty" onChange={(v) => set("difficulty", v)} testid="filter-difficulty" />
            <select aria-label="Project" data-testid="filter-project" value={filters.project_id} onChange={(e) => set("project_id", e.target.value)}>
              <option value="">Any project</option>
              {projects.map((p) => (
                <option key={p._id} value={p._id}>
                  {p.title}
                </option>
              ))}
            </select>
            <input placeholder="Folder" list="pf-folders" data-testid="filter-folder" value={filters.folder_id} onChange={(e) => set("folder_id", e.target.value)} />
            <datalist id="pf-folders">
              {folders.map((c) => (
                <option key={c} value={c} />
              ))}
            </datalist>
            <button className="small" data-testid="clear-filters" onClick={() => setFilters((f) => ({ ...NO_FILTERS, text: f.text, trash: f.trash, templates: f.templates, sort: f.sort }))}>
              Clear
            </button>
          </div>
        )}
        <div className="list-meta">
          <span data-testid="library-total">
            {total == null
              ? "…"
              : shown.trash
                ? plural(total, "prompt in trash", "prompts in trash")
                : shown.templates
                  ? plural(total, "template")
                  : plural(total, "prompt")}
          </span>
          {loading && <span className="muted"> · loading…</span>}
        </div>
        <div className="list" ref={listRef} onScroll={onScroll} data-testid="prompt-list">
          {loadedOnce && fresh && count === 0 && (
            <Empty testid="prompts-empty">
              {shown.trash
                ? "The trash is empty."
                : !shown.text && shownFilters === 0 && !shown.templates
                  ? "No prompts yet — press Ctrl+N to write your first one."
                  : shown.templates
                    ? "No templates found. Tick “Template” on a prompt to make it one."
                    : "No prompts match. Change the search or clear the filters."}
            </Empty>
          )}
          <div className="vlist" style={{ height: count * ROW_H }}>
            {rows.map(({ index, prompt: p }) =>
              p == null ? (
                <div key={"wait" + index} className="row vrow placeholder" style={{ top: index * ROW_H, height: ROW_H }} data-testid="prompt-row-placeholder" aria-busy="true">
                  <div className="row-title muted">Loading…</div>
                </div>
              ) : (
                <div
                  key={p._id}
                  role="button"
                  tabIndex={0}
                  className={"row vrow" + (selected === p._id ? " selected" : "")}
                  style={{ top: index * ROW_H, height: ROW_H }}
                  data-testid="prompt-row"
                  data-index={index}
                  onClick={() => choose(p._id)}
                  onKeyDown={(e) => e.key === "Enter" && choose(p._id)}
                >
                  <div className="row-title">
                    <span className="row-text">{p.title || "(untitled)"}</span>
                    {p.is_template && <span className="chip">template</span>}
                    {p.parent_prompt_id != null && <span className="chip">fork</span>}
                  </div>
                  <div className="row-sub muted">
                    <span>{p.category}</span>
                    <span className={"status " + p.status}>{p.status}</span>
                    <span>{p.visibility}</span>
                    <span>{relTime(p.updated_at)}</span>
                  </div>
                  {shown.trash && (
                    <button
                      className="small restore"
                      data-testid="restore-prompt"
                      onClick={(e) => {
                        e.stopPropagation();
                        api.restore("prompts", p._id).then(reload, error);
                      }}
                    >
                      Restore
                    </button>
                  )}
                </div>
              ),
            )}
          </div>
        </div>
      </section>
      <section className="detail-pane">
        {selected == null ? (
          <Empty>Select a prompt on the left, or press Ctrl+N to write a new one.</Empty>
        ) : (
          <PromptEditor
            key={String(selected) + ":" + editorKey}
            id={selected}
            projects={projects}
            onDirty={setDirty}
            onSaved={onSaved}
            onOpen={(id) => choose(id)}
            onGone={() => {
              setSelected(null);
              setDirty(false);
              reload();
            }}
          />
        )}
      </section>
      {pendingSelect !== undefined && (
        <Confirm
          title="Discard changes?"
          confirmText="Discard"
          onClose={() => setPendingSelect(undefined)}
          onConfirm={() => {
            setDirty(false);
            setSelected(pendingSelect);
            setEditorKey((k) => k + 1);
            setPendingSelect(undefined);
          }}
        >
          The prompt you are editing has unsaved changes.
        </Confirm>
      )}
      {templateDialog && (
        <TemplatePicker
          onClose={() => setTemplateDialog(false)}
          onForked={(p) => {
            setTemplateDialog(false);
            setDirty(false);
            setSelected(p._id);
            setEditorKey((k) => k + 1);
            reload();
          }}
        />
      )}
    </div>
  );
}

type Form = {
  title: string;
  description: string;
  content: string;
  role: string;
  category: string;
  tags: string;
  difficulty: string;
  language: string;
  type: string;
  project_id: string;
  folder_id: string;
  status: string;
  visibility: string;
  is_template: boolean;
  model: string;
  temperature: string;
  max_tokens: string;
  top_p: string;
  model_compatibility: string;
  generated_by: string;
};

const EMPTY_FORM: Form = {
  title: "",
  description: "",
  content: "",
  role: "",
  category: "general",
  tags: "",
  difficulty: "beginner",
  language: "en",
  type: "text",
  project_id: "",
  folder_id: "",
  status: "draft",
  visibility: "private",
  is_template: false,
  model: "",
  temperature: "",
  max_tokens: "",
  top_p: "",
  model_compatibility: "",
  generated_by: "",
};

function param(p: Record<string, unknown> | undefined, k: string): string {
  const v = p?.[k];
  return v == null ? "" : String(v);
}

function toForm(p: Prompt): Form {
  const params = p.ai_metadata?.parameters ?? {};
  return {
    title: p.title ?? "",
    description: p.description ?? "",
    content: p.content ?? "",
    role: p.role ?? "",
    category: p.category ?? "",
    tags: (p.tags ?? []).join(", "),
    difficulty: p.difficulty ?? "beginner",
    language: p.language ?? "",
    type: p.type ?? "text",
    project_id: p.project_id ?? "",
    folder_id: p.folder_id ?? "",
    status: p.status ?? "draft",
    visibility: p.visibility ?? "private",
    is_template: !!p.is_template,
    model: param(params, "model"),
    temperature: param(params, "temperature"),
    max_tokens: param(params, "max_tokens"),
    top_p: param(params, "top_p"),
    model_compatibility: (p.ai_metadata?.model_compatibility ?? []).join(", "),
    generated_by: p.ai_metadata?.generated_by ?? "",
  };
}

const nul = (s: string) => (s.trim() === "" ? null : s);
const num = (s: string) => {
  if (s.trim() === "") return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
};

/** Dotted-path changes from `before` to `after`. */
function changesOf(before: Form, after: Form, original: Prompt | null): Changes {
  const c: Changes = {};
  const plain: (keyof Form)[] = ["title", "content", "category", "difficulty", "language", "type", "status", "visibility"];
  for (const k of plain) if (before[k] !== after[k]) c[k] = after[k];
  const nullable: (keyof Form)[] = ["description", "role", "project_id", "folder_id"];
  for (const k of nullable) if (before[k] !== after[k]) c[k] = nul(after[k] as string);
  if (before.tags !== after.tags) c.tags = splitTags(after.tags);
  if (before.is_template !== after.is_template) c.is_template = after.is_template;
  if (before.generated_by !== after.generated_by) c["ai_metadata.generated_by"] = nul(after.generated_by);
  if (before.model_compatibility !== after.model_compatibility) c["ai_metadata.model_compatibility"] = splitTags(after.model_compatibility);
  if (before.model !== after.model || before.temperature !== after.temperature || before.max_tokens !== after.max_tokens || before.top_p !== after.top_p) {
    const params: Record<string, unknown> = { ...(original?.ai_metadata?.parameters ?? {}) };
    const put = (k: string, v: unknown) => {
      if (v == null) delete params[k];
      else params[k] = v;
    };
    put("model", nul(after.model));
    put("temperature", num(after.temperature));
    put("max_tokens", num(after.max_tokens));
    put("top_p", num(after.top_p));
    c["ai_metadata.parameters"] = params;
  }
  return c;
}

function PromptEditor(props: {
  id: string | "new";
  projects: Project[];
  onDirty: (d: boolean) => void;
  onSaved: (p: Prompt, created: boolean) => void;
  onOpen: (id: string) => void;
  onGone: () => void;
}) {
  const { error, notify, libraryTick } = useApp();
  const isNew = props.id === "new";
  const [prompt, setPrompt] = useState<Prompt | null>(null);
  const [base, setBase] = useState<Form>(EMPTY_FORM);
  const [form, setForm] = useState<Form>(EMPTY_FORM);
  const [loading, setLoading] = useState(!isNew);
  const [missing, setMissing] = useState(false);
  const [saving, setSaving] = useState(false);
  const [history, setHistory] = useState(false);
  const [parent, setParent] = useState<Prompt | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const titleRef = useRef<HTMLInputElement>(null);

  const dirty = useMemo(() => Object.keys(changesOf(base, form, prompt)).length > 0, [base, form, prompt]);
  useEffect(() => props.onDirty(isNew ? form.title !== "" || form.content !== "" : dirty), [dirty, form, isNew]); // eslint-disable-line react-hooks/exhaustive-deps

  const reload = useCallback(async () => {
    if (isNew) return;
    try {
      const p = await api.get("prompts", props.id);
      if (!p) {
        setMissing(true);
        return;
      }
      setPrompt(p);
      const f = toForm(p);
      setBase(f);
      setForm(f);
    } catch (e) {
      error(e);
    } finally {
      setLoading(false);
    }
  }, [isNew, props.id, error]);

  useEffect(() => {
    void reload();
    if (isNew) setTimeout(() => titleRef.current?.focus(), 0);
  }, [reload, isNew]);

  // A sync changed the library: refresh the shown prompt unless it is being edited.
  const firstTick = useRef(libraryTick);
  useEffect(() => {
    if (libraryTick !== firstTick.current && !dirty) void reload();
  }, [libraryTick]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    const pid = prompt?.parent_prompt_id;
    if (pid == null) {
      setParent(null);
      return;
    }
    api.get("prompts", pid).then(setParent, () => setParent(null));
  }, [prompt?.parent_prompt_id]);

  const save = async () => {
    if (saving) return;
    if (form.title.trim() === "") {
      error("A prompt needs a title.");
      titleRef.current?.focus();
      return;
    }
    setSaving(true);
    try {
      if (isNew) {
        const all = changesOf(EMPTY_FORM, form, null);
        const top: Changes = { title: form.title, content: form.content };
        const nested: Changes = {};
        for (const [k, v] of Object.entries(all)) (k.includes(".") ? nested : top)[k] = v;
        let p = await api.create("prompts", top);
        if (Object.keys(nested).length) p = await api.update("prompts", p._id, nested);
        notify("Prompt created");
        props.onDirty(false);
        props.onSaved(p, true);
      } else {
        const c = changesOf(base, form, prompt);
        if (Object.keys(c).length === 0) {
          notify("Nothing to save");
          return;
        }
        const p = await api.update("prompts", props.id, c);
        setPrompt(p);
        const f = toForm(p);
        setBase(f);
        setForm(f);
        notify("Saved");
        props.onSaved(p, false);
      }
    } catch (e) {
      error(e);
    } finally {
      setSaving(false);
    }
  };
  useCommand("save", () => {
    if (!history) void save();
  });

  const fork = async () => {
    if (!prompt) return;
    try {
      const p = await api.forkPrompt(prompt._id, { title: prompt.title + " (fork)" });
      notify("Forked");
      props.onDirty(false);
      props.onSaved(p, true);
    } catch (e) {
      error(e);
    }
  };

  const remove = async () => {
    if (!prompt) return;
    try {
      await api.remove("prompts", prompt._id);
      notify("Moved to the trash");
      props.onDirty(false);
      props.onGone();
    } catch (e) {
      error(e);
    }
  };

  const restore = async () => {
    if (!prompt) return;
    try {
      const p = await api.restore("prompts", prompt._id);
      notify("Restored from the trash");
      setPrompt(p);
      props.onSaved(p, false);
    } catch (e) {
      error(e);
    }
  };

  if (loading) return <p className="muted pad">Loading…</p>;
  if (missing) return <Empty>This prompt no longer exists.</Empty>;

  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm((f) => ({ ...f, [k]: v }));
  const inTrash = prompt?.deleted_at != null;

  return (
    <div className="editor" data-testid="prompt-editor">
      <div className="editor-head">
        <input
          ref={titleRef}
          className="title-input"
          data-testid="prompt-title"
          placeholder="Prompt title"
          value={form.title}
          onChange={(e) => set("title", e.target.value)}
          aria-label="Title"
        />
        <div className="row-actions">
          {dirty && <span className="unsaved" data-testid="unsaved">Unsaved</span>}
          <button className="primary" data-testid="prompt-save" disabled={saving} onClick={save} title="Save (Ctrl+S)">
            {saving ? "Saving…" : "Save"}
          </button>
          {!isNew && (
            <>
              <button data-testid="prompt-history" onClick={() => setHistory(true)}>
                History
              </button>
              <button data-testid="prompt-fork" onClick={fork}>
                Fork
              </button>
              {inTrash ? (
                <button data-testid="prompt-restore" onClick={restore}>
                  Restore
                </button>
              ) : (
                <button className="danger" data-testid="prompt-delete" onClick={() => setConfirmDelete(true)}>
                  Delete
                </button>
              )}
            </>
          )}
        </div>
      </div>
      {prompt && (
        <div className="meta muted">
          Updated {relTime(prompt.updated_at)}
          {inTrash && <span className="chip warn"> in trash</span>}
          {prompt.parent_prompt_id != null && (
            <>
              {" · "}
              <a
                href="#"
                data-testid="forked-from"
                onClick={(e) => {
                  e.preventDefault();
                  props.onOpen(prompt.parent_prompt_id!);
                }}
              >
                forked from {parent ? `“${parent.title}”` : "another prompt"}
              </a>
            </>
          )}
        </div>
      )}
      <div className="form-grid">
        <Field label="Description" wide>
          <input data-testid="prompt-description" value={form.description} onChange={(e) => set("description", e.target.value)} />
        </Field>
        <Field label="Role (system message)" wide>
          <input data-testid="prompt-role" value={form.role} onChange={(e) => set("role", e.target.value)} placeholder="e.g. You are a senior editor" />
        </Field>
        <Field label="Content" wide>
          <textarea data-testid="prompt-content" rows={12} value={form.content} onChange={(e) => set("content", e.target.value)} placeholder="Write the prompt…" />
        </Field>
        <Field label="Category">
          <input data-testid="prompt-category" value={form.category} onChange={(e) => set("category", e.target.value)} />
        </Field>
        <Field label="Tags (comma separated)">
          <input data-testid="prompt-tags" value={form.tags} onChange={(e) => set("tags", e.target.value)} />
        </Field>
        <Field label="Difficulty">
          <Select value={form.difficulty as "beginner"} options={enums.difficulty} onChange={(v) => set("difficulty", v)} testid="prompt-difficulty" />
        </Field>
        <Field label="Language">
          <input data-testid="prompt-language" value={form.language} onChange={(e) => set("language", e.target.value)} />
        </Field>
        <Field label="Type">
          <Select value={form.type as "text"} options={enums.promptType} onChange={(v) => set("type", v)} testid="prompt-type" />
        </Field>
        <Field label="Status">
          <Select value={form.status as "draft"} options={enums.promptStatus} onChange={(v) => set("status", v)} testid="prompt-status" />
        </Field>
        <Field label="Visibility">
          <Select value={form.visibility as "private"} options={enums.visibility} onChange={(v) => set("visibility", v)} testid="prompt-visibility" />
        </Field>
        <Field label="Project">
          <select data-testid="prompt-project" value={form.project_id} onChange={(e) => set("project_id", e.target.value)}>
            <option value="">No project</option>
            {props.projects.map((p) => (
              <option key={p._id} value={p._id}>
                {p.title}
              </option>
            ))}
            {form.project_id && !props.projects.some((p) => p._id === form.project_id) && <option value={form.project_id}>{form.project_id}</option>}
          </select>
        </Field>
        <Field label="Folder">
          <input data-testid="prompt-folder" value={form.folder_id} onChange={(e) => set("folder_id", e.target.value)} />
        </Field>
        <label className="check">
          <input type="checkbox" data-testid="prompt-is-template" checked={form.is_template} onChange={(e) => set("is_template", e.target.checked)} />
          Template (others can start from it)
        </label>
      </div>
      <fieldset className="form-grid">
        <legend>AI settings</legend>
        <Field label="Model">
          <input data-testid="prompt-model" value={form.model} onChange={(e) => set("model", e.target.value)} placeholder="e.g. gpt-4o" />
        </Field>
        <Field label="Temperature">
          <input data-testid="prompt-temperature" type="number" step="0.1" min="0" max="2" value={form.temperature} onChange={(e) => set("temperature", e.target.value)} />
        </Field>
        <Field label="Max tokens">
          <input data-testid="prompt-max-tokens" type="number" min="1" value={form.max_tokens} onChange={(e) => set("max_tokens", e.target.value)} />
        </Field>
        <Field label="Top p">
          <input data-testid="prompt-top-p" type="number" step="0.05" min="0" max="1" value={form.top_p} onChange={(e) => set("top_p", e.target.value)} />
        </Field>
        <Field label="Works with models (comma separated)">
          <input data-testid="prompt-model-compat" value={form.model_compatibility} onChange={(e) => set("model_compatibility", e.target.value)} />
        </Field>
        <Field label="Generated by">
          <input data-testid="prompt-generated-by" value={form.generated_by} onChange={(e) => set("generated_by", e.target.value)} />
        </Field>
      </fieldset>
      {history && prompt && (
        <HistoryDialog
          prompt={prompt}
          onClose={() => setHistory(false)}
          onRestored={(p) => {
            setPrompt(p);
            const f = toForm(p);
            setBase(f);
            setForm(f);
            props.onSaved(p, false);
          }}
        />
      )}
      {confirmDelete && (
        <Confirm
          title="Move to trash?"
          confirmText="Move to trash"
          onClose={() => setConfirmDelete(false)}
          onConfirm={() => {
            setConfirmDelete(false);
            void remove();
          }}
        >
          “{prompt?.title}” goes to the trash. You can restore it from the Trash view.
        </Confirm>
      )}
    </div>
  );
}

function HistoryDialog(props: { prompt: Prompt; onClose: () => void; onRestored: (p: Prompt) => void }) {
  const { error, notify } = useApp();
  const [versions, setVersions] = useState<PromptVersion[] | null>(null);
  const [a, setA] = useState<number | null>(null);
  const [b, setB] = useState<number | null>(null);
  const [restoring, setRestoring] = useState<number | null>(null);

  const load = useCallback(async () => {
    try {
      const v = (await api.promptVersions(props.prompt._id)).slice().sort((x, y) => y.version_number - x.version_number);
      setVersions(v);
      if (v.length) {
        setB(v[0].version_number);
        setA(v.length > 1 ? v[1].version_number : v[0].version_number);
      }
    } catch (e) {
      error(e);
      setVersions([]);
    }
  }, [props.prompt._id, error]);
  useEffect(() => {
    void load();
  }, [load]);

  const va = versions?.find((v) => v.version_number === a);
  const vb = versions?.find((v) => v.version_number === b);
  const diff = useMemo(() => (va && vb ? diffLines(va.content, vb.content) : []), [va, vb]);
  const added = diff.filter((d) => d.kind === "add").length;
  const removed = diff.filter((d) => d.kind === "del").length;

  const restore = async (n: number) => {
    setRestoring(n);
    try {
      const p = await api.restorePromptVersion(props.prompt._id, n);
      notify(`Restored v${n}`);
      props.onRestored(p);
      await load();
    } catch (e) {
      error(e);
    } finally {
      setRestoring(null);
    }
  };

  return (
    <Modal title={`History of “${props.prompt.title}”`} onClose={props.onClose} wide testid="history-dialog">
      {versions === null ? (
        <p>Loading…</p>
      ) : versions.length === 0 ? (
        <Empty>No saved versions yet. Each save of new content makes one.</Empty>
      ) : (
        <div className="history">
          <table className="versions">
            <thead>
              <tr>
                <th title="Compare from">A</th>
                <th title="Compare to">B</th>
                <th>Version</th>
                <th>Saved</th>
                <th>Changes</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => (
                <tr key={v._id} data-testid="version-row" className={v.version_number === a || v.version_number === b ? "picked" : ""}>
                  <td>
                    <input type="radio" name="ver-a" aria-label={`Compare from v${v.version_number}`} data-testid="version-a" checked={a === v.version_number} onChange={() => setA(v.version_number)} />
                  </td>
                  <td>
                    <input type="radio" name="ver-b" aria-label={`Compare to v${v.version_number}`} data-testid="version-b" checked={b === v.version_number} onChange={() => setB(v.version_number)} />
                  </td>
                  <td>
                    <strong>v{v.version_number}</strong>
                    {v._id === props.prompt.latest_version_id && <span className="chip" data-testid="version-current">current</span>}
                  </td>
                  <td>{fmtDate(v.created_at)}</td>
                  <td className="muted">{v.changes}</td>
                  <td>
                    <button className="small" data-testid="version-restore" disabled={restoring != null} onClick={() => restore(v.version_number)}>
                      Restore
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {va && vb && (
            <div className="diff" data-testid="diff">
              <div className="diff-head">
                Comparing <strong>v{va.version_number}</strong> → <strong>v{vb.version_number}</strong>:{" "}
                <span className="add-text" data-testid="diff-added-count">+{added}</span> <span className="del-text" data-testid="diff-removed-count">−{removed}</span>
              </div>
              <pre>
                {diff.map((d, i) => (
                  <div key={i} className={"dl " + d.kind} data-testid={d.kind === "add" ? "diff-add" : d.kind === "del" ? "diff-del" : "diff-same"}>
                    <span className="ln">{d.a ?? ""}</span>
                    <span className="ln">{d.b ?? ""}</span>
                    <span className="sign">{d.kind === "add" ? "+" : d.kind === "del" ? "−" : " "}</span>
                    <span className="txt">{d.text || " "}</span>
                  </div>
                ))}
              </pre>
            </div>
          )}
        </div>
      )}
    </Modal>
  );
}

function TemplatePicker(props: { onClose: () => void; onForked: (p: Prompt) => void }) {
  const { error, notify } = useApp();
  const [text, setText] = useState("");
  const q = useDebounced(text, 150);
  const [items, setItems] = useState<Prompt[] | null>(null);
  const [total, setTotal] = useState(0);
  const [more, setMore] = useState(false);
  const seq = useRef(0);
  const load = useCallback(
    async (offset: number) => {
      const my = ++seq.current;
      const r: ListRequest = { is_template: true, offset, limit: PAGE, sort: "title" };
      if (q.trim()) r.text = q.trim();
      setMore(true);
      try {
        const page = await api.list("prompts", r);
        if (my !== seq.current) return;
        setItems((old) => (offset === 0 || old == null ? page.items : [...old, ...page.items]));
        setTotal(page.total);
      } catch (e) {
        if (my !== seq.current) return;
        error(e);
        setItems((old) => old ?? []);
      } finally {
        if (my === seq.current) setMore(false);
      }
    },
    [q, error],
  );
  useEffect(() => {
    void load(0);
  }, [load]);
  const pick = async (t: Prompt) => {
    try {
      const p = await api.forkPrompt(t._id, { title: t.title.replace(/\s*\(template\)\s*$/i, "") + " (from template)", is_template: false, template_id: t._id });
      notify("Created from template");
      props.onForked(p);
    } catch (e) {
      error(e);
    }
  };
  return (
    <Modal title="New from template" onClose={props.onClose} testid="template-dialog">
      <input type="search" placeholder="Search templates" value={text} onChange={(e) => setText(e.target.value)} data-testid="template-search" />
      {items === null ? (
        <p>Loading…</p>
      ) : items.length === 0 ? (
        <Empty>No templates yet. Open a prompt and tick “Template” to make one.</Empty>
      ) : (
        <ul className="picker">
          {items.map((t) => (
            <li key={t._id}>
              <button className="linkish" data-testid="template-option" onClick={() => pick(t)}>
                <strong>{t.title}</strong> <span className="muted">{t.description ?? t.category}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {items != null && items.length < total && (
        <button className="load-more" data-testid="template-more" disabled={more} onClick={() => load(items.length)}>
          Load more ({plural(total - items.length, "more template")})
        </button>
      )}
    </Modal>
  );
}
