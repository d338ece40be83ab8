// The Dashboards screen against the fake back end's fixed numbers: what each
// chart drew (read from its container, as Chart.tsx publishes it), in the
// light and the dark theme; the period switch, empty states and the links
// to it; and the usage events the UI reports (copy, use, listing view,
// search) and the analytics settings.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, openApp, tid, calls } from "./helpers.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

const THEMES = ["light", "dark"];
const text = (page, id) => page.textContent(tid(id));

/** What a chart drew, once it has drawn in `theme`. */
async function drawn(page, name, theme) {
  await page.waitForFunction(
    ([n, t]) => {
      const el = document.querySelector(`[data-chart="${n}"]`);
      return el && el.chart && el.chart.theme === t;
    },
    [name, theme],
  );
  return page.evaluate((n) => JSON.parse(JSON.stringify(document.querySelector(`[data-chart="${n}"]`).chart)), name);
}

/** The app in `theme` (the stored setting), on the Dashboards screen's `tab`. */
async function openDashboards(theme, tab = "creator", options = {}) {
  const page = await openApp(browser, server.url, { ...options, settings: { theme } });
  await page.waitForFunction((t) => document.documentElement.dataset.theme === t, theme);
  await page.click(tid("nav-dashboards"));
  await page.waitForSelector(tid("dashboards-body"));
  if (tab === "seller") await page.click(tid("dash-tab-seller"));
  await page.waitForSelector(tid(tab + "-dashboard"));
  return page;
}

