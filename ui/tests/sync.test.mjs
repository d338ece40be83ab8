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

const text = (page, id) => page.textContent(tid(id));

test("sync indicator: up to date, offline, syncing with progress, error", async () => {
  const page = await openApp(browser, server.url);
  assert.match(await text(page, "sync-indicator"), /Up to date/);
  assert.match(await text(page, "pending-count"), /^2 pending$/);
  assert.match(await text(page, "last-synced"), /Last synced 2 min ago/);
  assert.match(await text(page, "conflicts-button"), /3/);
  assert.match(await text(page, "attention-button"), /2/);

  await page.evaluate(() => window.__fake.setStatus({ state: "offline", reason: "No network" }));
  await page.waitForFunction(() => document.querySelector('[data-testid="sync-indicator"]').textContent === "Offline");
  assert.equal(await page.getAttribute(tid("sync-indicator"), "title"), "Offline: No network");

  await page.evaluate(() => window.__fake.setStatus({ state: "syncing", phase: "push", done: 3, total: 12, pending: 9 }));
  await page.waitForSelector(tid("sync-progress"));
  assert.match(await text(page, "sync-indicator"), /Syncing 3\/12/);
  assert.equal(await page.getAttribute(`${tid("sync-progress")} [role="progressbar"]`, "aria-valuenow"), "25");
  assert.equal(await text(page, "pending-count"), "9 pending");

  await page.evaluate(() => window.__fake.setStatus({ state: "up_to_date", pending: 0, last_synced_at: { $date: new Date().toISOString() } }));
  await page.waitForFunction(() => document.querySelector('[data-testid="sync-indicator"]').textContent === "Up to date");
  assert.equal(await page.locator(tid("sync-progress")).count(), 0);
  assert.equal(await text(page, "last-synced"), "Last synced just now");

  // With the live channel open, up to date reads "Live".
  await page.evaluate(() => window.__fake.setStatus({ live: true }));
  await page.waitForFunction(() => document.querySelector('[data-testid="sync-indicator"]').textContent === "Live");
  await page.evaluate(() => window.__fake.setStatus({ live: false }));

  await page.evaluate(() => window.__fake.setStatus({ state: "error", code: "server_down", message: "The server is not answering.", retrying: true }));
  await page.waitForFunction(() => document.querySelector('[data-testid="sync-indicator"]').textContent.includes("The server is not answering."));
  assert.doesNotMatch(await text(page, "sync-indicator"), /server_down/);
  await page.closeAll();
});

test("local only when not signed in", async () => {
  const page = await openApp(browser, server.url, { signedIn: false, status: { state: "idle", pending: 0 } });
  await page.waitForFunction(() => document.querySelector('[data-testid="sync-indicator"]').textContent === "Local only");
  assert.equal(await page.locator(tid("error-toast")).count(), 0);
  await page.closeAll();
});

test("library-changed refetches the current view", async () => {
  const page = await openApp(browser, server.url);
  await page.evaluate(() => {
    const p = JSON.parse(JSON.stringify(window.__fake.db.prompts[0]));
    p._id = "synced1";
    p.title = "Arrived by sync";
    p.updated_at = { $date: "2030-01-01T00:00:00Z" };
    window.__fake.db.prompts.push(p);
    window.__fake.emit("library-changed", null);
  });
  await page.waitForSelector(`${tid("prompt-row")}:has-text("Arrived by sync")`);
  assert.equal(await text(page, "library-total"), "156 prompts");
  await page.closeAll();
});

