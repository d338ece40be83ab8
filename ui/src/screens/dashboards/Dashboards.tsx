// The Dashboards screen: a creator's and a seller's numbers per day, week or
// month, read from the local store through the `dashboard` command (so it
// works offline). Each panel pairs a chart with a plain-text summary, which
// is what screen readers and tests read.
import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "../../api";
import type { Dashboard } from "../../bindings/Dashboard";
import type { Period } from "../../bindings/Period";
import { useApp } from "../../ctx";
import { Empty } from "../../ui";
import { CreatorDashboard } from "./Creator";
import { SellerDashboard } from "./Seller";

export type Tab = "creator" | "seller";

const PERIODS: [Period, string][] = [
  ["day", "Day"],
  ["week", "Week"],
  ["month", "Month"],
];
/** Periods shown, the current one included. */
export const BUCKETS = 12;

function tabOf(id: string | undefined): Tab | null {
  return id === "seller" || id === "creator" ? id : null;
}

export function DashboardsScreen() {
  const { target, error, libraryTick } = useApp();
  const [tab, setTab] = useState<Tab>(tabOf(target.screen === "dashboards" ? target.id : undefined) ?? "creator");
  const [period, setPeriod] = useState<Period>("week");
  const [data, setData] = useState<Dashboard | null>(null);
  const [failed, setFailed] = useState(false);
  const [busy, setBusy] = useState(false);
  // Answers can arrive out of order when the period is switched quickly: only the latest counts.
  const asked = useRef(0);

  useEffect(() => {
    const t = target.screen === "dashboards" ? tabOf(target.id) : null;
    if (t) setTab(t);
  }, [target]);

  const load = useCallback(async () => {
    const n = ++asked.current;
    setBusy(true);
    try {
      const d = await api.dashboard({ period, buckets: BUCKETS, time_zone: null });
      if (n !== asked.current) return;
      setData(d);
      setFailed(false);
    } catch (e) {
      if (n !== asked.current) return;
      setFailed(true);
      error(e);
    } finally {
      if (n === asked.current) setBusy(false);
    }
  }, [period, error]);

  useEffect(() => {
    void load();
  }, [load, libraryTick]);

  return (
    <div className="page dashboards" data-testid="dashboards">
      <div className="page-head">
        <h1>Dashboards</h1>
        <div className="tabs" role="tablist" aria-label="Dashboard">
          {(
            [
              ["creator", "Creator"],
              ["seller", "Seller"],
            ] as [Tab, string][]
          ).map(([t, label]) => (
            <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "active" : ""} onClick={() => setTab(t)} data-testid={"dash-tab-" + t}>
              {label}
            </button>
          ))}
        </div>
        <span className="spacer" />
        <div className="tabs" role="group" aria-label="Period">
          {PERIODS.map(([p, label]) => (
            <button key={p} aria-pressed={period === p} className={"small" + (period === p ? " active" : "")} onClick={() => setPeriod(p)} data-testid={"period-" + p}>
              {label}
            </button>
          ))}
        </div>
      </div>
      {data == null ? (
        failed ? (
          <Empty testid="dashboards-failed">
            The numbers could not be read. <button onClick={() => void load()}>Try again</button>
          </Empty>
        ) : (
          <p className="muted">Loading…</p>
        )
      ) : (
        <div aria-busy={busy} data-testid="dashboards-body" data-period={data.period}>
          {tab === "creator" ? <CreatorDashboard data={data} /> : <SellerDashboard data={data} />}
          <p className="muted small-text">
            Periods in the {data.time_zone} time zone. Computed on this device from your library; no connection needed.
          </p>
        </div>
      )}
    </div>
  );
}
