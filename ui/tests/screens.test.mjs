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

test("ideas board: columns, status change, star toggle, edit and links", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("nav-ideas"));
  await page.waitForSelector(tid("idea-card"));
  for (const s of ["raw", "reviewed", "developing", "testing", "implemented", "abandoned"]) {
    assert.equal(await page.locator(tid("idea-column-" + s)).count(), 1);
  }
  const raw = page.locator(tid("idea-column-raw"));
  assert.match(await raw.locator(tid("idea-card")).textContent(), /Recipe chatbot/);
  assert.match(await raw.locator(tid("idea-priority")).textContent(), /high/);
  // Star it.
  await raw.locator(tid("idea-star")).click();
  await page.waitForSelector(`${tid("idea-column-raw")} ${tid("idea-star")}[aria-pressed="true"]`);
  // Move it to testing.
  await raw.locator(tid("idea-status")).selectOption("testing");
  await page.waitForSelector(`${tid("idea-column-testing")} ${tid("idea-card")}:has-text("Recipe chatbot")`);
  assert.equal(await page.locator(`${tid("idea-column-raw")} ${tid("idea-card")}`).count(), 0);
  const upd = await calls(page, "update_document");
  assert.deepEqual(upd.map((u) => u.changes), [{ starred: true }, { status: "testing" }]);
  // Or drag it to another column.
  await page.dragAndDrop(`${tid("idea-column-testing")} ${tid("idea-card")}:has-text("Recipe chatbot")`, tid("idea-column-developing"));
  await page.waitForSelector(`${tid("idea-column-developing")} ${tid("idea-card")}:has-text("Recipe chatbot")`);
  assert.equal(await page.locator(`${tid("idea-column-testing")} ${tid("idea-card")}`).count(), 0);
  assert.deepEqual((await calls(page, "update_document")).pop().changes, { status: "developing" });
  await page.locator(`${tid("idea-column-developing")} ${tid("idea-card")}:has-text("Recipe chatbot") ${tid("idea-status")}`).selectOption("testing");
  await page.waitForSelector(`${tid("idea-column-testing")} ${tid("idea-card")}:has-text("Recipe chatbot")`);
  // Starred filter.
  await page.check(tid("idea-starred-filter"));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="idea-card"]').length === 2);
  await page.uncheck(tid("idea-starred-filter"));
  // Edit: related prompt link goes to the prompt.
  await page.click(`${tid("idea-open")}:has-text("Recipe chatbot")`);
  await page.waitForSelector(`${tid("idea-related-link")}:has-text("Blog post outline")`);
  await page.fill(tid("idea-title"), "Recipe chatbot v2");
  await page.click(tid("idea-save"));
  await page.waitForSelector(`${tid("idea-card")}:has-text("Recipe chatbot v2")`);
  await page.click(`${tid("idea-open")}:has-text("Recipe chatbot v2")`);
  await page.click(tid("idea-related-link"));
  await page.waitForFunction(() => document.querySelector('[data-testid="prompt-title"]')?.value === "Blog post outline");
  // New idea with Ctrl+N.
  await page.click(tid("nav-ideas"));
  await page.waitForSelector(tid("idea-card"));
  await page.keyboard.press("Control+n");
  await page.fill(tid("idea-title"), "Fresh idea");
  await page.fill(tid("idea-description"), "Something new");
  await page.click(tid("idea-save"));
  await page.waitForSelector(`${tid("idea-column-raw")} ${tid("idea-card")}:has-text("Fresh idea")`);
  await page.closeAll();
});

