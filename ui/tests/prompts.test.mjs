import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, openApp, tid, calls } from "./helpers.mjs";

let server, browser;
const waitTotal = (page, text) =>
  page.waitForFunction((t) => document.querySelector('[data-testid="library-total"]').textContent === t, text);
before(async () => {
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test("first page renders, total shown, uiReady called once", async () => {
  const page = await openApp(browser, server.url);
  assert.equal(await page.textContent(tid("library-total")), "155 prompts");
  await page.waitForSelector(`${tid("prompt-row")}:has-text("Blog post outline")`);
  // Only the rows in view (plus a few) are in the DOM, not the whole first page.
  const shown = await page.locator(tid("prompt-row")).count();
  assert.ok(shown > 10 && shown < 60, `rendered ${shown} rows`);
  await page.waitForTimeout(200);
  assert.equal((await calls(page, "ui_ready")).length, 1);
  const first = (await calls(page, "list_documents")).filter((c) => c.collection === "prompts");
  assert.equal(first[0].query.limit, 100);
  assert.equal(first[0].query.offset, 0);
  assert.equal(first[0].query.is_template, undefined);
  // Scrolling to the end fetches the second page by offset and shows the last prompt.
  await page.locator(tid("prompt-list")).evaluate((el) => (el.scrollTop = el.scrollHeight));
  await page.waitForSelector(`${tid("prompt-row")}[data-index="154"]:has-text("Bulk prompt 0150")`);
  const offsets = (await calls(page, "list_documents")).filter((c) => c.collection === "prompts").map((c) => c.query.offset);
  assert.ok(offsets.includes(100));
  assert.ok((await page.locator(tid("prompt-row")).count()) < 60);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("windowed list: 20,000 prompts stay light, far rows fetched by offset", async () => {
  const page = await openApp(browser, server.url, { bulk: 20000 });
  assert.equal(await page.textContent(tid("library-total")), "20,005 prompts");
  await page.waitForSelector(tid("prompt-row"));
  const list = page.locator(tid("prompt-list"));
  const rowH = await page.locator(tid("prompt-row")).first().evaluate((el) => el.getBoundingClientRect().height);
  // The spacer is as tall as every row together, so the scroll bar is honest.
  const height = await list.evaluate((el) => el.scrollHeight);
  assert.equal(height, Math.round(rowH * 20005));
  // Jump far down: row 15,004 is bulk prompt 15,000 (five named prompts come first).
  await list.evaluate((el, y) => (el.scrollTop = y), rowH * 15004);
  const far = page.locator(`${tid("prompt-row")}[data-index="15004"]`);
  await far.waitFor();
  assert.match(await far.textContent(), /Bulk prompt 15000/);
  assert.ok((await page.locator(tid("prompt-row")).count()) < 200);
  // Scroll on a little, row by row, as a wheel would.
  for (let i = 0; i < 10; i++) {
    await list.evaluate((el) => (el.scrollTop += 400));
    await page.waitForTimeout(20);
  }
  await page.waitForSelector(`${tid("prompt-row")}[data-index="15079"]:has-text("Bulk prompt 15075")`);
  const rendered = await page.locator(tid("prompt-row")).count();
  assert.ok(rendered < 200, `rendered ${rendered} rows`);
  // Only the pages reached were fetched, by offset; never every page in between.
  const queries = (await calls(page, "list_documents")).filter((c) => c.collection === "prompts").map((c) => c.query);
  assert.ok(queries.every((q) => q.limit === 100));
  assert.ok(queries.some((q) => q.offset === 15000));
  assert.ok(queries.length < 10, `${queries.length} pages fetched`);
  // Clicking a far row opens it.
  await page.click(`${tid("prompt-row")}:has-text("Bulk prompt 15075")`);
  await page.waitForFunction(() => document.querySelector('[data-testid="prompt-title"]')?.value === "Bulk prompt 15075");
  // Back to the top: the first page is still cached (no new fetch for offset 0).
  const before = queries.length;
  await list.evaluate((el) => (el.scrollTop = 0));
  await page.waitForSelector(`${tid("prompt-row")}[data-index="0"]:has-text("Blog post outline")`);
  const after = (await calls(page, "list_documents")).filter((c) => c.collection === "prompts").length;
  assert.equal(after, before);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("create, edit with Ctrl+S, search and filter", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("new-prompt"));
  await page.fill(tid("prompt-title"), "My shiny prompt");
  await page.fill(tid("prompt-content"), "Line one\nLine two");
  await page.fill(tid("prompt-tags"), "alpha, beta");
  await page.fill(tid("prompt-temperature"), "0.7");
  await page.fill(tid("prompt-model"), "gpt-4o");
  await page.click(tid("prompt-save"));
  await page.waitForSelector(tid("prompt-history"));
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "156 prompts");
  const created = await page.evaluate(() => window.__fake.db.prompts.find((p) => p.title === "My shiny prompt"));
  assert.deepEqual(created.tags, ["alpha", "beta"]);
  assert.equal(created.ai_metadata.parameters.temperature, 0.7);
  assert.equal(created.ai_metadata.parameters.model, "gpt-4o");
  assert.equal(await page.locator(tid("prompt-row")).first().textContent().then((t) => t.includes("My shiny prompt")), true);

  // Edit and save with the keyboard.
  await page.fill(tid("prompt-title"), "My shinier prompt");
  await page.selectOption(tid("prompt-status"), "active");
  await page.keyboard.press("Control+s");
  await page.waitForSelector(tid("unsaved"), { state: "detached" });
  const upd = await calls(page, "update_document");
  const last = upd[upd.length - 1];
  assert.deepEqual(last.changes, { title: "My shinier prompt", status: "active" });
  await page.waitForSelector(`${tid("prompt-row")}:has-text("My shinier prompt")`);

  // Search (debounced) narrows the list.
  await page.fill(tid("search"), "code rev");
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "1 prompt");
  assert.equal(await page.locator(tid("prompt-row")).count(), 1);
  assert.match(await page.locator(tid("prompt-row")).textContent(), /Code reviewer/);
  await page.fill(tid("search"), "");
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "156 prompts");

  // Filters: category, status, visibility, folder, project, difficulty, tags.
  await page.click(tid("toggle-filters"));
  await page.fill(tid("filter-category"), "writing");
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "2 prompts");
  await page.selectOption(tid("filter-visibility"), "public");
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "1 prompt");
  assert.match(await page.locator(tid("prompt-row")).textContent(), /Email template/);
  await page.click(tid("clear-filters"));
  await waitTotal(page, "156 prompts");
  await page.selectOption(tid("filter-project"), "proj1");
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "1 prompt");
  assert.match(await page.locator(tid("prompt-row")).textContent(), /Code reviewer/);
  await page.click(tid("clear-filters"));
  await waitTotal(page, "156 prompts");
  await page.fill(tid("filter-folder"), "social");
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "1 prompt");
  assert.match(await page.locator(tid("prompt-row")).textContent(), /Tweet writer/);
  await page.click(tid("clear-filters"));
  await waitTotal(page, "156 prompts");
  await page.selectOption(tid("filter-difficulty"), "advanced");
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "1 prompt");
  await page.click(tid("clear-filters"));
  await waitTotal(page, "156 prompts");
  await page.fill(tid("filter-tags"), "blog, seo");
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "1 prompt");
  const q = (await calls(page, "list_documents")).filter((c) => c.collection === "prompts").pop().query;
  assert.deepEqual(q.tags, ["blog", "seo"]);
  await page.click(tid("clear-filters"));
  await waitTotal(page, "156 prompts");
  await page.selectOption(tid("filter-status"), "active");
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "4 prompts");
  await page.closeAll();
});

