import { useEffect, useState } from "react";
import { api } from "../api";
import type { ListRequest } from "../bindings/ListRequest";
import type { Prompt } from "../bindings/Prompt";
import { useDebounced } from "../util";

/** A search box that lists prompts to pick from (paged, first 20 matches). */
export function PromptPicker(props: { onPick: (p: Prompt) => void; exclude?: string[]; testid?: string; placeholder?: string }) {
  const [text, setText] = useState("");
  const q = useDebounced(text, 150);
  const [items, setItems] = useState<Prompt[]>([]);
  const [open, setOpen] = useState(false);
  useEffect(() => {
    if (!open) return;
    let live = true;
    const r: ListRequest = { limit: 20, sort: "updated_at" };
    if (q.trim()) r.text = q.trim();
    api.list("prompts", r).then(
      (p) => live && setItems(p.items.filter((x) => !(props.exclude ?? []).includes(x._id))),
      () => live && setItems([]),
    );
    return () => {
      live = false;
    };
  }, [q, open, props.exclude]);
  return (
    <div className="picker-box">
      <input
        type="search"
        placeholder={props.placeholder ?? "Find a prompt…"}
        value={text}
        data-testid={props.testid ?? "prompt-picker"}
        onFocus={() => setOpen(true)}
        onChange={(e) => {
          setText(e.target.value);
          setOpen(true);
        }}
      />
      {open && items.length > 0 && (
        <ul className="picker">
          {items.map((p) => (
            <li key={p._id}>
              <button
                type="button"
                className="linkish"
                data-testid="prompt-picker-option"
                onClick={() => {
                  props.onPick(p);
                  setOpen(false);
                  setText("");
                }}
              >
                {p.title}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Titles for prompt ids, fetched one by one (small lists only). */
export function usePromptTitles(ids: string[]): Record<string, string> {
  const [titles, setTitles] = useState<Record<string, string>>({});
  const key = ids.join(",");
  useEffect(() => {
    let live = true;
    Promise.all(ids.map((id) => api.get("prompts", id).then((p) => [id, p?.title ?? "(missing prompt)"] as const, () => [id, id] as const))).then(
      (pairs) => live && setTitles(Object.fromEntries(pairs)),
    );
    return () => {
      live = false;
    };
  }, [key]); // eslint-disable-line react-hooks/exhaustive-deps
  return titles;
}