test("projects: detail with prompts, ideas, progress and milestones", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("nav-projects"));
  await page.click(`${tid("project-row")}:has-text("Launch kit")`);
  await page.waitForSelector(tid("project-detail"));
  assert.match(await page.textContent(tid("project-progress-text")), /50% done/);
  await page.waitForSelector(`${tid("project-prompt")}:has-text("Code reviewer")`);
  await page.waitForSelector(`${tid("project-idea")}:has-text("Recipe chatbot")`);
  assert.equal(await page.locator(tid("milestone")).count(), 2);
  // Tick "Review" done -> 100%.
  await page.locator(tid("milestone")).nth(1).locator(tid("milestone-done")).check();
  await page.waitForFunction(() => document.querySelector('[data-testid="project-progress-text"]').textContent.startsWith("100%"));
  await page.waitForFunction(() => window.__fake.db.projects.find((p) => p._id === "proj1").timeline.milestones[1].completed);
  let proj = await page.evaluate(() => window.__fake.db.projects.find((p) => p._id === "proj1"));
  assert.equal(proj.timeline.milestones[1].completed, true);
  assert.ok(proj.timeline.milestones[1].completed_at.$date);
  // Add a milestone -> 67%.
  await page.fill(tid("milestone-new"), "Ship it");
  await page.click(tid("milestone-add"));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="milestone"]').length === 3);
  assert.match(await page.textContent(tid("project-progress-text")), /67% done/);
  // Rename one.
  const t = page.locator(tid("milestone")).nth(2).locator(tid("milestone-title"));
  await t.fill("Ship it now");
  await t.press("Enter");
  await page.waitForFunction(() => window.__fake.db.projects.find((p) => p._id === "proj1").timeline.milestones[2].title === "Ship it now");
  const upd = (await calls(page, "update_document")).filter((c) => c.collection === "projects");
  assert.ok(upd.every((u) => "timeline.milestones" in u.changes));
  // Clicking a prompt opens it.
  await page.click(tid("project-prompt"));
  await page.waitForFunction(() => document.querySelector('[data-testid="prompt-title"]')?.value === "Code reviewer");
  // New project via Ctrl+N.
  await page.keyboard.press("Control+3");
  await page.waitForSelector(tid("project-row"));
  await page.keyboard.press("Control+n");
  await page.fill(tid("project-title-new"), "Brand new");
  await page.click(tid("project-create"));
  await page.waitForFunction(() => document.querySelector('[data-testid="project-title"]')?.value === "Brand new");
  await page.closeAll();
});

test("marketplace: draft from a prompt, publish, moderation notes", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("nav-marketplace"));
  await page.click(tid("market-tab-mine"));
  await page.waitForSelector(tid("my-listing"));
  // mine: true — only Ada's listings (l1, l5), never Bob's or others' (l2, l3, l4).
  assert.equal(await page.locator(tid("my-listing")).count(), 2);
  const mineTitles = await page.locator(tid("my-listing")).allTextContents();
  assert.ok(mineTitles.some((t) => t.includes("Blog outline pack")));
  assert.ok(!mineTitles.some((t) => /Poem generator|SQL helper|Resume polisher/.test(t)));
  const lq = (await calls(page, "list_documents")).filter((c) => c.collection === "marketplace_listings").pop().query;
  assert.equal(lq.mine, true);
  assert.match(await page.textContent(tid("moderation-notes")), /Preview is missing/);
  await page.click(tid("new-listing"));
  await page.click(tid("listing-prompt-picker"));
  await page.fill(tid("listing-prompt-picker"), "tweet");
  await page.click(`${tid("prompt-picker-option")}:has-text("Tweet writer")`);
  assert.equal(await page.inputValue(tid("listing-title")), "Tweet writer");
  await page.fill(tid("listing-price-input"), "25");
  await page.click(tid("listing-save"));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="my-listing"]').length === 3);
  const created = (await calls(page, "create_document")).pop();
  assert.equal(created.collection, "marketplace_listings");
  assert.equal(created.fields.prompt_id, "p5");
  assert.equal(created.fields.price, 25);
  const row = page.locator(`${tid("my-listing")}:has-text("Tweet writer")`);
  assert.equal(await row.locator(tid("listing-status")).textContent(), "draft");
  await row.locator(tid("publish-listing")).click();
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="my-listing"]')].some((r) => r.textContent.includes("Tweet writer") && r.querySelector('[data-testid="listing-status"]').textContent === "pending"));
  assert.equal((await calls(page, "publish_listing")).length, 1);
  await page.closeAll();
});

test("marketplace: browse approved, buy with confirm, balance shown; refusal in words", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("nav-marketplace"));
  await page.waitForSelector(tid("listing-card"));
  assert.match(await page.textContent(tid("balance")), /100 credits/);
  const titles = await page.locator(tid("listing-card")).allTextContents();
  assert.equal(titles.length, 3);
  assert.ok(!titles.some((t) => t.includes("Blog outline pack")), "drafts are not browsed");
  const q = (await calls(page, "list_documents")).find((c) => c.collection === "marketplace_listings").query;
  assert.equal(q.status, "approved");
  // Already owned listing shows no Buy button.
  assert.equal(await page.locator(`${tid("listing-card")}:has-text("Resume polisher") ${tid("buy")}`).count(), 0);
  await page.click(`${tid("listing-card")}:has-text("Poem generator") ${tid("buy")}`);
  assert.match(await page.textContent(tid("confirm-price")), /30 credits/);
  await page.click(tid("confirm-ok"));
  await page.waitForSelector(tid("bought-banner"));
  assert.match(await page.textContent(tid("new-balance")), /70 credits/);
  assert.match(await page.textContent(tid("balance")), /70 credits/);
  assert.deepEqual(await calls(page, "buy_listing"), [{ listingId: "l2", expectedPrice: 30 }]);
  // Too expensive: refused, shown in words.
  await page.click(`${tid("listing-card")}:has-text("SQL helper") ${tid("buy")}`);
  await page.click(tid("confirm-ok"));
  await page.waitForSelector(tid("error-toast"));
  assert.match(await page.textContent(tid("error-toast")), /You need 500 credits but have 70\./);
  // Escape closes the dialog.
  await page.keyboard.press("Escape");
  await page.waitForSelector(tid("confirm-dialog"), { state: "detached" });
  await page.closeAll();
});