test("conflicts panel: mine vs theirs; each button resolves with its value", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("conflicts-button"));
  await page.waitForSelector(tid("conflict-row"));
  assert.equal(await page.locator(tid("conflict-row")).count(), 3);
  // Each conflict names its document by title (fetched), the id beside it.
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="conflict-doc"]')].map((e) => e.textContent).join("|") === "“Blog post outline”|“Recipe chatbot”|“Code reviewer”");
  const first = page.locator(tid("conflict-row")).first();
  assert.match(await first.textContent(), /p1/);
  assert.equal(await first.locator(tid("conflict-field")).textContent(), "title");
  assert.equal(await first.locator(tid("conflict-mine")).textContent(), "My title");
  assert.equal(await first.locator(tid("conflict-theirs")).textContent(), "Their title");
  await first.locator(tid("keep-mine")).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="conflict-row"]').length === 2);
  await page.locator(tid("conflict-row")).first().locator(tid("keep-theirs")).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="conflict-row"]').length === 1);
  await page.locator(tid("conflict-row")).first().locator(tid("keep-both")).click();
  await page.waitForSelector(`${tid("conflicts-panel")} ${tid("empty")}`);
  assert.deepEqual(await calls(page, "resolve_conflict"), [
    { id: "c1", resolution: "keep_mine" },
    { id: "c2", resolution: "keep_theirs" },
    { id: "c3", resolution: "keep_both" },
  ]);
  assert.equal(await page.locator(tid("conflicts-badge")).count(), 0);
  await page.keyboard.press("Escape");
  await page.waitForSelector(tid("conflicts-panel"), { state: "detached" });
  await page.closeAll();
});

test("attention panel: retry and dismiss", async () => {
  const page = await openApp(browser, server.url);
  // The idea of the second item is gone: its id stands in for the title.
  await page.evaluate(() => {
    const ideas = window.__fake.db.ideas;
    ideas.splice(ideas.findIndex((i) => i._id === "i2"), 1);
  });
  await page.click(tid("attention-button"));
  await page.waitForSelector(tid("attention-row"));
  await page.waitForFunction(() => document.querySelector('[data-testid="attention-doc"]')?.textContent === "“Code reviewer”");
  assert.equal(await page.locator(tid("attention-row")).nth(1).locator(tid("attention-doc")).textContent(), "i2");
  const gets = (await calls(page, "get_document")).map((g) => g.collection + "/" + g.id);
  assert.ok(gets.includes("prompts/p2") && gets.includes("ideas/i2"));
  assert.match(await page.locator(tid("attention-row")).first().textContent(), /The title is longer than 200 characters\./);
  await page.locator(tid("attention-row")).first().locator(tid("attention-retry")).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="attention-row"]').length === 1);
  await page.locator(tid("attention-row")).first().locator(tid("attention-dismiss")).click();
  await page.waitForSelector(`${tid("attention-panel")} ${tid("empty")}`);
  assert.deepEqual(await calls(page, "settle_attention"), [
    { mutationId: 7, retry: true },
    { mutationId: 8, retry: false },
  ]);
  assert.equal(await page.locator(tid("attention-badge")).count(), 0);
  await page.closeAll();
});

test("keyboard shortcuts", async () => {
  const page = await openApp(browser, server.url);
  // Ctrl+1..7 switch screens.
  await page.keyboard.press("Control+2");
  await page.waitForSelector(tid("idea-board"));
  await page.keyboard.press("Control+4");
  await page.waitForSelector(tid("market-tab-browse"));
  await page.keyboard.press("Control+5");
  await page.waitForSelector(tid("unread-count"));
  await page.keyboard.press("Control+6");
  await page.waitForSelector(tid("settings-theme"));
  await page.keyboard.press("Control+7");
  await page.waitForSelector(tid("profile-name"));
  await page.keyboard.press("Control+1");
  await page.waitForSelector(tid("search"));
  // "/" and Ctrl+F focus search.
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press("/");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), "search");
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press("Control+f");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), "search");
  // Ctrl+N opens a new prompt, Ctrl+S saves it.
  await page.keyboard.press("Control+n");
  await page.waitForFunction(() => document.activeElement?.dataset.testid === "prompt-title");
  await page.keyboard.type("Keyboard prompt");
  await page.fill(tid("prompt-content"), "typed");
  await page.keyboard.press("Control+s");
  await page.waitForSelector(`${tid("prompt-row")}:has-text("Keyboard prompt")`);
  // Ctrl+Shift+S syncs now.
  await page.keyboard.press("Control+Shift+S");
  await page.waitForFunction(() => window.__fake.callsOf("sync_now").length === 1);
  // "?" opens the sheet, Escape closes it.
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press("Shift+?");
  await page.waitForSelector(tid("shortcuts-sheet"));
  await page.keyboard.press("Escape");
  await page.waitForSelector(tid("shortcuts-sheet"), { state: "detached" });
  await page.closeAll();
});

test("sync now button", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("sync-now"));
  await page.waitForFunction(() => window.__fake.callsOf("sync_now").length === 1);
  await page.closeAll();
});
