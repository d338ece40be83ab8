// A small React wrapper around uPlot for the dashboards: categorical or
// per-period bars (grouped when there are several), optional lines on a
// second axis, colours read from the theme's CSS variables. What it drew is
// published on its container (data-* attributes and the `chart` property) so
// tests check the numbers on screen, not only the numbers fetched.
import { useEffect, useLayoutEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export type ChartSeries = {
  label: string;
  values: number[];
  /** A CSS colour variable of the theme, e.g. "--accent". */
  color: string;
  /** Bars (the default) or a line with points. */
  kind?: "bars" | "line";
  /** The left axis ("y", default) or the right one ("y2"). */
  axis?: "y" | "y2";
};

export type AxisSpec = {
  /** Axis title, e.g. "credits". */
  label?: string;
  /** Tick text; numbers as they are by default. */
  format?: (v: number) => string;
  /** Only whole-number ticks (counts). */
  integer?: boolean;
  /** The scale never goes above this (e.g. 100 for percentages). */
  cap?: number;
};

export type ChartProps = {
  /** Names the chart for tests: the container's data-chart. */
  name: string;
  /** What the chart shows, for screen readers (the text summary beside it says the numbers). */
  title: string;
  /** One label per x position: categories (prompt titles) or periods. */
  labels: string[];
  /** What the x labels are, for the legend ("Prompt", "Period"). */
  xName?: string;
  series: ChartSeries[];
  y?: AxisSpec;
  y2?: AxisSpec;
  /** "truncate" shortens every label to fit; "thin" skips labels when crowded (periods). */
  xLabels?: "truncate" | "thin";
  height?: number;
};

/** What a chart drew, as published on its container element. */
export type ChartInfo = {
  points: number;
  bars: number;
  scales: Record<string, { min: number | null; max: number | null }>;
  series: { label: string; values: number[] }[];
  labels: string[];
  theme: string;
  axisStroke: string;
  gridStroke: string;
  background: string;
};

/** The `data-theme` on <html>, live: charts paint on canvas, so CSS alone cannot recolour them. */
export function useThemeName(): string {
  const read = () => document.documentElement.getAttribute("data-theme") ?? "light";
  const [theme, setTheme] = useState(read);
  useEffect(() => {
    const mo = new MutationObserver(() => setTheme(read()));
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => mo.disconnect();
  }, []);
  return theme;
}

let normalizer: CanvasRenderingContext2D | null = null;

/**
 * A theme colour (a CSS variable, or any colour) as "rgb(r, g, b)". It is read
 * on <html>, where the themes set their variables: right after `data-theme`
 * changes, Chromium can still answer the old value for an element below it.
 */
function resolveColor(css: string): string {
  const raw = css.startsWith("--") ? getComputedStyle(document.documentElement).getPropertyValue(css).trim() : css;
  normalizer ??= document.createElement("canvas").getContext("2d");
  if (!normalizer || !raw) return raw || "rgb(128, 128, 128)";
  normalizer.fillStyle = "#808080";
  normalizer.fillStyle = raw;
  const v = String(normalizer.fillStyle);
  const m = v.match(/^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i);
  return m ? `rgb(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)})` : v;
}

function withAlpha(rgb: string, alpha: number): string {
  const m = rgb.match(/rgba?\(([^)]+)\)/);
  if (!m) return rgb;
  const [r, g, b] = m[1].split(",").map((x) => x.trim());
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

/** The first non-transparent background behind `el`: what the axis text must stand out against. */
function backgroundOf(el: HTMLElement | null): string {
  for (let e = el; e; e = e.parentElement) {
    const bg = getComputedStyle(e).backgroundColor;
    if (bg && bg !== "transparent" && !/rgba\(.*,\s*0\)$/.test(bg)) return bg;
  }
  return getComputedStyle(document.body).backgroundColor;
}

/** A round upper bound a little above `max`, so the tallest bar never touches the top. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const mag = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * mag >= max * 1.05) return m * mag;
  return 10 * mag;
}

const INTEGER_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000, 1e6, 1e7, 1e8, 1e9];
// Approximate width of one character of the 12px axis font, to fit labels.
const CHAR_PX = 7;

export function Chart(props: ChartProps) {
  const outer = useRef<HTMLDivElement>(null);
  const target = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const theme = useThemeName();
  const height = props.height ?? 220;
  // Rebuild only when what is drawn changes, not on every parent render.
  const key = JSON.stringify([props.labels, props.xName, props.series, props.y?.label, props.y2?.label, props.y?.cap, props.y2?.cap, props.xLabels, height]);
  const latest = useRef(props);
  latest.current = props;

  useLayoutEffect(() => {
    const host = outer.current;
    const el = target.current;
    if (!host || !el) return;
    const p = latest.current;
    const n = p.labels.length;

    const axisStroke = resolveColor("--text");
    const gridStroke = resolveColor("--border");
    const colors = p.series.map((s) => resolveColor(s.color));
    const background = backgroundOf(host);

    const font = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    const barSeries = p.series.filter((s) => (s.kind ?? "bars") === "bars");
    const groupW = 0.8 / Math.max(1, barSeries.length);
    // Bars drawn per series, counted as uPlot lays them out (paths are cached between redraws).
    const drawn: number[] = new Array(p.series.length + 1).fill(0);

    const series: uPlot.Series[] = [{ label: p.xName ?? "", value: (_u, v) => (v == null ? "" : p.labels[Math.round(v)] ?? "") }];
    p.series.forEach((s, k) => {
      const idx = k + 1;
      const scale = s.axis === "y2" ? "y2" : "y";
      const fmt = (scale === "y2" ? p.y2 : p.y)?.format;
      const base: uPlot.Series = {
        label: s.label,
        scale,
        stroke: colors[k],
        width: s.kind === "line" ? 2 : 1,
        value: (_u, v) => (v == null ? "—" : fmt ? fmt(v) : String(v)),
      };
      if ((s.kind ?? "bars") === "bars") {
        const slot = barSeries.indexOf(s);
        const inner = uPlot.paths.bars!({
          disp: {
            x0: { unit: 1, values: (u) => (u.data[0] as number[]).map((x) => x - 0.4 + slot * groupW) },
            size: { unit: 1, values: (u) => (u.data[0] as number[]).map(() => groupW * 0.9) },
          },
          each: () => {
            drawn[idx] += 1;
          },
        });
        series.push({
          ...base,
          fill: withAlpha(colors[k], 0.75),
          points: { show: false },
          paths: (u, si, i0, i1) => {
            drawn[si] = 0;
            return inner(u, si, i0, i1);
          },
        });
      } else {
        series.push({ ...base, points: { show: true, size: 6, fill: colors[k] } });
      }
    });

    const scaleOf = (spec: AxisSpec | undefined): uPlot.Scale => ({
      auto: true,
      range: (_u, _min, max) => {
        const top = niceMax(max ?? 0);
        return [0, spec?.cap != null ? Math.min(spec.cap, top) || spec.cap : top];
      },
    });
    const yAxis = (spec: AxisSpec | undefined, scale: string, side: 1 | 3): uPlot.Axis => ({
      scale,
      side,
      stroke: axisStroke,
      font,
      labelFont: font,
      label: spec?.label,
      grid: { show: side === 3, stroke: gridStroke, width: 1 },
      ticks: { stroke: gridStroke, width: 1 },
      incrs: spec?.integer ? INTEGER_INCRS : undefined,
      values: (_u, splits) => splits.map((v) => (spec?.format ? spec.format(v) : String(v))),
      size: (u, values) => {
        const longest = Math.max(1, ...(values ?? []).map((v) => String(v).length));
        return Math.max(40, longest * CHAR_PX + 16);
      },
    });
    const hasY2 = p.series.some((s) => s.axis === "y2");

    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth || host.clientWidth || 600),
      height,
      legend: { show: true },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      scales: {
        x: { time: false, range: () => [-0.5, Math.max(0, n - 1) + 0.5] },
        y: scaleOf(p.y),
        ...(hasY2 ? { y2: scaleOf(p.y2) } : {}),
      },
      axes: [
        {
          stroke: axisStroke,
          font,
          grid: { show: false },
          ticks: { stroke: gridStroke, width: 1 },
          splits: () => p.labels.map((_, i) => i),
          values: (u, splits) => {
            const per = u.bbox.width / uPlot.pxRatio / Math.max(1, n);
            if (p.xLabels === "thin") {
              const longest = Math.max(1, ...p.labels.map((l) => l.length));
              const step = Math.max(1, Math.ceil((longest * CHAR_PX + 10) / per));
              // Keep the newest period's label: count steps back from the end.
              return splits.map((i) => ((n - 1 - i) % step === 0 ? p.labels[i] ?? "" : ""));
            }
            const room = Math.max(3, Math.floor((per - 6) / CHAR_PX));
            return splits.map((i) => {
              const l = p.labels[i] ?? "";
              return l.length > room ? l.slice(0, room - 1) + "…" : l;
            });
          },
        },
        yAxis(p.y, "y", 3),
        ...(hasY2 ? [yAxis(p.y2, "y2", 1)] : []),
      ],
      series,
      hooks: {
        draw: [
          (u) => {
            const scales: ChartInfo["scales"] = {};
            for (const [k, s] of Object.entries(u.scales)) if (k !== "x") scales[k] = { min: s.min ?? null, max: s.max ?? null };
            const info: ChartInfo = {
              points: n,
              bars: drawn.reduce((a, b) => a + b, 0),
              scales,
              series: p.series.map((s) => ({ label: s.label, values: s.values.slice() })),
              labels: p.labels.slice(),
              theme: document.documentElement.getAttribute("data-theme") ?? "light",
              axisStroke,
              gridStroke,
              background,
            };
            (host as HTMLDivElement & { chart?: ChartInfo }).chart = info;
            const d = host.dataset;
            d.points = String(info.points);
            d.bars = String(info.bars);
            d.yMin = String(scales.y?.min ?? "");
            d.yMax = String(scales.y?.max ?? "");
            if (scales.y2) {
              d.y2Min = String(scales.y2.min ?? "");
              d.y2Max = String(scales.y2.max ?? "");
            }
            d.series = JSON.stringify(info.series);
            d.theme = info.theme;
            d.axisStroke = axisStroke;
            d.gridStroke = gridStroke;
            d.background = background;
            d.drawn = String(Number(d.drawn ?? 0) + 1);
          },
        ],
      },
    };

    const data: uPlot.AlignedData = [p.labels.map((_, i) => i), ...p.series.map((s) => s.values)];
    const u = new uPlot(opts, data, el);
    plot.current = u;
    return () => {
      u.destroy();
      plot.current = null;
    };
  }, [key, theme, height]);

  // Follows its container's width; the height is fixed per chart.
  useEffect(() => {
    const el = target.current;
    if (!el) return;
    const ro = new ResizeObserver(() => {
      const w = el.clientWidth;
      const u = plot.current;
      if (u && w > 0 && Math.abs(u.width - w) > 1) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [height]);

  return (
    <div ref={outer} className="chart" data-chart={props.name} data-testid={"chart-" + props.name} role="img" aria-label={props.title}>
      <div ref={target} className="chart-canvas" />
    </div>
  );
}
