import { useCallback, useEffect, useRef, useState } from "react";
import { api, type CollectionName, type Documents } from "../api";
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

const PAGE = 100;

/**
 * One list query paged by offset: `more` appends the next page, `reload` refetches what is shown.
 * While not `enabled`, `reload` only cancels a fetch in flight.
 */
export function usePaged<C extends CollectionName>(collection: C, query: ListRequest, onError: (e: unknown) => void, enabled = true) {
  const key = JSON.stringify(query);
  const [items, setItems] = useState<Documents[C][] | null>(null);
  const [total, setTotal] = useState(0);
  const [busy, setBusy] = useState(false);
  const seq = useRef(0);
  const shown = useRef(0);
  const fetch = useCallback(
    async (offset: number, limit: number) => {
      const my = ++seq.current;
      setBusy(true);
      try {
        const r = await api.list(collection, { ...(JSON.parse(key) as ListRequest), offset, limit });
        if (my !== seq.current) return;
        setItems((old) => {
          const next = offset === 0 || old == null ? r.items : [...old, ...r.items];
          shown.current = next.length;
          return next;
        });
        setTotal(r.total);
      } catch (e) {
        if (my !== seq.current) return;
        onError(e);
        setItems((old) => old ?? []);
      } finally {
        if (my === seq.current) setBusy(false);
      }
    },
    [collection, key, onError],
  );
  const reload = useCallback(async () => {
    if (!enabled) {
      seq.current++;
      return;
    }
    await fetch(0, Math.min(1000, Math.max(PAGE, shown.current)));
  }, [fetch, enabled]);
  const more = useCallback(() => fetch(shown.current, PAGE), [fetch]);
  return { items, total, busy, reload, more, hasMore: items != null && items.length < total };
}
