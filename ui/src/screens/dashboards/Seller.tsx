// The seller's dashboard: sales and credits per period with refunds, how
// well each listing turns views into purchases, and the star ratings.
import type { Dashboard } from "../../bindings/Dashboard";
import { useApp } from "../../ctx";
import { fmtNum, plural } from "../../util";
import { Chart } from "./Chart";
import { Panel, span } from "./Panel";

/** Listings shown in the conversion chart (the most viewed); the summary counts them all. */
const MAX_LISTINGS = 10;

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const pct = (x: number) => `${fmtNum(Math.round(x * 10) / 10)}%`;
const credits = (n: number) => `${fmtNum(n)} ${n === 1 ? "credit" : "credits"}`;

export function SellerDashboard(props: { data: Dashboard }) {
  const { navigate } = useApp();
  const s = props.data.seller;
  const period = props.data.period;
  const t = s.totals;
  const n = s.sales.length;

  const listings = s.listings.slice(0, MAX_LISTINGS);
  const views = sum(s.listings.map((l) => l.views));
  const purchases = sum(s.listings.map((l) => l.purchases));
  const best = s.listings.reduce<(typeof s.listings)[number] | null>((b, l) => (l.views > 0 && (b == null || l.conversion > b.conversion) ? l : b), null);
  const reviews = sum(s.ratings);
  const average = reviews > 0 ? s.ratings.reduce((a, c, i) => a + c * (i + 1), 0) / reviews : 0;

  const toListings = (
    <button className="small" onClick={() => navigate({ screen: "marketplace", id: "mine" })} data-testid="dash-to-listings">
      Open My listings
    </button>
  );
  const noSales = t.sales === 0 && t.refunds === 0;

  return (
    <div className="dash-grid" data-testid="seller-dashboard">
      <Panel
        id="sales"
        title="Sales per period"
        empty={
          noSales ? (
            <>
              No sales yet — publish a listing from a prompt. {toListings}
            </>
          ) : undefined
        }
        summary={
          <>
            {plural(t.sales, "sale")} · {credits(t.revenue)} revenue · {credits(t.earnings)} earned · {plural(t.refunds, "refund")} ({credits(t.refunded)} refunded) in{" "}
            {span(period, n)}.
          </>
        }
        note={noSales ? undefined : "Revenue is what buyers paid; earnings are what you kept after the platform fee, refunds not deducted."}
      >
        <Chart
          name="sales"
          title={`Sales, revenue and earnings per ${period}`}
          labels={s.sales.map((b) => b.label)}
          series={[
            { label: "Sales", values: s.sales.map((b) => b.sales), color: "--accent" },
            { label: "Revenue (credits)", values: s.sales.map((b) => b.revenue), color: "--ok", kind: "line", axis: "y2" },
            { label: "Earnings (credits)", values: s.sales.map((b) => b.earnings), color: "--warn", kind: "line", axis: "y2" },
          ]}
          y={{ integer: true, label: "sales" }}
          y2={{ label: "credits", format: fmtNum }}
          xLabels="thin"
          xName={period[0].toUpperCase() + period.slice(1)}
        />
      </Panel>
      <Panel
        id="conversion"
        title="Conversion per listing"
        empty={s.listings.length === 0 ? <>No listings yet — publish a listing from a prompt. {toListings}</> : undefined}
        summary={
          <>
            {plural(views, "view")} and {plural(purchases, "purchase")} over {plural(s.listings.length, "listing")}: {pct(views > 0 ? (purchases / views) * 100 : 0)} overall
            {best && (
              <>
                ; best: “{best.title}” ({pct(best.conversion * 100)})
              </>
            )}
            {s.listings.length > MAX_LISTINGS && <>; the chart shows the {MAX_LISTINGS} most viewed</>}.
          </>
        }
      >
        <Chart
          name="conversion"
          title="Purchases per view of each listing, in percent"
          labels={listings.map((l) => l.title || "(untitled)")}
          series={[{ label: "Conversion", values: listings.map((l) => Math.round(l.conversion * 1000) / 10), color: "--accent" }]}
          y={{ label: "conversion", format: (v) => pct(v), cap: 100 }}
          xLabels="truncate"
          xName="Listing"
        />
      </Panel>
      <Panel
        id="ratings"
        title="Rating distribution"
        empty={reviews === 0 ? "No reviews yet — they appear here when buyers review the prompts you sell." : undefined}
        summary={
          <>
            {plural(reviews, "review")}, average {fmtNum(Math.round(average * 10) / 10)}★; {s.ratings.map((c, i) => `${i + 1}★ ${fmtNum(c)}`).join(" · ")}.
          </>
        }
      >
        <Chart
          name="ratings"
          title="How many reviews gave 1 to 5 stars"
          labels={["1★", "2★", "3★", "4★", "5★"]}
          series={[{ label: "Reviews", values: s.ratings.slice(), color: "--warn" }]}
          y={{ integer: true, label: "reviews" }}
          xLabels="truncate"
          xName="Rating"
        />
      </Panel>
    </div>
  );
}
