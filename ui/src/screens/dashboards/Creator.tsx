// The creator's dashboard: which prompts get used, how use changes over
// time, and which prompts went through the most versions.
import type { Dashboard } from "../../bindings/Dashboard";
import { useApp } from "../../ctx";
import { plural } from "../../util";
import { Chart } from "./Chart";
import { Panel, span } from "./Panel";

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export function CreatorDashboard(props: { data: Dashboard }) {
  const { navigate } = useApp();
  const c = props.data.creator;
  const period = props.data.period;
  const n = c.uses.length;

  const used = c.most_used.filter((p) => p.uses > 0);
  const top = used[0];
  const uses = c.uses.map((b) => b.uses);
  const copies = c.uses.map((b) => b.copies);
  const totalUses = sum(uses);
  const totalCopies = sum(copies);
  const busiest = c.uses.reduce<(typeof c.uses)[number] | null>((best, b) => (best == null || b.uses > best.uses ? b : best), null);
  const versions = c.versions;
  const mostVersions = versions[0];

  const toSettings = (
    <a href="#" onClick={(e) => { e.preventDefault(); navigate({ screen: "settings" }); }} data-testid="dash-to-settings">
      Settings
    </a>
  );

  return (
    <div className="dash-grid" data-testid="creator-dashboard">
      <p className="dash-lead wide" data-testid="creator-prompt-count">
        You have {plural(c.prompt_count, "prompt")} in your library.
      </p>
      <Panel
        id="most-used"
        title="Most used prompts"
        empty={used.length === 0 ? "No prompt has been used yet — copy a prompt from its editor, or mark it as used." : undefined}
        summary={
          top && (
            <>
              {plural(sum(used.map((p) => p.uses)), "use")} across your {plural(used.length, "most used prompt")}; most used: “{top.title}” ({plural(top.uses, "use")},{" "}
              {plural(top.views, "view")}).
            </>
          )
        }
      >
        <Chart
          name="most-used"
          title="Uses of your most used prompts"
          labels={used.map((p) => p.title || "(untitled)")}
          series={[{ label: "Uses", values: used.map((p) => p.uses), color: "--accent" }]}
          y={{ integer: true, label: "uses" }}
          xLabels="truncate"
          xName="Prompt"
        />
      </Panel>
      <Panel
        id="uses"
        title="Uses over time"
        empty={
          n === 0 || totalUses + totalCopies === 0 ? (
            <>
              No uses or copies recorded in {span(period, n)}. They are counted on this device while usage analytics are on ({toSettings}).
            </>
          ) : undefined
        }
        summary={
          <>
            {plural(totalUses, "use")} and {plural(totalCopies, "copy", "copies")} in {span(period, n)}
            {busiest && busiest.uses > 0 && (
              <>
                ; busiest: {busiest.label} ({plural(busiest.uses, "use")})
              </>
            )}
            .
          </>
        }
      >
        <Chart
          name="uses"
          title={`Uses and copies per ${period}`}
          labels={c.uses.map((b) => b.label)}
          series={[
            { label: "Uses", values: uses, color: "--accent" },
            { label: "Copies", values: copies, color: "--ok" },
          ]}
          y={{ integer: true }}
          xLabels="thin"
          xName={period[0].toUpperCase() + period.slice(1)}
        />
      </Panel>
      <Panel
        id="versions"
        title="Versions per prompt"
        empty={versions.length === 0 ? "No prompts yet — write one under Prompts and its versions are counted here." : undefined}
        summary={
          mostVersions && (
            <>
              {plural(sum(versions.map((v) => v.versions)), "version")} across {plural(versions.length, "prompt")}; most: “{mostVersions.title}” (
              {plural(mostVersions.versions, "version")}).
            </>
          )
        }
      >
        <Chart
          name="versions"
          title="Versions of your prompts with the most versions"
          labels={versions.map((v) => v.title || "(untitled)")}
          series={[{ label: "Versions", values: versions.map((v) => v.versions), color: "--warn" }]}
          y={{ integer: true, label: "versions" }}
          xLabels="truncate"
          xName="Prompt"
        />
      </Panel>
      {top && (
        <p className="muted small-text wide">
          “Most used” counts uses on all your devices; “Uses over time” counts what this device recorded, so the two can differ.
        </p>
      )}
    </div>
  );
}
