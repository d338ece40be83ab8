// The prompt library: the virtualised list with its filters and search, and
// the panes it opens (the editor, the template picker).
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { api } from "../../api";
import type { ListRequest } from "../../bindings/ListRequest";
import type { Project } from "../../bindings/Project";
import type { Prompt } from "../../bindings/Prompt";
import { useApp } from "../../ctx";
import { useSearchEvent } from "../../events";
import { Confirm, Empty, Select, enums } from "../../ui";
import { plural, relTime, splitTags, useCommand, useDebounced } from "../../util";
import { ShareMarks, useMe, useUserNames } from "../sharing";
import { PromptEditor } from "./Editor";
import { PAGE } from "./paging";
import { TemplatePicker } from "./TemplatePicker";

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
  const me = useMe();
  const names = useUserNames();

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
  useSearchEvent("prompts", shown.text, fresh ? total : null);
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
                    <ShareMarks collection="prompts" doc={p} me={me} names={names} />
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
            names={names}
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