test("trash: delete moves to trash, restore brings back", async () => {
  const page = await openApp(browser, server.url);
  await page.click(`${tid("prompt-row")}:has-text("Tweet writer")`);
  await page.click(tid("prompt-delete"));
  await page.click(tid("confirm-ok"));
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "154 prompts");
  await page.check(tid("filter-trash"));
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "2 prompts in trash");
  const rows = await page.locator(tid("prompt-row")).allTextContents();
  assert.ok(rows.some((r) => r.includes("Tweet writer")));
  await page.click(`${tid("prompt-row")}:has-text("Tweet writer") ${tid("restore-prompt")}`);
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "1 prompt in trash");
  await page.uncheck(tid("filter-trash"));
  await page.waitForFunction(() => document.querySelector('[data-testid="library-total"]').textContent === "155 prompts");
  await page.closeAll();
});

test("history: diff between any two versions, then restore", async () => {
  const page = await openApp(browser, server.url);
  await page.click(`${tid("prompt-row")}:has-text("Blog post outline")`);
  await page.click(tid("prompt-history"));
  await page.waitForSelector(tid("version-row"));
  const rows = await page.locator(tid("version-row")).allTextContents();
  assert.equal(rows.length, 3);
  assert.match(rows[0], /v3/);
  assert.match(rows[2], /v1/);
  // The latest version is the current one, whatever the sync revision is.
  assert.equal(await page.locator(tid("version-current")).count(), 1);
  assert.equal(await page.locator(tid("version-row")).nth(0).locator(tid("version-current")).count(), 1);
  // Default: v2 -> v3.
  const strip = (t) => t.map((x) => x.replace(/^\d*/, ""));
  assert.deepEqual(strip(await page.locator(tid("diff-del")).allTextContents()), ["−Write an outline"]);
  assert.deepEqual(strip(await page.locator(tid("diff-add")).allTextContents()), ["+Write a detailed outline", "+with headings"]);
  // Pick v1 as A, v2 as B.
  await page.locator(tid("version-row")).nth(2).locator(tid("version-a")).check();
  await page.locator(tid("version-row")).nth(1).locator(tid("version-b")).check();
  const dels = await page.locator(tid("diff-del")).allTextContents();
  const adds = await page.locator(tid("diff-add")).allTextContents();
  assert.equal(dels.length, 1);
  assert.equal(adds.length, 1);
  assert.match(dels[0], /about cats/);
  assert.match(adds[0], /about dogs/);
  assert.equal(await page.locator(tid("diff-same")).count(), 2);
  // Restore v1.
  await page.locator(tid("version-row")).nth(2).locator(tid("version-restore")).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="version-row"]').length === 4);
  assert.deepEqual(await calls(page, "restore_prompt_version"), [{ promptId: "p1", number: 1 }]);
  assert.match(await page.locator(tid("version-row")).nth(0).textContent(), /v4.*current/);
  await page.keyboard.press("Escape");
  await page.waitForSelector(tid("history-dialog"), { state: "detached" });
  assert.equal(await page.inputValue(tid("prompt-content")), "Write an outline\nfor a blog post\nabout cats");
  await page.closeAll();
});