test("marketplace: purchases, review and refund", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("nav-marketplace"));
  await page.click(tid("market-tab-purchases"));
  await page.waitForSelector(`${tid("purchase-row")}:has-text("Resume polisher")`);
  // mine: true — pu2 (someone else buying Ada's listing) is not her purchase.
  assert.equal(await page.locator(tid("purchase-row")).count(), 1);
  assert.equal(await page.locator(`${tid("purchase-row")}:has-text("Blog outline pack")`).count(), 0);
  const pq = (await calls(page, "list_documents")).filter((c) => c.collection === "marketplace_purchases").pop().query;
  assert.equal(pq.mine, true);
  await page.click(tid("review-button"));
  await page.click(tid("rating-4"));
  await page.fill(tid("review-title"), "Nice");
  await page.fill(tid("review-content"), "Helped with my CV");
  await page.click(tid("review-submit"));
  await page.waitForFunction(() => document.querySelector('[data-testid="purchase-review"]').textContent === "★★★★☆");
  assert.deepEqual(await calls(page, "review_purchase"), [{ purchaseId: "pu1", rating: 4, review: "Nice\n\nHelped with my CV" }]);
  await page.click(tid("refund-button"));
  await page.fill(tid("refund-reason"), "Not what I expected");
  await page.click(tid("refund-submit"));
  await page.waitForFunction(() => document.querySelector('[data-testid="purchase-status"]').textContent.includes("refunded"));
  assert.deepEqual(await calls(page, "refund_purchase"), [{ purchaseId: "pu1", reason: "Not what I expected" }]);
  assert.match(await page.textContent(tid("balance")), /120 credits/);
  await page.closeAll();
});

test("notifications: unread and read by status, dismissed and others' absent; mark read and dismiss", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("nav-notifications"));
  await page.waitForSelector(tid("notification-row"));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="notification-row"]').length === 3);
  assert.equal(await page.textContent(tid("unread-count")), "2 unread");
  const titles = await page.locator(tid("notification-row")).allTextContents();
  assert.ok(!titles.some((t) => t.includes("Dismissed")), "dismissed notifications are not shown");
  assert.ok(!titles.some((t) => t.includes("Bob's news")), "other users' notifications are not shown");
  // Two server-side queries by status, never dismissed.
  const qs = (await calls(page, "list_documents")).filter((c) => c.collection === "notifications").map((c) => c.query);
  assert.deepEqual(Array.from(new Set(qs.map((q) => q.status))).sort(), ["read", "unread"]);
  assert.ok(qs.every((q) => q.mine === true));
  // Unread tab: only the unread ones.
  await page.click(tid("notifications-tab-unread"));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="notification-row"]').length === 2);
  assert.equal(await page.locator(`${tid("notification-row")}:has-text("Old news")`).count(), 0);
  await page.click(tid("notifications-tab-all"));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="notification-row"]').length === 3);

  const first = page.locator(`${tid("notification-row")}:has-text("Your listing sold")`);
  await first.locator(tid("mark-read")).click();
  await page.waitForFunction(() => document.querySelector('[data-testid="unread-count"]').textContent === "1 unread");
  const n1 = await page.evaluate(() => window.__fake.db.notifications.find((n) => n._id === "n1"));
  assert.equal(n1.read, true);
  assert.ok(n1.read_at.$date);
  // Now among the read ones.
  await page.waitForSelector(`${tid("notifications-read")} ${tid("notification-row")}:has-text("Your listing sold")`);
  await page.locator(`${tid("notification-row")}:has-text("Old news")`).locator(tid("dismiss")).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="notification-row"]').length === 2);
  const n3 = await page.evaluate(() => window.__fake.db.notifications.find((n) => n._id === "n3"));
  assert.equal(n3.dismissed, true);
  assert.equal(await page.locator(`${tid("notification-row")}:has-text("Old news")`).count(), 0);
  // Mark all read empties the unread tab.
  await page.click(tid("mark-all-read"));
  await page.waitForFunction(() => document.querySelector('[data-testid="unread-count"]').textContent === "0 unread");
  await page.click(tid("notifications-tab-unread"));
  await page.waitForSelector(tid("notifications-empty"));
  assert.match(await page.textContent(tid("notifications-empty")), /nothing unread/);
  await page.closeAll();
});

