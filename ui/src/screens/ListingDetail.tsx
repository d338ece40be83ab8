// A marketplace listing opened from Browse: everything a buyer reads before
// buying. Opening it is a listing view, which the seller's conversion counts.
import { useEffect } from "react";
import type { MarketplaceListing } from "../bindings/MarketplaceListing";
import { record } from "../events";
import { Modal } from "../ui";
import { fmtDate, plural } from "../util";

export function ListingDetail(props: {
  listing: MarketplaceListing;
  /** The price as the marketplace writes it. */
  price: string;
  /** What the buyer may do: buy it, or why not (own listing, already owned). */
  state: "buy" | "mine" | "owned";
  onBuy: () => void;
  onClose: () => void;
}) {
  const l = props.listing;
  useEffect(() => {
    record({ event: "listing_viewed", listing_id: l._id });
  }, [l._id]);
  const rating = l.reviews?.average_rating ?? 0;
  return (
    <Modal
      title={l.title}
      onClose={props.onClose}
      wide
      testid="listing-detail"
      footer={
        <>
          <strong className="spacer" data-testid="listing-detail-price">
            {props.price}
          </strong>
          <button onClick={props.onClose}>Close</button>
          {props.state === "buy" ? (
            <button className="primary" onClick={props.onBuy} data-testid="listing-detail-buy">
              Buy
            </button>
          ) : (
            <span className={"chip" + (props.state === "owned" ? " ok" : "")}>{props.state === "owned" ? "owned" : "your listing"}</span>
          )}
        </>
      }
    >
      <p className="muted small-text">
        by {l.seller?.display_name ?? "unknown"}
        {l.seller?.verified_seller && " (verified seller)"} · {l.category} · ★ {rating.toFixed(1)} ({plural(l.reviews?.total_reviews ?? 0, "review")}) ·{" "}
        {plural(l.analytics?.purchase_count ?? 0, "sale")} · updated {fmtDate(l.updated_at)}
      </p>
      {l.short_description && <p>{l.short_description}</p>}
      <p data-testid="listing-detail-description">{l.description}</p>
      {(l.tags ?? []).length > 0 && (
        <p className="card-marks">
          {l.tags.map((t) => (
            <span key={t} className="chip">
              {t}
            </span>
          ))}
        </p>
      )}
      {l.preview_content && (
        <>
          <h3 className="pane-head">Preview</h3>
          <pre className="listing-preview" data-testid="listing-detail-preview">
            {l.preview_content}
          </pre>
        </>
      )}
    </Modal>
  );
}