test("editing content creates a version", async () => {
  const page = await openApp(browser, server.url);
  await page.click(`${tid("prompt-row")}:has-text("Code reviewer")`);
  await page.fill(tid("prompt-content"), "Review this code\ncarefully");
  await page.click(tid("prompt-save"));
  await page.waitForSelector(tid("unsaved"), { state: "detached" });
  await page.click(tid("prompt-history"));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="version-row"]').length === 2);
  assert.match(await page.locator(tid("version-row")).first().textContent(), /v2/);
  assert.match(await page.locator(tid("diff-add")).first().textContent(), /carefully/);
  await page.closeAll();
});

test("a sync that changes the open prompt never overwrites unsaved text", async () => {
  const page = await openApp(browser, server.url);
  await page.click(`${tid("prompt-row")}:has-text("Code reviewer")`);
  await page.fill(tid("prompt-content"), "My unsaved words");
  // Another device's edit arrives through sync.
  await page.evaluate(() => {
    const p = window.__fake.db.prompts.find((x) => x.title === "Code reviewer");
    p.title = "Code reviewer (edited elsewhere)";
    p.version += 1;
    window.__fake.emit("library-changed", null);
  });
  await page.waitForSelector(tid("changed-elsewhere"));
  assert.match(await page.textContent(tid("changed-elsewhere")), /edited elsewhere/);
  assert.equal(await page.inputValue(tid("prompt-content")), "My unsaved words");
  // Discarding shows theirs.
  await page.click(tid("changed-elsewhere-discard"));
  await page.waitForSelector(tid("changed-elsewhere"), { state: "detached" });
  assert.equal(await page.inputValue(tid("prompt-title")), "Code reviewer (edited elsewhere)");
  // Without unsaved edits, a change simply shows.
  await page.evaluate(() => {
    const p = window.__fake.db.prompts.find((x) => x.title === "Code reviewer (edited elsewhere)");
    p.title = "Code reviewer, third take";
    p.version += 1;
    window.__fake.emit("library-changed", null);
  });
  await page.waitForFunction(() => document.querySelector('[data-testid="prompt-title"]').value === "Code reviewer, third take");
  assert.equal(await page.locator(tid("changed-elsewhere")).count(), 0);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("fork shows forked-from link; templates filter and new from template", async () => {
  const page = await openApp(browser, server.url);
  await page.click(`${tid("prompt-row")}:has-text("Code reviewer")`);
  await page.click(tid("prompt-fork"));
  await page.waitForFunction(() => /forked from “Code reviewer”/.test(document.querySelector('[data-testid="forked-from"]')?.textContent ?? ""));
  assert.equal(await page.inputValue(tid("prompt-title")), "Code reviewer (fork)");
  assert.equal((await calls(page, "fork_prompt"))[0].promptId, "p2");
  await page.click(tid("forked-from"));
  await page.waitForFunction(() => document.querySelector('[data-testid="prompt-title"]')?.value === "Code reviewer");

  await page.check(tid("filter-templates"));
  await waitTotal(page, "2 templates");
  // Server-side: is_template, paged like any list; templates others own are included.
  const tq = (await calls(page, "list_documents")).filter((c) => c.collection === "prompts").pop().query;
  assert.equal(tq.is_template, true);
  assert.equal(tq.mine, undefined);
  assert.equal(tq.limit, 100);
  const rows = await page.locator(tid("prompt-row")).allTextContents();
  assert.equal(rows.length, 2);
  assert.ok(rows.some((r) => r.includes("Email template")));
  assert.ok(rows.some((r) => r.includes("Support reply template")), "a template someone else owns is listed");
  assert.ok(rows.every((r) => r.includes("template")));
  await page.uncheck(tid("filter-templates"));
  await waitTotal(page, "156 prompts");

  await page.click(tid("new-from-template"));
  await page.waitForSelector(tid("template-option"));
  assert.deepEqual(
    (await page.locator(tid("template-option")).allTextContents()).map((t) => t.split(" ")[0]),
    ["Email", "Support"],
  );
  const pq = (await calls(page, "list_documents")).filter((c) => c.collection === "prompts").pop().query;
  assert.equal(pq.is_template, true);
  assert.equal(pq.offset, 0);
  await page.fill(tid("template-search"), "support");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="template-option"]').length === 1);
  await page.fill(tid("template-search"), "");
  await page.click(`${tid("template-option")}:has-text("Email template")`);
  await page.waitForFunction(() => document.querySelector('[data-testid="prompt-title"]')?.value === "Email template (from template)");
  const fork = (await calls(page, "fork_prompt")).pop();
  assert.equal(fork.promptId, "p3");
  assert.equal(fork.changes.is_template, false);
  // The link first says "another prompt" and names the parent once its title has loaded.
  await page.waitForFunction(() => /Email template/.test(document.querySelector('[data-testid="forked-from"]')?.textContent ?? ""));
  await page.closeAll();
});

test("empty library says what to do", async () => {
  const page = await openApp(browser, server.url, { empty: true, bulk: 0 });
  assert.equal(await page.textContent(tid("library-total")), "0 prompts");
  assert.match(await page.textContent(tid("prompts-empty")), /No prompts yet — press Ctrl\+N/);
  await page.closeAll();
});

test("an error is shown in words and can be dismissed", async () => {
  const page = await openApp(browser, server.url);
  await page.click(`${tid("prompt-row")}:has-text("Code reviewer")`);
  await page.evaluate(() => window.__fake.failNext("update_document", "storage_full", "The disk is full, so the change was not saved."));
  await page.fill(tid("prompt-title"), "Changed");
  await page.click(tid("prompt-save"));
  const toast = page.locator(tid("error-toast"));
  await toast.waitFor();
  assert.match(await toast.textContent(), /The disk is full, so the change was not saved\./);
  assert.doesNotMatch(await toast.textContent(), /storage_full/);
  await page.click(tid("toast-dismiss"));
  await toast.waitFor({ state: "detached" });
  await page.closeAll();
});

// Presence and soft locks on the open prompt.
const presenceCalls = (page) => calls(page, "set_presence");
const waitCalls = (page, cmd, n) => page.waitForFunction(([c, k]) => window.__fake.callsOf(c).length >= k, [cmd, n]);
const hhmmIn = (page, ms) =>
  page.evaluate((t) => {
    const d = new Date(t);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }, ms);
const openCodeReviewer = async (page) => {
  await page.click(`${tid("prompt-row")}:has-text("Code reviewer")`);
  await waitCalls(page, "set_presence", 1);
};

test("presence: set on open, on the unsaved flip (not per keystroke), cleared on switch and close", async () => {
  const page = await openApp(browser, server.url);
  await openCodeReviewer(page);
  assert.deepEqual(await presenceCalls(page), [{ promptId: "p2", editing: false }]);
  // Typing: one call when the edits become unsaved, none per key.
  await page.locator(tid("prompt-content")).pressSequentially(" with care", { delay: 10 });
  await waitCalls(page, "set_presence", 2);
  await page.waitForTimeout(150);
  assert.deepEqual(await presenceCalls(page), [
    { promptId: "p2", editing: false },
    { promptId: "p2", editing: true },
  ]);
  // Saving ends the editing.
  await page.click(tid("prompt-save"));
  await page.waitForSelector(tid("unsaved"), { state: "detached" });
  await waitCalls(page, "set_presence", 3);
  assert.deepEqual((await presenceCalls(page))[2], { promptId: "p2", editing: false });
  // Switching: the old one is closed first, then the new one opened.
  await page.click(`${tid("prompt-row")}:has-text("Email template")`);
  await waitCalls(page, "set_presence", 5);
  assert.deepEqual((await presenceCalls(page)).slice(3), [
    { promptId: null, editing: false },
    { promptId: "p3", editing: false },
  ]);
  assert.deepEqual(await page.evaluate(() => window.__fake.presenceOpen()), { promptId: "p3", editing: false });
  // A new, unsaved prompt is nobody's business: closed, and nothing opened.
  await page.click(tid("new-prompt"));
  await waitCalls(page, "set_presence", 6);
  await page.fill(tid("prompt-title"), "Fresh");
  await page.waitForTimeout(150);
  assert.deepEqual((await presenceCalls(page)).slice(5), [{ promptId: null, editing: false }]);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("presence: leaving the prompts screen says the prompt is closed", async () => {
  const page = await openApp(browser, server.url);
  await openCodeReviewer(page);
  await page.click(tid("nav-ideas"));
  await waitCalls(page, "set_presence", 2);
  assert.deepEqual((await presenceCalls(page))[1], { promptId: null, editing: false });
  await page.closeAll();
});

test("presence strip: others on the open prompt, other prompts ignored, null hides", async () => {
  const page = await openApp(browser, server.url);
  await openCodeReviewer(page);
  assert.equal(await page.locator(tid("presence")).count(), 0);
  await page.evaluate(() =>
    window.__fake.presence({
      prompt_id: "p2",
      others: [
        { user_id: "user-7", name: "Ada L.", editing: true, same_user: false },
        { user_id: "user-8", name: "Grace", editing: false, same_user: false },
      ],
      lock: null,
    }),
  );
  await page.waitForSelector(tid("presence"));
  assert.match(await page.textContent(tid("presence")), /Also here: Ada L\. \(typing\), Grace$/);
  assert.equal(await page.locator(tid("lock-badge")).count(), 0);
  // News about another prompt changes nothing here.
  await page.evaluate(() =>
    window.__fake.presence({ prompt_id: "p1", others: [{ user_id: "user-9", name: "Linus", editing: false, same_user: false }], lock: null }),
  );
  await page.waitForTimeout(150);
  assert.match(await page.textContent(tid("presence")), /Ada L\. \(typing\), Grace/);
  assert.doesNotMatch(await page.textContent(tid("presence")), /Linus/);
  // The same account on another device.
  await page.evaluate(() =>
    window.__fake.presence({ prompt_id: "p2", others: [{ user_id: "user-1", name: "Ada", editing: true, same_user: true }], lock: null }),
  );
  await page.waitForFunction(() => /you on another device \(typing\)/.test(document.querySelector('[data-testid="presence"]')?.textContent ?? ""));
  // Nobody else: hidden; and a null view hides it too.
  await page.evaluate(() => window.__fake.presence({ prompt_id: "p2", others: [], lock: null }));
  await page.waitForSelector(tid("presence"), { state: "detached" });
  await page.evaluate(() =>
    window.__fake.presence({ prompt_id: "p2", others: [{ user_id: "user-8", name: "Grace", editing: false, same_user: false }], lock: null }),
  );
  await page.waitForSelector(tid("presence"));
  await page.evaluate(() => window.__fake.emit("presence", null));
  await page.waitForSelector(tid("presence"), { state: "detached" });
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("someone else's lock: badge with their name, toggle disabled, saving still works", async () => {
  const page = await openApp(browser, server.url);
  await openCodeReviewer(page);
  assert.equal(await page.textContent(tid("lock-toggle")), "Lock for 15 min");
  const until = Date.now() + 10 * 60000;
  await page.evaluate(
    (u) =>
      window.__fake.presence({
        prompt_id: "p2",
        others: [{ user_id: "user-8", name: "Grace", editing: true, same_user: false }],
        lock: { user_id: "user-8", name: "Grace", mine: false, until_ms: u },
      }),
    until,
  );
  await page.waitForSelector(tid("lock-badge"));
  const time = await hhmmIn(page, until);
  assert.equal(await page.textContent(tid("lock-badge")), `Locked by Grace until ${time} — you can still edit; your changes will merge`);
  assert.equal(await page.isDisabled(tid("lock-toggle")), true);
  assert.match(await page.getAttribute(tid("lock-toggle"), "title"), /Grace holds the soft lock/);
  // Editing and saving are not blocked.
  await page.fill(tid("prompt-content"), "Review this code, Grace permitting");
  await page.click(tid("prompt-save"));
  await page.waitForSelector(tid("unsaved"), { state: "detached" });
  const upd = await calls(page, "update_document");
  assert.deepEqual(upd[upd.length - 1], { collection: "prompts", id: "p2", changes: { content: "Review this code, Grace permitting" } });
  assert.equal(await page.locator(tid("error-toast")).count(), 0);
  assert.equal(await page.locator(tid("lock-badge")).count(), 1);
  assert.equal((await calls(page, "lock_prompt")).length, 0);
  await page.closeAll();
});

test("a lock disappears by itself once it lapses", async () => {
  const page = await openApp(browser, server.url);
  await openCodeReviewer(page);
  await page.evaluate(() =>
    window.__fake.presence({ prompt_id: "p2", others: [], lock: { user_id: "user-8", name: "Grace", mine: false, until_ms: Date.now() + 1500 } }),
  );
  await page.waitForSelector(tid("lock-badge"));
  assert.equal(await page.isDisabled(tid("lock-toggle")), true);
  const t0 = Date.now();
  await page.waitForSelector(tid("lock-badge"), { state: "detached", timeout: 5000 });
  assert.ok(Date.now() - t0 > 800, "not before it lapsed");
  assert.equal(await page.isDisabled(tid("lock-toggle")), false);
  assert.equal(await page.textContent(tid("lock-toggle")), "Lock for 15 min");
  await page.closeAll();
});

test("taking and releasing the lock; a refused lock says why", async () => {
  const page = await openApp(browser, server.url);
  await openCodeReviewer(page);
  await page.click(tid("lock-toggle"));
  await page.waitForSelector(tid("lock-badge"));
  assert.deepEqual(await calls(page, "lock_prompt"), [{ lockSecs: 900 }]);
  assert.match(await page.textContent(tid("lock-badge")), /^You hold the soft lock until \d\d:\d\d$/);
  const until = await page.evaluate(() => Date.now() + 900000);
  const want = await hhmmIn(page, until);
  const shown = (await page.textContent(tid("lock-badge"))).slice(-5);
  assert.ok(shown === want || shown === (await hhmmIn(page, until - 60000)), `${shown} vs ${want}`);
  assert.equal(await page.textContent(tid("lock-toggle")), "Release lock");
  await page.click(tid("lock-toggle"));
  await page.waitForSelector(tid("lock-badge"), { state: "detached" });
  assert.deepEqual(await calls(page, "lock_prompt"), [{ lockSecs: 900 }, { lockSecs: null }]);
  assert.equal(await page.textContent(tid("lock-toggle")), "Lock for 15 min");
  // Offline: the message is shown; the editor goes on as before.
  await page.evaluate(() => window.__fake.failNext("lock_prompt", "offline", "The sync server cannot be reached."));
  await page.click(tid("lock-toggle"));
  const toast = page.locator(tid("error-toast"));
  await toast.waitFor();
  assert.match(await toast.textContent(), /Locks need the sync server: The sync server cannot be reached\. Your edits are not affected\./);
  assert.equal(await page.locator(tid("lock-badge")).count(), 0);
  assert.equal(await page.isDisabled(tid("lock-toggle")), false);
  await page.fill(tid("prompt-title"), "Code reviewer, offline");
  await page.click(tid("prompt-save"));
  await page.waitForSelector(tid("unsaved"), { state: "detached" });
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("signed out: no lock button, presence still told", async () => {
  const page = await openApp(browser, server.url, { signedIn: false });
  await openCodeReviewer(page);
  assert.deepEqual(await presenceCalls(page), [{ promptId: "p2", editing: false }]);
  assert.equal(await page.locator(tid("lock-toggle")).count(), 0);
  await page.closeAll();
});