// WCAG contrast of two "rgb(r, g, b)" colours.
function luminance(rgb) {
  const [r, g, b] = rgb.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * Checks one chart in both themes: bars and points drawn, the series values,
 * the y range (from 0, above the largest value but not absurdly), its summary,
 * and axis colours that change with the theme and stand out from the panel.
 */
async function checkChart({ tab, name, points, bars, series, labels, scales, summary }) {
  const strokes = {};
  for (const theme of THEMES) {
    const page = await openDashboards(theme, tab);
    const c = await drawn(page, name, theme);
    assert.equal(await page.getAttribute("html", "data-theme"), theme);
    assert.equal(c.points, points, `${name} (${theme}): points`);
    assert.equal(c.bars, bars, `${name} (${theme}): bars drawn`);
    assert.deepEqual(c.series.map((s) => s.values), series, `${name} (${theme}): values`);
    if (labels) assert.deepEqual(c.labels, labels, `${name} (${theme}): labels`);
    for (const [key, values] of Object.entries(scales)) {
      const largest = Math.max(...values);
      const { min, max } = c.scales[key];
      assert.equal(min, 0, `${name} (${theme}): ${key} starts at 0`);
      assert.ok(max >= largest, `${name} (${theme}): ${key} max ${max} holds ${largest}`);
      assert.ok(max <= Math.max(largest * 2, largest + 2), `${name} (${theme}): ${key} max ${max} is not far above ${largest}`);
    }
    // The data attributes say the same as the property.
    const el = tid("chart-" + name);
    assert.equal(await page.getAttribute(el, "data-points"), String(points));
    assert.equal(await page.getAttribute(el, "data-bars"), String(bars));
    assert.equal(Number(await page.getAttribute(el, "data-y-max")), c.scales.y.max);
    // A canvas was drawn at the container's width.
    const box = await page.evaluate((n) => {
      const el = document.querySelector(`[data-chart="${n}"]`);
      const canvas = el.querySelector("canvas");
      return { canvas: canvas ? canvas.getBoundingClientRect().width : 0, host: el.getBoundingClientRect().width };
    }, name);
    assert.ok(box.canvas > 100 && Math.abs(box.canvas - box.host) <= 2, `${name} (${theme}): sized to its container ${JSON.stringify(box)}`);
    assert.equal(await text(page, "summary-" + name), summary);
    assert.ok(contrast(c.axisStroke, c.background) >= 4.5, `${name} (${theme}): axis ${c.axisStroke} on ${c.background}`);
    strokes[theme] = c.axisStroke;
    // What is drawn is what the back end answered.
    const request = (await calls(page, "dashboard")).pop().request;
    assert.deepEqual(request, { period: "week", buckets: 12, time_zone: null });
    assert.deepEqual(page.errors, []);
    await page.closeAll();
  }
  assert.notEqual(strokes.light, strokes.dark, `${name}: the axis colour follows the theme`);
}

const WEEKS = Array.from({ length: 12 }, (_, i) => `2026-W${36 + i}`);
const USES = [2, 5, 3, 8, 6, 0, 4, 9, 12, 7, 5, 10];
const COPIES = [1, 2, 0, 3, 2, 0, 1, 4, 5, 2, 3, 6];
const SALES = [0, 1, 0, 2, 1, 0, 0, 3, 1, 0, 2, 2];

test("dashboards: most used prompts", async () => {
  await checkChart({
    tab: "creator",
    name: "most-used",
    points: 4,
    bars: 4,
    series: [[42, 17, 9, 3]],
    labels: ["Blog post outline", "Email template", "Code reviewer", "Tweet writer"],
    scales: { y: [42, 17, 9, 3] },
    summary: "71 uses across your 4 most used prompts; most used: “Blog post outline” (42 uses, 120 views).",
  });
});

test("dashboards: uses over time, one pair of bars per week", async () => {
  await checkChart({
    tab: "creator",
    name: "uses",
    points: 12,
    bars: 24,
    series: [USES, COPIES],
    labels: WEEKS,
    scales: { y: [...USES, ...COPIES] },
    summary: "71 uses and 29 copies in the last 12 weeks; busiest: 2026-W44 (12 uses).",
  });
});

test("dashboards: versions per prompt", async () => {
  await checkChart({
    tab: "creator",
    name: "versions",
    points: 4,
    bars: 4,
    series: [[3, 1, 1, 1]],
    scales: { y: [3, 1, 1, 1] },
    summary: "6 versions across 4 prompts; most: “Blog post outline” (3 versions).",
  });
});

test("dashboards: sales per period, with revenue and earnings in credits and the refunds", async () => {
  await checkChart({
    tab: "seller",
    name: "sales",
    points: 12,
    bars: 12,
    series: [SALES, SALES.map((s) => s * 50), SALES.map((s) => s * 40)],
    labels: WEEKS,
    scales: { y: SALES, y2: SALES.map((s) => s * 50) },
    summary: "12 sales · 600 credits revenue · 480 credits earned · 1 refund (50 credits refunded) in the last 12 weeks.",
  });
});

test("dashboards: conversion per listing, in percent", async () => {
  await checkChart({
    tab: "seller",
    name: "conversion",
    points: 3,
    bars: 3,
    series: [[4.5, 12, 0]],
    labels: ["Blog outline pack", "SEO helper pack", "Rejected pack"],
    scales: { y: [4.5, 12, 0] },
    summary: "241 views and 12 purchases over 3 listings: 5% overall; best: “SEO helper pack” (12%).",
  });
});

test("dashboards: rating distribution, five bars; a live theme change redraws it", async () => {
  await checkChart({
    tab: "seller",
    name: "ratings",
    points: 5,
    bars: 5,
    series: [[0, 1, 0, 3, 6]],
    labels: ["1★", "2★", "3★", "4★", "5★"],
    scales: { y: [0, 1, 0, 3, 6] },
    summary: "10 reviews, average 4.4★; 1★ 0 · 2★ 1 · 3★ 0 · 4★ 3 · 5★ 6.",
  });
  // Switching the theme under an open chart repaints it in the new colours.
  const page = await openDashboards("light", "seller");
  const light = await drawn(page, "ratings", "light");
  await page.click(tid("nav-settings"));
  await page.selectOption(tid("settings-theme"), "dark");
  await page.click(tid("nav-dashboards"));
  await page.click(tid("dash-tab-seller"));
  const dark = await drawn(page, "ratings", "dark");
  assert.notEqual(dark.axisStroke, light.axisStroke);
  assert.notEqual(dark.background, light.background);
  // And live, while the chart stays open.
  await page.evaluate(() => document.documentElement.setAttribute("data-theme", "light"));
  const again = await drawn(page, "ratings", "light");
  assert.equal(again.axisStroke, light.axisStroke);
  assert.equal(again.bars, 5);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("dashboards: the period switch asks for days, weeks or months and redraws", async () => {
  const page = await openDashboards("light");
  assert.equal(await page.getAttribute(tid("period-week"), "aria-pressed"), "true", "weeks by default");
  await drawn(page, "uses", "light");
  await page.click(tid("period-month"));
  await page.waitForSelector(`${tid("dashboards-body")}[data-period="month"]`);
  assert.deepEqual((await calls(page, "dashboard")).pop().request, { period: "month", buckets: 12, time_zone: null });
  assert.equal(await page.getAttribute(tid("period-month"), "aria-pressed"), "true");
  await page.waitForFunction(() => document.querySelector('[data-chart="uses"]').chart.labels[11] === "2026-11");
  let c = await drawn(page, "uses", "light");
  assert.equal(c.labels[0], "2025-12");
  assert.deepEqual(c.series[0].values, USES.map((u) => u * 3));
  assert.ok(c.scales.y.max >= 36 && c.scales.y.max <= 72);
  assert.equal(await text(page, "summary-uses"), "213 uses and 87 copies in the last 12 months; busiest: 2026-08 (36 uses).");
  // The period stays when the tab changes.
  await page.click(tid("dash-tab-seller"));
  await page.waitForSelector(tid("summary-sales"));
  assert.equal(await text(page, "summary-sales"), "36 sales · 1,800 credits revenue · 1,440 credits earned · 1 refund (50 credits refunded) in the last 12 months.");
  c = await drawn(page, "sales", "light");
  assert.equal(c.points, 12);

  await page.click(tid("period-day"));
  await page.waitForSelector(`${tid("dashboards-body")}[data-period="day"]`);
  assert.equal((await calls(page, "dashboard")).pop().request.period, "day");
  await page.waitForFunction(() => document.querySelector('[data-chart="sales"]').chart.labels[11] === "2026-11-20");
  c = await drawn(page, "sales", "light");
  assert.equal(c.labels[0], "2026-11-09");
  assert.deepEqual(c.series[0].values, SALES.slice().reverse());
  assert.match(await text(page, "summary-sales"), /in the last 12 days\.$/);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("dashboards: an empty library shows friendly empty states and no charts", async () => {
  const page = await openDashboards("light", "creator", { empty: true });
  await page.waitForSelector(tid("most-used-empty"));
  assert.match(await text(page, "most-used-empty"), /No prompt has been used yet/);
  assert.match(await text(page, "uses-empty"), /No uses or copies recorded in the last 12 weeks/);
  assert.match(await text(page, "versions-empty"), /No prompts yet/);
  assert.equal(await text(page, "creator-prompt-count"), "You have 0 prompts in your library.");
  assert.equal(await page.locator("[data-chart]").count(), 0);
  await page.click(tid("dash-tab-seller"));
  await page.waitForSelector(tid("sales-empty"));
  assert.match(await text(page, "sales-empty"), /^No sales yet — publish a listing from a prompt\./);
  assert.match(await text(page, "conversion-empty"), /No listings yet/);
  assert.match(await text(page, "ratings-empty"), /No reviews yet/);
  assert.equal(await page.locator("[data-chart]").count(), 0);
  // The way out of the empty state: the listings to publish.
  await page.click(`${tid("sales-empty")} ${tid("dash-to-listings")}`);
  await page.waitForSelector(`${tid("market-tab-mine")}[aria-selected="true"]`);
  await page.waitForSelector(tid("listings-empty"));
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("dashboards: reached from the Marketplace (seller), the Profile (creator) and Ctrl+9", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("nav-marketplace"));
  await page.click(tid("market-sales-dashboard"));
  await page.waitForSelector(`${tid("dash-tab-seller")}[aria-selected="true"]`);
  await drawn(page, "sales", "light");
  assert.equal(await page.getAttribute(tid("nav-dashboards"), "aria-current"), "page");

  await page.click(tid("nav-profile"));
  await page.click(tid("profile-numbers"));
  await page.waitForSelector(`${tid("dash-tab-creator")}[aria-selected="true"]`);
  await drawn(page, "most-used", "light");

  await page.click(tid("nav-prompts"));
  await page.keyboard.press("Control+9");
  await page.waitForSelector(tid("dashboards"));
  await page.keyboard.press("Shift+?");
  assert.match(await page.textContent(tid("shortcuts-sheet")), /Ctrl\+9\s*Dashboards/);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

// ---- Usage events ----

const reports = (page) => page.evaluate(() => window.__fake.callsOf("record_event").map((a) => a.report));

async function openPrompt(page, title) {
  await page.click(`${tid("prompt-row")}:has-text("${title}")`);
  await page.waitForFunction((t) => document.querySelector('[data-testid="prompt-title"]')?.value === t, title);
}

test("events: Copy puts the prompt's text on the clipboard and records prompt_copied; Mark as used records prompt_used", async () => {
  const page = await openApp(browser, server.url, {}, { permissions: ["clipboard-read", "clipboard-write"] });
  await openPrompt(page, "Blog post outline");
  await page.click(tid("prompt-copy"));
  await page.waitForFunction(() => window.__fake.callsOf("record_event").length === 1);
  assert.deepEqual(await reports(page), [{ event: "prompt_copied", prompt_id: "p1" }]);
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "Write a detailed outline\nfor a blog post\nabout dogs\nwith headings");
  await page.waitForSelector(`${tid("info-toast")}:has-text("Copied")`);
  const kept = await page.evaluate(() => window.__fake.events());
  assert.deepEqual(kept.map(({ event, prompt_id }) => ({ event, prompt_id })), [{ event: "prompt_copied", prompt_id: "p1" }]);

  await page.click(tid("prompt-mark-used"));
  await page.waitForFunction(() => window.__fake.callsOf("record_event").length === 2);
  assert.deepEqual((await reports(page)).pop(), { event: "prompt_used", prompt_id: "p1" });

  // A failed report is never the user's problem: no error shown, the copy still done.
  await openPrompt(page, "Code reviewer");
  await page.evaluate(() => window.__fake.failNext("record_event", "local_store", "disk full"));
  await page.click(tid("prompt-copy"));
  await page.waitForFunction(() => window.__fake.callsOf("record_event").length === 3);
  assert.deepEqual((await reports(page)).pop(), { event: "prompt_copied", prompt_id: "p2" });
  await page.waitForTimeout(100);
  assert.equal(await page.locator(tid("error-toast")).count(), 0);
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "Review this code");
  // A new prompt has nothing to copy yet.
  await page.click(tid("new-prompt"));
  await page.waitForSelector(tid("prompt-title"));
  assert.equal(await page.locator(tid("prompt-copy")).count(), 0);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("events: Copy works without the Clipboard API's permission (the older way)", async () => {
  const page = await openApp(browser, server.url);
  await page.evaluate(() => {
    Object.defineProperty(navigator, "clipboard", { value: { writeText: () => Promise.reject(new Error("denied")) }, configurable: true });
  });
  await openPrompt(page, "Email template");
  await page.click(tid("prompt-copy"));
  await page.waitForFunction(() => window.__fake.callsOf("record_event").length === 1);
  assert.deepEqual(await reports(page), [{ event: "prompt_copied", prompt_id: "p3" }]);
  assert.equal(await page.locator(tid("error-toast")).count(), 0);
  await page.closeAll();
});

test("events: a settled search records search_run with the query's length and the result count, never its text", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("search"));
  await page.keyboard.type("outline", { delay: 60 });
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "1 prompt");
  await page.waitForFunction(() => window.__fake.callsOf("record_event").length === 1, null, { timeout: 3000 });
  assert.deepEqual(await reports(page), [{ event: "search_run", collection: "prompts", query_length: 7, results: 1 }]);
  // Once per settled search, however many keys were typed, and nothing for a sync refetching it.
  await page.evaluate(() => window.__fake.emit("library-changed", null));
  await page.waitForTimeout(1200);
  assert.equal((await reports(page)).length, 1);
  // A search with no results counts too.
  await page.fill(tid("search"), "zzzz nothing");
  await page.waitForFunction(() => window.__fake.callsOf("record_event").length === 2, null, { timeout: 3000 });
  assert.deepEqual((await reports(page)).pop(), { event: "search_run", collection: "prompts", query_length: 12, results: 0 });

  // The marketplace's search, and opening a listing.
  await page.click(tid("nav-marketplace"));
  await page.fill(tid("market-search"), "poem");
  await page.waitForFunction(() => window.__fake.callsOf("record_event").length === 3, null, { timeout: 3000 });
  assert.deepEqual((await reports(page)).pop(), { event: "search_run", collection: "marketplace_listings", query_length: 4, results: 1 });
  await page.click(`${tid("listing-card")}:has-text("Poem generator") ${tid("listing-open")}`);
  await page.waitForSelector(tid("listing-detail"));
  assert.equal(await text(page, "listing-detail-description"), "Poems");
  await page.waitForFunction(() => window.__fake.callsOf("record_event").length === 4);
  assert.deepEqual((await reports(page)).pop(), { event: "listing_viewed", listing_id: "l2" });
  // Buying from the detail asks the usual confirmation.
  await page.click(tid("listing-detail-buy"));
  await page.waitForSelector(tid("confirm-dialog"));
  assert.equal(await text(page, "confirm-price"), "30 credits");
  await page.keyboard.press("Escape");

  const sent = JSON.stringify(await calls(page, "record_event"));
  for (const word of ["outline", "zzzz", "nothing", "poem"]) assert.ok(!sent.includes(word), `"${word}" never leaves the UI: ${sent}`);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("settings: usage analytics switched off is saved at once; retention days are checked and saved", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("nav-settings"));
  await page.waitForSelector(tid("settings-analytics"));
  assert.match(await text(page, "settings-analytics"), /Record usage events \(kept on this device and uploaded to your account; nothing is recorded when off\)/);
  assert.equal(await page.isChecked(tid("settings-analytics-enabled")), true);
  assert.equal(await page.inputValue(tid("settings-analytics-retention")), "90");

  await page.uncheck(tid("settings-analytics-enabled"));
  await page.waitForFunction(() => window.__fake.callsOf("save_settings").length === 1);
  let saved = (await calls(page, "save_settings")).pop().settings;
  assert.equal(saved.analytics_enabled, false);
  assert.equal(saved.analytics_retention_days, 90);
  assert.equal(saved.theme, "light", "the rest is saved as it was");

  await page.fill(tid("settings-analytics-retention"), "30");
  await page.press(tid("settings-analytics-retention"), "Tab");
  await page.waitForFunction(() => window.__fake.callsOf("save_settings").length === 2);
  saved = (await calls(page, "save_settings")).pop().settings;
  assert.deepEqual([saved.analytics_enabled, saved.analytics_retention_days], [false, 30]);

  await page.fill(tid("settings-analytics-retention"), "0");
  await page.press(tid("settings-analytics-retention"), "Enter");
  await page.waitForSelector(`${tid("error-toast")}:has-text("Keep usage events for 1 to 3650 days.")`);
  assert.equal(await page.inputValue(tid("settings-analytics-retention")), "30");
  assert.equal((await calls(page, "save_settings")).length, 2);

  // Off, the UI still reports (the app decides), and nothing is kept.
  await page.click(tid("nav-prompts"));
  await openPrompt(page, "Blog post outline");
  await page.click(tid("prompt-mark-used"));
  await page.waitForFunction(() => window.__fake.callsOf("record_event").length === 1);
  assert.deepEqual(await page.evaluate(() => window.__fake.events()), []);
  // Back on the settings screen, the saved choice shows.
  await page.click(tid("nav-settings"));
  await page.waitForSelector(tid("settings-analytics-enabled"));
  assert.equal(await page.isChecked(tid("settings-analytics-enabled")), false);
  assert.equal(await page.inputValue(tid("settings-analytics-retention")), "30");
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("a POSIX locale name as the browser's language (WebKitGTK under LANG=C) still opens the app and draws charts", async () => {
  // Intl rejects "C"; uPlot formats numbers with navigator.language as it loads.
  const posix = () => {
    Object.defineProperty(Navigator.prototype, "language", { get: () => "C", configurable: true });
    Object.defineProperty(Navigator.prototype, "languages", { get: () => ["C"], configurable: true });
  };
  const page = await openApp(browser, server.url, {}, {}, posix);
  await page.click(tid("nav-dashboards"));
  await page.waitForSelector(tid("dashboards-body"));
  const chart = await drawn(page, "most-used", await page.evaluate(() => document.documentElement.dataset.theme));
  assert.ok(chart.bars > 0, "bars drawn");
  assert.equal(await page.evaluate(() => navigator.language), "en-US", "fell back to a tag Intl accepts");
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});
