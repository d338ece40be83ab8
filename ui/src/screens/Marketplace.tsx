import { useCallback, useEffect, useRef, useState } from "react";
import { api, type Changes } from "../api";
import type { MarketDone } from "../bindings/MarketDone";
import type { MarketplaceListing } from "../bindings/MarketplaceListing";
import type { MarketplacePurchase } from "../bindings/MarketplacePurchase";
import type { Prompt } from "../bindings/Prompt";
import { useApp } from "../ctx";
import { Confirm, Empty, Field, Modal } from "../ui";
import { fmtDate, fmtNum, plural, splitTags, useCommand, useDebounced } from "../util";
import { useSearchEvent } from "../events";
import { ListingDetail } from "./ListingDetail";
import { PromptPicker, usePaged } from "./shared";

type Tab = "mine" | "browse" | "purchases";

export function price(l: { price: number; currency: string }): string {
  return l.currency === "usd" ? `$${(l.price / 100).toFixed(2)}` : `${fmtNum(l.price)} credits`;
}

export function MarketplaceScreen() {
  const { info, balance, setBalance, libraryTick, target, navigate } = useApp();
  const [tab, setTab] = useState<Tab>(target.screen === "marketplace" && target.id === "mine" ? "mine" : "browse");
  const [newListing, setNewListing] = useState(false);

  useEffect(() => {
    if (!info) return;
    api.get("users", info.user_id).then(
      (u) => u && setBalance(u.credits?.balance ?? null),
      () => undefined,
    );
  }, [info, libraryTick, setBalance]);

  useCommand("new", () => {
    setTab("mine");
    setNewListing(true);
  });

  const onDone = (d: MarketDone) => {
    if (d.balance != null) setBalance(d.balance);
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Marketplace</h1>
        <div className="tabs" role="tablist">
          {(
            [
              ["browse", "Browse"],
              ["mine", "My listings"],
              ["purchases", "My purchases"],
            ] as [Tab, string][]
          ).map(([t, label]) => (
            <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "active" : ""} onClick={() => setTab(t)} data-testid={"market-tab-" + t}>
              {label}
            </button>
          ))}
        </div>
        <span className="spacer" />
        <button className="small" onClick={() => navigate({ screen: "dashboards", id: "seller" })} data-testid="market-sales-dashboard" title="Your sales, conversion and ratings over time">
          Sales dashboard
        </button>
        <span className="balance" data-testid="balance">
          Balance: {balance == null ? "—" : plural(balance, "credit")}
        </span>
      </div>
      {tab === "browse" && <Browse onDone={onDone} />}
      {tab === "mine" && <MyListings creating={newListing} setCreating={setNewListing} />}
      {tab === "purchases" && <Purchases onDone={onDone} />}
    </div>
  );
}

