// One prompt's editor: the form, what a save changes, and its history dialog.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, type Changes } from "../../api";
import type { Project } from "../../bindings/Project";
import type { Prompt } from "../../bindings/Prompt";
import { useApp } from "../../ctx";
import { Confirm, Empty, Field, Select, enums } from "../../ui";
import { copyText, errMsg, relTime, splitTags, useCommand } from "../../util";
import { record } from "../../events";
import { ShareDialog } from "../ShareDialog";
import { ShareMarks, ViewOnlyNotice, accessOf, useMe } from "../sharing";
import { HistoryDialog } from "./History";
import { LOCK_SECS, LockBadge, PresenceStrip, hhmm, usePresence } from "./Presence";

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

export function PromptEditor(props: {
  id: string | "new";
  projects: Project[];
  /** User id to name, for who owns or has the prompt. */
  names: Record<string, string>;
  onDirty: (d: boolean) => void;
  onSaved: (p: Prompt, created: boolean) => void;
  onOpen: (id: string) => void;
  onGone: () => void;
}) {
  const { error, notify, libraryTick, info } = useApp();
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
  const [sharing, setSharing] = useState(false);
  const me = useMe();
  /** The stored prompt, when a sync changed it under unsaved edits. */
  const [elsewhere, setElsewhere] = useState<Prompt | null>(null);
  const titleRef = useRef<HTMLInputElement>(null);
  const [locking, setLocking] = useState(false);

  const dirty = useMemo(() => Object.keys(changesOf(base, form, prompt)).length > 0, [base, form, prompt]);
  useEffect(() => props.onDirty(isNew ? form.title !== "" || form.content !== "" : dirty), [dirty, form, isNew]); // eslint-disable-line react-hooks/exhaustive-deps

  // Others see that this prompt is open (and being edited); a soft lock is
  // advice only: saving is never blocked by it.
  const presence = usePresence(!isNew && prompt ? prompt._id : null, dirty);
  const signedIn = info?.account != null;
  const lock = presence.lock;
  const lockedByOther = lock != null && !lock.mine;
  const toggleLock = async () => {
    if (locking) return;
    setLocking(true);
    try {
      await presence.takeLock(lock?.mine ? null : LOCK_SECS);
    } catch (e) {
      error(`Locks need the sync server: ${errMsg(e).replace(/[.\s]+$/, "")}. Your edits are not affected.`);
    } finally {
      setLocking(false);
    }
  };

  // Sharing changed the stored prompt (its sharing fields and version): show
  // that, keeping unsaved edits, and let the list know.
  const shared = async () => {
    try {
      const p = await api.get("prompts", props.id);
      if (!p) return;
      setPrompt(p);
      setElsewhere(null);
      if (!dirty) {
        const f = toForm(p);
        setBase(f);
        setForm(f);
      }
      props.onSaved(p, false);
    } catch (e) {
      error(e);
    }
  };

  const reload = useCallback(async () => {
    if (isNew) return;
    try {
      const p = await api.get("prompts", props.id);
      if (!p) {
        setMissing(true);
        return;
      }
      setPrompt(p);
      setElsewhere(null);
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

  // A sync changed the library: refresh the shown prompt unless it is being
  // edited. Unsaved text is never overwritten: if the prompt itself changed
  // elsewhere, a banner says so, and saving applies the edits on top.
  const firstTick = useRef(libraryTick);
  useEffect(() => {
    if (libraryTick === firstTick.current) return;
    if (!dirty) {
      void reload();
      return;
    }
    if (isNew) return;
    api
      .get("prompts", props.id)
      .then((p) => {
        if (p && prompt && p.version !== prompt.version) setElsewhere(p);
      })
      .catch(() => undefined);
  }, [libraryTick]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    if (!dirty) setElsewhere(null);
  }, [dirty]);

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

  // Copying the text out is how a prompt gets used, so it counts for the dashboards.
  const copy = async () => {
    if (!prompt) return;
    if (await copyText(form.content)) {
      notify("Copied the prompt's text");
      record({ event: "prompt_copied", prompt_id: prompt._id });
    } else {
      error("Could not copy to the clipboard. Select the text and press Ctrl+C instead.");
    }
  };
  const markUsed = () => {
    if (!prompt) return;
    record({ event: "prompt_used", prompt_id: prompt._id });
    notify("Counted a use of this prompt");
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
  const access = prompt ? accessOf("prompts", prompt, me) : null;

  return (
    <div className="editor" data-testid="prompt-editor">
      {elsewhere && (
        <div className="banner changed-elsewhere" data-testid="changed-elsewhere" role="status">
          <span>
            This prompt changed on another device (now “{elsewhere.title}”). Your unsaved edits are kept; saving
            applies them on top of that version.
          </span>
          <button data-testid="changed-elsewhere-discard" onClick={() => void reload()}>
            Discard mine and show theirs
          </button>
        </div>
      )}
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
              {signedIn && prompt && (
                <button
                  data-testid="lock-toggle"
                  disabled={locking || lockedByOther}
                  onClick={toggleLock}
                  title={
                    lockedByOther
                      ? `${lock.name} holds the soft lock until ${hhmm(lock.until_ms)}. You can still edit and save; your changes will merge.`
                      : lock?.mine
                        ? "Give up the soft lock now"
                        : "Ask others to wait for 15 minutes (advice only: nobody is stopped from saving)"
                  }
                >
                  {lock?.mine ? "Release lock" : "Lock for 15 min"}
                </button>
              )}
              {access?.own && !inTrash && (
                <button data-testid="prompt-share" onClick={() => setSharing(true)} title="Share this prompt with people by email">
                  Share
                </button>
              )}
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
      {(presence.others.length > 0 || lock) && (
        <div className="presence-bar">
          <PresenceStrip others={presence.others} />
          <LockBadge lock={lock} />
        </div>
      )}
      {prompt && access?.mine === "read" && <ViewOnlyNotice kind="prompt" owner={props.names[prompt.user_id] ?? prompt.user_id} />}
      {prompt && (
        <div className="meta muted">
          Updated {relTime(prompt.updated_at)}
          {inTrash && <span className="chip warn"> in trash</span>}
          <span className="meta-marks">
            <ShareMarks collection="prompts" doc={prompt} me={me} names={props.names} />
          </span>
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
        {!isNew && prompt && (
          <div className="wide inline content-actions">
            <button className="small" onClick={copy} data-testid="prompt-copy" title="Copy the prompt's text to the clipboard">
              Copy
            </button>
            <button className="small" onClick={markUsed} data-testid="prompt-mark-used" title="Count a use of this prompt in your dashboards (when you ran it without copying)">
              Mark as used
            </button>
          </div>
        )}
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
      {sharing && prompt && (
        <ShareDialog collection="prompts" id={prompt._id} title={prompt.title} onClose={() => setSharing(false)} onChanged={() => void shared()} />
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
