// Shared test plumbing: a static server for dist/, Chromium via playwright-core,
// and a page with the fake Tauri back end injected before the app loads.
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = fileURLToPath(new URL(".", import.meta.url));
const dist = join(here, "..", "dist");
const FAKE = join(here, "fake-backend.js");
// The sync server's side of teams and sharing, which fake-backend.js picks up (so injected first).
const FAKE_SERVER = join(here, "fake-server.js");
// The dashboards' numbers and the usage events, which fake-backend.js picks up too.
const FAKE_INSIGHTS = join(here, "fake-insights.js");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json" };

export async function startServer() {
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://x");
      let path = normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, "");
      if (path === "/" || path === "") path = "/index.html";
      const file = join(dist, path);
      if (!file.startsWith(dist)) throw new Error("outside");
      await stat(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] || "application/octet-stream" });
      res.end(await readFile(file));
    } catch {
      res.writeHead(404);
      res.end("not found");
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) };
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** A fresh page running the app against a fresh fake back end; `init` runs
 * in the page before anything else (to set up the browser's environment). */
export async function openApp(browser, baseUrl, options = {}, contextOptions = {}, init = null) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, ...contextOptions });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  if (init) await page.addInitScript(init);
  await page.addInitScript((o) => {
    window.__FAKE_OPTIONS__ = o;
  }, options);
  await page.addInitScript({ path: FAKE_SERVER });
  await page.addInitScript({ path: FAKE_INSIGHTS });
  await page.addInitScript({ path: FAKE });
  await page.goto(baseUrl);
  await page.waitForSelector('[data-testid="library-total"]:not(:has-text("…"))');
  page.errors = errors;
  page.closeAll = () => context.close();
  return page;
}

export const tid = (id) => `[data-testid="${id}"]`;

export async function calls(page, cmd) {
  return page.evaluate((c) => window.__fake.callsOf(c), cmd);
}
