// The pieces every dashboard panel shares: a titled section holding a chart
// (or its empty state) and the plain-text summary that says its numbers.
import type { ReactNode } from "react";
import type { Period } from "../../bindings/Period";
import { Empty } from "../../ui";

export const PERIOD_WORDS: Record<Period, [string, string]> = {
  day: ["day", "days"],
  week: ["week", "weeks"],
  month: ["month", "months"],
};

/** "the last 12 weeks", for summaries. */
export function span(period: Period, n: number): string {
  const [one, many] = PERIOD_WORDS[period];
  return n === 1 ? `this ${one}` : `the last ${n} ${many}`;
}

/** One chart (or its empty state) with its title and text summary. */
export function Panel(props: { id: string; title: string; summary?: ReactNode; empty?: ReactNode; children?: ReactNode; note?: ReactNode }) {
  return (
    <section className="dash-panel" data-testid={"panel-" + props.id} aria-labelledby={"dash-h-" + props.id}>
      <h2 id={"dash-h-" + props.id}>{props.title}</h2>
      {props.empty ? (
        <Empty testid={props.id + "-empty"}>{props.empty}</Empty>
      ) : (
        <>
          {props.children}
          <p className="dash-summary" data-testid={"summary-" + props.id}>
            {props.summary}
          </p>
        </>
      )}
      {props.note && <p className="muted small-text dash-note">{props.note}</p>}
    </section>
  );
}
