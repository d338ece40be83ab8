// Picking a template (the user's own or one shared with them) to fork into a
// new draft.
import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "../../api";
import type { ListRequest } from "../../bindings/ListRequest";
import type { Prompt } from "../../bindings/Prompt";
import { useApp } from "../../ctx";
import { Empty, Modal } from "../../ui";
import { plural, useDebounced } from "../../util";
import { PAGE } from "./paging";

export function TemplatePicker(props: { onClose: () => void; onForked: (p: Prompt) => void }) {
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