test("settings: theme applied live; sign in form; sign out", async () => {
  const page = await openApp(browser, server.url, { signedIn: false }, { colorScheme: "dark" });
  await page.waitForFunction(() => document.documentElement.dataset.theme === "light");
  const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const light = await bg();
  await page.click(tid("nav-settings"));
  await page.selectOption(tid("settings-theme"), "dark");
  assert.equal(await page.getAttribute("html", "data-theme"), "dark");
  const dark = await bg();
  assert.notEqual(light, dark);
  assert.equal(dark, "rgb(20, 22, 28)");
  // System follows prefers-color-scheme (dark in this context).
  await page.selectOption(tid("settings-theme"), "system");
  assert.equal(await page.getAttribute("html", "data-theme"), "dark");
  await page.emulateMedia({ colorScheme: "light" });
  await page.waitForFunction(() => document.documentElement.dataset.theme === "light");
  await page.waitForFunction(() => window.__fake.callsOf("save_settings").length === 2);
  assert.equal((await calls(page, "save_settings")).pop().settings.theme, "system");

  // The language is saved at once, like the theme: the page's and the numbers' locale.
  assert.equal(await page.getAttribute("html", "lang"), "en");
  await page.selectOption(tid("settings-language"), "de");
  await page.waitForFunction(() => window.__fake.callsOf("save_settings").length === 3);
  assert.equal((await calls(page, "save_settings")).pop().settings.language, "de");
  await page.waitForFunction(() => document.documentElement.lang === "de");
  // Server settings (under Advanced, closed while the defaults are set) are saved with the button.
  await page.click(`${tid("settings-advanced")} summary`);
  await page.fill(tid("settings-server-url"), "https://my.server");
  await page.fill(tid("settings-firebase-key"), "KEY");
  await page.click(tid("settings-save"));
  await page.waitForFunction(() => window.__fake.callsOf("save_settings").length === 4);
  const s = (await calls(page, "save_settings")).pop().settings;
  assert.equal(s.server_url, "https://my.server");
  assert.equal(s.firebase_api_key, "KEY");
  assert.equal(s.language, "de");

  // Not signed in: local-only indicator, sign-in form with attach checkbox.
  assert.match(await page.textContent(tid("sync-indicator")), /Local only/);
  assert.equal(await page.isChecked(tid("signin-attach")), true);
  await page.fill(tid("signin-email"), "ada@example.com");
  await page.fill(tid("signin-password"), "wrong");
  await page.click(tid("signin-submit"));
  await page.waitForSelector(tid("error-toast"));
  assert.match(await page.textContent(tid("error-toast")), /The email or password is not right\./);
  await page.fill(tid("signin-password"), "secret");
  await page.uncheck(tid("signin-attach"));
  await page.click(tid("signin-submit"));
  await page.waitForSelector(tid("account-email"));
  assert.equal(await page.textContent(tid("account-email")), "ada@example.com");
  assert.deepEqual((await calls(page, "sign_in")).pop(), { email: "ada@example.com", password: "secret", attachLibrary: false });
  assert.doesNotMatch(await page.textContent(tid("sync-indicator")), /Local only/);
  await page.click(tid("sign-out"));
  await page.waitForSelector(tid("sign-in-form"));
  assert.match(await page.textContent(tid("sync-indicator")), /Local only/);
  await page.closeAll();
});

test("no attach checkbox when there is no local library", async () => {
  const page = await openApp(browser, server.url, { signedIn: false, localDocuments: 0 });
  await page.click(tid("nav-settings"));
  await page.waitForSelector(tid("sign-in-form"));
  assert.equal(await page.locator(tid("signin-attach")).count(), 0);
  await page.closeAll();
});

test("profile: edit display name and bio", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("nav-profile"));
  await page.waitForSelector(tid("profile-name"));
  assert.equal(await page.inputValue(tid("profile-name")), "Ada");
  await page.fill(tid("profile-name"), "Ada L.");
  await page.fill(tid("profile-bio"), "Prompt smith");
  await page.keyboard.press("Control+s");
  await page.waitForFunction(() => window.__fake.callsOf("update_document").length === 1);
  const u = (await calls(page, "update_document"))[0];
  assert.equal(u.collection, "users");
  assert.deepEqual(u.changes, { display_name: "Ada L.", "profile.bio": "Prompt smith" });
  await page.closeAll();
});