function Browse(props: { onDone: (d: MarketDone) => void }) {
  const { info, error, notify, libraryTick, navigate } = useApp();
  const [text, setText] = useState("");
  const q = useDebounced(text, 150);
  const [items, setItems] = useState<MarketplaceListing[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  // The search the shown results answer (q moves on before its results arrive).
  const [shownQ, setShownQ] = useState("");
  const [detail, setDetail] = useState<MarketplaceListing | null>(null);
  const [owned, setOwned] = useState<Set<string>>(new Set());
  const [buying, setBuying] = useState<MarketplaceListing | null>(null);
  const [busy, setBusy] = useState(false);
  const [bought, setBought] = useState<{ title: string; prompt: string | null; balance: number | null } | null>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  useCommand("search", () => searchRef.current?.focus());

  const load = useCallback(
    async (offset = 0) => {
      try {
        const r = await api.list("marketplace_listings", { status: "approved", text: q.trim() || null, offset, limit: 100, sort: "updated_at" });
        setItems((old) => (offset === 0 ? r.items : [...old, ...r.items]));
        setTotal(r.total);
        setShownQ(q);
      } catch (e) {
        error(e);
      }
    },
    [q, error],
  );
  useEffect(() => {
    void load(0);
  }, [load, libraryTick]);
  useEffect(() => {
    api.list("marketplace_purchases", { mine: true, limit: 1000 }).then(
      (r) => setOwned(new Set(r.items.filter((p) => p.payment_status !== "refunded").map((p) => p.listing_id))),
      () => undefined,
    );
  }, [info, libraryTick]);

  useSearchEvent("marketplace_listings", shownQ, total);

  const buy = async () => {
    if (!buying) return;
    setBusy(true);
    try {
      const d = await api.buyListing(buying._id, buying.price);
      props.onDone(d);
      setOwned((s) => new Set([...s, buying._id]));
      setBought({ title: buying.title, prompt: d.delivered_prompt_id, balance: d.balance });
      notify(`Bought “${buying.title}”` + (d.balance != null ? ` — balance now ${plural(d.balance, "credit")}` : ""));
      setBuying(null);
    } catch (e) {
      error(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div>
      <div className="toolbar">
        <input ref={searchRef} type="search" placeholder="Search the marketplace" value={text} onChange={(e) => setText(e.target.value)} data-testid="market-search" />
        <span className="muted">{total == null ? "…" : plural(total, "listing")}</span>
      </div>
      {bought && (
        <div className="banner success" data-testid="bought-banner">
          You bought “{bought.title}”.{bought.balance != null && <> Your balance is now <strong data-testid="new-balance">{plural(bought.balance, "credit")}</strong>.</>}{" "}
          {bought.prompt && (
            <a href="#" onClick={(e) => { e.preventDefault(); navigate({ screen: "prompts", id: bought.prompt! }); }}>
              Open your copy
            </a>
          )}
          <button className="icon" aria-label="Dismiss" onClick={() => setBought(null)}>
            ×
          </button>
        </div>
      )}
      {total === 0 && <Empty testid="browse-empty">{q ? "No listings match." : "No listings here yet. They appear once synced from the server; sign in from Settings to sync."}</Empty>}
      <div className="cards">
        {items.map((l) => {
          const mine = l.seller_id === info?.user_id;
          return (
            <article key={l._id} className="card listing" data-testid="listing-card">
              <h3>
                <button className="linkish" onClick={() => setDetail(l)} data-testid="listing-open" title="Details and preview">
                  {l.title}
                </button>
              </h3>
              <p className="muted">{l.short_description || l.description}</p>
              <div className="muted small-text">
                by {l.seller?.display_name ?? "unknown"} · {l.category} · ★ {(l.reviews?.average_rating ?? 0).toFixed(1)} ({l.reviews?.total_reviews ?? 0})
              </div>
              <div className="card-foot">
                <strong data-testid="listing-price">{price(l)}</strong>
                {mine ? (
                  <span className="chip">your listing</span>
                ) : owned.has(l._id) ? (
                  <span className="chip ok">owned</span>
                ) : (
                  <button className="primary" data-testid="buy" onClick={() => setBuying(l)}>
                    Buy
                  </button>
                )}
              </div>
            </article>
          );
        })}
      </div>
      {total != null && items.length < total && (
        <button className="load-more" onClick={() => load(items.length)}>
          Load more
        </button>
      )}
      {detail && (
        <ListingDetail
          listing={detail}
          price={price(detail)}
          state={detail.seller_id === info?.user_id ? "mine" : owned.has(detail._id) ? "owned" : "buy"}
          onClose={() => setDetail(null)}
          onBuy={() => {
            setBuying(detail);
            setDetail(null);
          }}
        />
      )}
      {buying && (
        <Confirm title="Buy this prompt?" confirmText={`Buy for ${price(buying)}`} onClose={() => setBuying(null)} onConfirm={buy} busy={busy}>
          <p>
            Buy <strong>“{buying.title}”</strong> for <strong data-testid="confirm-price">{price(buying)}</strong>? A copy of the prompt is added to your library.
          </p>
        </Confirm>
      )}
    </div>
  );
}

function MyListings(props: { creating: boolean; setCreating: (b: boolean) => void }) {
  const { error, notify, libraryTick } = useApp();
  const [editing, setEditing] = useState<MarketplaceListing | null>(null);
  const { items, total, busy, reload: load, more, hasMore } = usePaged("marketplace_listings", { mine: true, sort: "updated_at" }, error);
  useEffect(() => {
    void load();
  }, [load, libraryTick]);

  const publish = async (l: MarketplaceListing) => {
    try {
      const d = await api.publishListing(l._id);
      const st = (d.document as { status?: string }).status ?? "pending";
      notify(`Submitted “${l.title}” — status: ${st}`);
      await load();
    } catch (e) {
      error(e);
    }
  };

  return (
    <div>
      <div className="toolbar">
        <button className="primary" onClick={() => props.setCreating(true)} data-testid="new-listing" title="New listing (Ctrl+N)">
          New listing from a prompt
        </button>
      </div>
      {items?.length === 0 && <Empty testid="listings-empty">You are not selling anything yet — press Ctrl+N to make a draft listing from one of your prompts.</Empty>}
      <table className="table">
        {items && items.length > 0 && (
          <thead>
            <tr>
              <th>Title</th>
              <th>Price</th>
              <th>Status</th>
              <th>Moderation</th>
              <th>Sales</th>
              <th />
            </tr>
          </thead>
        )}
        <tbody>
          {items?.map((l) => (
            <tr key={l._id} data-testid="my-listing">
              <td>{l.title}</td>
              <td>{price(l)}</td>
              <td>
                <span className={"chip st-" + l.status} data-testid="listing-status">
                  {l.status}
                </span>
              </td>
              <td>
                {l.moderation_status.replace(/_/g, " ")}
                {l.moderation_notes != null && l.moderation_notes !== "" && (
                  <div className="muted small-text" data-testid="moderation-notes">
                    {l.moderation_notes}
                  </div>
                )}
              </td>
              <td>{l.analytics?.purchase_count ?? 0}</td>
              <td className="row-actions">
                {(l.status === "draft" || l.status === "rejected") && (
                  <>
                    <button className="small" onClick={() => setEditing(l)} data-testid="edit-listing">
                      Edit
                    </button>
                    <button className="small primary" onClick={() => publish(l)} data-testid="publish-listing">
                      Publish
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {hasMore && (
        <button className="load-more" data-testid="listings-more" disabled={busy} onClick={more}>
          Load more ({plural(total - (items?.length ?? 0), "more listing")})
        </button>
      )}
      {(props.creating || editing) && (
        <ListingDialog
          listing={editing}
          onClose={() => {
            props.setCreating(false);
            setEditing(null);
          }}
          onSaved={() => {
            props.setCreating(false);
            setEditing(null);
            void load();
          }}
        />
      )}
    </div>
  );
}

function ListingDialog(props: { listing: MarketplaceListing | null; onClose: () => void; onSaved: () => void }) {
  const { error, notify } = useApp();
  const l = props.listing;
  const [prompt, setPrompt] = useState<Prompt | null>(null);
  const [f, setF] = useState({
    title: l?.title ?? "",
    description: l?.description ?? "",
    short_description: l?.short_description ?? "",
    price: String(l?.price ?? 100),
    category: l?.category ?? "",
    tags: (l?.tags ?? []).join(", "),
    preview_content: l?.preview_content ?? "",
  });
  const set = <K extends keyof typeof f>(k: K, v: string) => setF((x) => ({ ...x, [k]: v }));
  const pick = (p: Prompt) => {
    setPrompt(p);
    setF((x) => ({
      ...x,
      title: x.title || p.title,
      description: x.description || p.description || "",
      category: x.category || p.category,
      tags: x.tags || p.tags.join(", "),
      preview_content: x.preview_content || p.content.slice(0, 200),
    }));
  };
  const save = async () => {
    const priceN = Math.round(Number(f.price));
    if (!l && !prompt) return error("Choose the prompt to sell.");
    if (!f.title.trim()) return error("A listing needs a title.");
    if (!Number.isFinite(priceN) || priceN < 0) return error("The price must be a whole number of credits.");
    const fields: Changes = {
      title: f.title,
      description: f.description,
      short_description: f.short_description,
      price: priceN,
      category: f.category,
      tags: splitTags(f.tags),
      preview_content: f.preview_content,
    };
    try {
      if (l) await api.update("marketplace_listings", l._id, fields);
      else await api.create("marketplace_listings", { ...fields, prompt_id: prompt!._id });
      notify(l ? "Listing saved" : "Draft listing created");
      props.onSaved();
    } catch (e) {
      error(e);
    }
  };
  useCommand("save", () => void save());
  return (
    <Modal
      title={l ? "Edit listing" : "New draft listing"}
      onClose={props.onClose}
      wide
      testid="listing-dialog"
      footer={
        <>
          <button onClick={props.onClose}>Cancel</button>
          <button className="primary" onClick={save} data-testid="listing-save">
            {l ? "Save" : "Create draft"}
          </button>
        </>
      }
    >
      <div className="form-grid">
        {!l && (
          <div className="field wide">
            <span>Prompt to sell</span>
            {prompt ? (
              <div className="inline">
                <strong data-testid="listing-prompt">{prompt.title}</strong>
                <button className="small" onClick={() => setPrompt(null)}>
                  Change
                </button>
              </div>
            ) : (
              <PromptPicker onPick={pick} testid="listing-prompt-picker" />
            )}
          </div>
        )}
        <Field label="Title" wide>
          <input value={f.title} onChange={(e) => set("title", e.target.value)} data-testid="listing-title" />
        </Field>
        <Field label="Short description" wide>
          <input value={f.short_description} onChange={(e) => set("short_description", e.target.value)} />
        </Field>
        <Field label="Description" wide>
          <textarea rows={3} value={f.description} onChange={(e) => set("description", e.target.value)} data-testid="listing-description" />
        </Field>
        <Field label="Price (credits)">
          <input type="number" min={0} step={1} value={f.price} onChange={(e) => set("price", e.target.value)} data-testid="listing-price-input" />
        </Field>
        <Field label="Category">
          <input value={f.category} onChange={(e) => set("category", e.target.value)} />
        </Field>
        <Field label="Tags" wide>
          <input value={f.tags} onChange={(e) => set("tags", e.target.value)} />
        </Field>
        <Field label="Preview (shown to buyers)" wide>
          <textarea rows={3} value={f.preview_content} onChange={(e) => set("preview_content", e.target.value)} />
        </Field>
      </div>
    </Modal>
  );
}

function Purchases(props: { onDone: (d: MarketDone) => void }) {
  const { error, notify, libraryTick, navigate } = useApp();
  const [titles, setTitles] = useState<Record<string, string>>({});
  const [refunding, setRefunding] = useState<MarketplacePurchase | null>(null);
  const [reviewing, setReviewing] = useState<MarketplacePurchase | null>(null);
  const { items, total, busy, reload: load, more, hasMore } = usePaged("marketplace_purchases", { mine: true, sort: "created_at" }, error);
  useEffect(() => {
    void load();
  }, [load, libraryTick]);
  // The listing titles of the purchases shown.
  useEffect(() => {
    const ids = Array.from(new Set((items ?? []).map((p) => p.listing_id))).filter((id) => !(id in titles));
    if (ids.length === 0) return;
    let live = true;
    Promise.all(ids.map((id) => api.get("marketplace_listings", id).then((l) => [id, l?.title ?? "(listing removed)"] as const, () => [id, id] as const))).then(
      (pairs) => live && setTitles((t) => ({ ...t, ...Object.fromEntries(pairs) })),
    );
    return () => {
      live = false;
    };
  }, [items]); // eslint-disable-line react-hooks/exhaustive-deps

  const done = async (d: MarketDone, msg: string) => {
    props.onDone(d);
    notify(msg + (d.balance != null ? ` — balance now ${plural(d.balance, "credit")}` : ""));
    await load();
  };

  return (
    <div>
      {items?.length === 0 && <Empty testid="purchases-empty">No purchases yet. Browse the marketplace to find prompts to buy.</Empty>}
      <table className="table">
        {items && items.length > 0 && (
          <thead>
            <tr>
              <th>Listing</th>
              <th>Paid</th>
              <th>Bought</th>
              <th>Status</th>
              <th>Review</th>
              <th />
            </tr>
          </thead>
        )}
        <tbody>
          {items?.map((p) => {
            const refunded = p.refund.status != null || p.payment_status === "refunded";
            const rating = p.customer_satisfaction?.rating;
            return (
              <tr key={p._id} data-testid="purchase-row">
                <td>
                  <a href="#" onClick={(e) => { e.preventDefault(); navigate({ screen: "prompts", id: p.prompt_id }); }}>
                    {titles[p.listing_id] ?? "…"}
                  </a>
                </td>
                <td>{price({ price: p.amount, currency: p.currency })}</td>
                <td>{fmtDate(p.created_at)}</td>
                <td data-testid="purchase-status">
                  {p.payment_status}
                  {p.refund.status != null && <span className="chip">refund {p.refund.status}</span>}
                </td>
                <td data-testid="purchase-review">{rating != null ? "★".repeat(rating) + "☆".repeat(5 - rating) : <span className="muted">not reviewed</span>}</td>
                <td className="row-actions">
                  {rating == null && !refunded && (
                    <button className="small" onClick={() => setReviewing(p)} data-testid="review-button">
                      Review
                    </button>
                  )}
                  {!refunded && (
                    <button className="small" onClick={() => setRefunding(p)} data-testid="refund-button">
                      Refund
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {hasMore && (
        <button className="load-more" data-testid="purchases-more" disabled={busy} onClick={more}>
          Load more ({plural(total - (items?.length ?? 0), "more purchase")})
        </button>
      )}
      {refunding && <RefundDialog purchase={refunding} onClose={() => setRefunding(null)} onDone={(d) => { setRefunding(null); void done(d, "Refund requested"); }} />}
      {reviewing && <ReviewDialog purchase={reviewing} onClose={() => setReviewing(null)} onDone={(d) => { setReviewing(null); void done(d, "Thanks for your review"); }} />}
    </div>
  );
}

function RefundDialog(props: { purchase: MarketplacePurchase; onClose: () => void; onDone: (d: MarketDone) => void }) {
  const { error } = useApp();
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const go = async () => {
    if (!reason.trim()) return error("Please say why you want a refund.");
    setBusy(true);
    try {
      props.onDone(await api.refundPurchase(props.purchase._id, reason.trim()));
    } catch (e) {
      error(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal
      title="Ask for a refund"
      onClose={props.onClose}
      testid="refund-dialog"
      footer={
        <>
          <button onClick={props.onClose}>Cancel</button>
          <button className="primary" disabled={busy} onClick={go} data-testid="refund-submit">
            Refund
          </button>
        </>
      }
    >
      <Field label="Reason">
        <textarea rows={3} value={reason} onChange={(e) => setReason(e.target.value)} data-testid="refund-reason" />
      </Field>
    </Modal>
  );
}

function ReviewDialog(props: { purchase: MarketplacePurchase; onClose: () => void; onDone: (d: MarketDone) => void }) {
  const { error } = useApp();
  const [rating, setRating] = useState(5);
  const [title, setTitle] = useState("");
  const [content, setContent] = useState("");
  const [busy, setBusy] = useState(false);
  const go = async () => {
    if (!content.trim()) return error("Write a few words about the prompt.");
    setBusy(true);
    try {
      // The contract takes one review text: a title, when given, leads it.
      const text = title.trim() ? `${title.trim()}\n\n${content.trim()}` : content.trim();
      props.onDone(await api.reviewPurchase(props.purchase._id, rating, text));
    } catch (e) {
      error(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal
      title="Review your purchase"
      onClose={props.onClose}
      testid="review-dialog"
      footer={
        <>
          <button onClick={props.onClose}>Cancel</button>
          <button className="primary" disabled={busy} onClick={go} data-testid="review-submit">
            Post review
          </button>
        </>
      }
    >
      <div className="stars" role="radiogroup" aria-label="Rating">
        {[1, 2, 3, 4, 5].map((n) => (
          <button key={n} role="radio" aria-checked={rating === n} className={"star" + (n <= rating ? " on" : "")} onClick={() => setRating(n)} data-testid={"rating-" + n} aria-label={`${n} star${n > 1 ? "s" : ""}`}>
            {n <= rating ? "★" : "☆"}
          </button>
        ))}
      </div>
      <Field label="Title (optional)">
        <input value={title} onChange={(e) => setTitle(e.target.value)} data-testid="review-title" />
      </Field>
      <Field label="Review">
        <textarea rows={4} value={content} onChange={(e) => setContent(e.target.value)} data-testid="review-content" />
      </Field>
    </Modal>
  );
}
