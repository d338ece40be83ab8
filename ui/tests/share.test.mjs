// Sharing in the browser with the fake backend: the share dialog on
// prompts, ideas and projects, its refusals and offline wording, and the
// shared / view-only marks.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, openApp, tid } from "./helpers.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

const shareRequests = (page) => page.evaluate(() => window.__fake.shareRequests());
const waitRequests = (page, n) => page.waitForFunction((k) => window.__fake.shareRequests().length === k, n);
const promptRow = (title) => `${tid("prompt-row")}:has-text("${title}")`;
const person = (uid) => `${tid("share-person")}[data-user-id="${uid}"]`;
const stored = (page, collection, id) => page.evaluate(([c, i]) => JSON.parse(JSON.stringify(window.__fake.db[c].find((x) => x._id === i))), [collection, id]);
/** Asks the fake directly, as the app would: the answer, or the refusal. */
const ask = (page, request) =>
  page.evaluate((r) => window.__TAURI_INTERNALS__.invoke("share_request", { request: r }).then((ok) => ({ ok }), (err) => ({ err })), request);

async function openPrompt(page, title) {
  await page.click(promptRow(title));
  await page.waitForFunction((t) => document.querySelector('[data-testid="prompt-title"]')?.value === t, title);
}
async function openShare(page, button) {
  await page.click(tid(button));
  await page.waitForSelector(tid("share-dialog"));
}
async function shareWith(page, email, permission) {
  await page.fill(tid("share-email"), email);
  if (permission) await page.selectOption(tid("share-permission"), permission);
  await page.click(tid("share-submit"));
}

test("share: a prompt shared by email to edit lists the person and marks the prompt Shared", async () => {
  const page = await openApp(browser, server.url);
  await openPrompt(page, "Blog post outline");
  assert.equal(await page.locator(`${promptRow("Blog post outline")} ${tid("shared-badge")}`).count(), 0);
  await openShare(page, "prompt-share");
  assert.equal(await page.getAttribute(tid("share-dialog"), "role"), "dialog");
  assert.equal(await page.getAttribute(tid("share-dialog"), "aria-label"), "Share “Blog post outline”");
  await page.waitForSelector(tid("share-empty"));
  assert.deepEqual(await shareRequests(page), [{ op: "list", collection: "prompts", id: "p1" }]);
  assert.deepEqual(await page.locator(`${tid("share-permission")} option`).allTextContents(), ["Can view", "Can edit"]);
  assert.equal(await page.inputValue(tid("share-permission")), "read", "view only unless the owner says otherwise");
  // The inputs are labelled.
  assert.equal(await page.getByLabel("Email").count(), 1);
  assert.equal(await page.getByLabel("Permission").count(), 1);
  assert.equal(await page.isDisabled(tid("share-submit")), true, "nothing to share with yet");

  await shareWith(page, "Bob@Example.com", "write");
  await page.waitForSelector(person("user-2"));
  assert.deepEqual((await shareRequests(page)).pop(), { op: "share", collection: "prompts", id: "p1", email: "Bob@Example.com", permission: "write" });
  assert.equal(await page.textContent(`${person("user-2")} ${tid("share-person-name")}`), "Bob");
  assert.equal(await page.textContent(`${person("user-2")} ${tid("share-person-permission")}`), "Can edit");
  assert.equal(await page.locator(tid("share-person")).count(), 1);
  assert.equal(await page.inputValue(tid("share-email")), "", "the form is cleared");
  await page.waitForSelector(`${tid("info-toast")}:has-text("Shared with Bob@Example.com")`);
  const p1 = await stored(page, "prompts", "p1");
  assert.deepEqual(p1.collaboration.allowed_users, ["user-2"]);
  assert.equal(p1.collaboration.permissions["user-2"], "write");
  assert.equal(p1.collaboration.is_collaborative, true);
  assert.equal(p1.version, 10, "the server's write moves the version on");

  // Escape closes the dialog; the editor stays.
  await page.keyboard.press("Escape");
  await page.waitForSelector(tid("share-dialog"), { state: "detached" });
  assert.equal(await page.locator(tid("prompt-editor")).count(), 1);
  // The list and the editor show the prompt is shared, and with whom.
  const badge = `${promptRow("Blog post outline")} ${tid("shared-badge")}`;
  await page.waitForSelector(badge);
  assert.equal(await page.textContent(badge), "Shared");
  assert.equal(await page.getAttribute(badge, "title"), "Shared with 1 person: Bob");
  assert.equal(await page.locator(`${tid("prompt-editor")} ${tid("shared-badge")}`).count(), 1);
  assert.equal(await page.locator(`${promptRow("Code reviewer")} ${tid("shared-badge")}`).count(), 0);
  assert.equal(await page.locator(tid("view-only-notice")).count(), 0);

  // Opened again, it lists who has it from the server.
  await openShare(page, "prompt-share");
  await page.waitForSelector(person("user-2"));
  assert.deepEqual((await shareRequests(page)).pop(), { op: "list", collection: "prompts", id: "p1" });
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("share: an unknown email is named and changes nothing; re-sharing changes the permission; Remove unshares", async () => {
  const page = await openApp(browser, server.url);
  await openPrompt(page, "Code reviewer");
  await openShare(page, "prompt-share");
  await page.waitForSelector(tid("share-empty"));
  await shareWith(page, "cy@example.com");
  await page.waitForSelector(person("user-3"));
  assert.equal(await page.textContent(`${person("user-3")} ${tid("share-person-permission")}`), "Can view");
  const before = await stored(page, "prompts", "p2");
  assert.equal(before.collaboration.permissions["user-3"], "read");

  await shareWith(page, "nobody@example.com", "write");
  await page.waitForSelector(tid("share-error"));
  assert.equal(
    await page.textContent(`${tid("share-error")} span`),
    "Could not share with nobody@example.com. No PromptForge account uses that email; ask them to sign up first.",
  );
  assert.equal(await page.getAttribute(tid("share-error"), "role"), "alert");
  assert.deepEqual((await shareRequests(page)).pop(), { op: "share", collection: "prompts", id: "p2", email: "nobody@example.com", permission: "write" });
  assert.equal(await page.inputValue(tid("share-email")), "nobody@example.com", "the address stays to be corrected");
  assert.deepEqual(await stored(page, "prompts", "p2"), before, "a refusal changes nothing");
  assert.equal(await page.locator(tid("share-person")).count(), 1);

  // The owner shares with herself: the server's words.
  await shareWith(page, "ada@example.com");
  await page.waitForSelector(`${tid("share-error")}:has-text("that is you, the owner")`);

  // Existing people show their permission as text; to change it, share again.
  assert.equal(await page.locator(`${person("user-3")} select`).count(), 0);
  await shareWith(page, "cy@example.com", "write");
  await page.waitForFunction(() => document.querySelector('[data-user-id="user-3"] [data-testid="share-person-permission"]')?.textContent === "Can edit");
  assert.equal(await page.locator(tid("share-error")).count(), 0, "a success clears the last refusal");
  assert.equal(await page.locator(tid("share-person")).count(), 1);
  assert.deepEqual((await stored(page, "prompts", "p2")).collaboration.allowed_users, ["user-3"]);
  assert.equal((await stored(page, "prompts", "p2")).collaboration.permissions["user-3"], "write");

  // Remove asks first; Cancel sends nothing.
  const sent = (await shareRequests(page)).length;
  await page.click(`${person("user-3")} ${tid("share-remove")}`);
  await page.waitForSelector(tid("confirm-dialog"));
  await page.click(`${tid("confirm-dialog")} button:has-text("Cancel")`);
  assert.equal((await shareRequests(page)).length, sent);
  assert.equal(await page.locator(tid("share-dialog")).count(), 1, "Cancel closes only the question");
  await page.click(`${person("user-3")} ${tid("share-remove")}`);
  await page.click(tid("confirm-ok"));
  await page.waitForSelector(tid("share-empty"));
  assert.deepEqual((await shareRequests(page)).pop(), { op: "unshare", collection: "prompts", id: "p2", user_id: "user-3" });
  const after = await stored(page, "prompts", "p2");
  assert.deepEqual(after.collaboration.allowed_users, []);
  assert.equal("user-3" in after.collaboration.permissions, false);
  assert.equal(after.collaboration.is_collaborative, false);
  assert.equal(after.version, before.version + 2);
  await page.click(tid("share-done"));
  await page.waitForSelector(tid("share-dialog"), { state: "detached" });
  await page.waitForFunction(() => ![...document.querySelectorAll('[data-testid="prompt-row"]')].some((r) => r.textContent.includes("Code reviewer") && r.querySelector('[data-testid="shared-badge"]')));
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("share: an idea is shared to view only; the idea dialog stays open behind it", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("nav-ideas"));
  await page.click(`${tid("idea-open")}:has-text("Recipe chatbot")`);
  await page.waitForSelector(tid("idea-dialog"));
  await openShare(page, "idea-share");
  await page.waitForSelector(tid("share-empty"));
  assert.deepEqual(await page.locator(`${tid("share-permission")} option`).allTextContents(), ["Can view"]);
  assert.match(await page.textContent(tid("share-form")), /Ideas are shared to view only/);
  await shareWith(page, "dee@example.com");
  await page.waitForSelector(person("user-4"));
  assert.equal(await page.textContent(`${person("user-4")} ${tid("share-person-name")}`), "Dee");
  assert.equal(await page.textContent(`${person("user-4")} ${tid("share-person-permission")}`), "Can view");
  assert.deepEqual(await shareRequests(page), [
    { op: "list", collection: "ideas", id: "i1" },
    { op: "share", collection: "ideas", id: "i1", email: "dee@example.com", permission: "read" },
  ]);
  assert.deepEqual((await stored(page, "ideas", "i1")).shared_with, ["user-4"]);

  // Escape closes the top dialog only.
  await page.keyboard.press("Escape");
  await page.waitForSelector(tid("share-dialog"), { state: "detached" });
  assert.equal(await page.locator(tid("idea-dialog")).count(), 1);
  await page.keyboard.press("Escape");
  await page.waitForSelector(tid("idea-dialog"), { state: "detached" });
  await page.waitForSelector(`${tid("idea-card")}:has-text("Recipe chatbot") ${tid("shared-badge")}`);
  assert.equal(await page.locator(`${tid("idea-card")}:has-text("SEO assistant") ${tid("shared-badge")}`).count(), 0);

  // The server refuses an idea shared to edit, and changes nothing.
  const refused = await ask(page, { op: "share", collection: "ideas", id: "i1", email: "bob@example.com", permission: "write" });
  assert.equal(refused.err?.code, "invalid");
  assert.deepEqual((await stored(page, "ideas", "i1")).shared_with, ["user-4"]);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("share: a project is shared from its view; team marks stay", async () => {
  const page = await openApp(browser, server.url);
  await page.click(tid("nav-projects"));
  await page.click(`${tid("project-row")}:has-text("Launch kit")`);
  await page.waitForSelector(tid("project-detail"));
  await openShare(page, "project-share");
  await page.waitForSelector(tid("share-empty"));
  assert.deepEqual(await page.locator(`${tid("share-permission")} option`).allTextContents(), ["Can view", "Can edit"]);
  await shareWith(page, "cy@example.com", "write");
  await page.waitForSelector(person("user-3"));
  const proj = await stored(page, "projects", "proj1");
  assert.deepEqual(proj.collaboration.allowed_users, ["user-3"]);
  assert.equal(proj.collaboration.permissions["user-3"], "write");
  assert.equal(proj.stats.collaborator_count, 1);
  await page.keyboard.press("Escape");
  await page.waitForSelector(`${tid("project-row")}:has-text("Launch kit") ${tid("shared-badge")}`);
  assert.equal(await page.getAttribute(`${tid("project-row")}:has-text("Launch kit") ${tid("shared-badge")}`, "title"), "Shared with 1 person: Cy");
  assert.equal(await page.locator(`${tid("project-detail")} ${tid("shared-badge")}`).count(), 1);
  // The team's project keeps its team mark and is not "Shared" with anyone by name.
  assert.equal(await page.textContent(`${tid("project-row")}:has-text("Side project") ${tid("team-badge")}`), "Team: Writers' room");
  assert.equal(await page.locator(`${tid("project-row")}:has-text("Side project") ${tid("shared-badge")}`).count(), 0);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("share: someone else's items say who owns them, mark View only, and offer no Share", async () => {
  const page = await openApp(browser, server.url, { sharedWithMe: true });
  const row = promptRow("Bob's style guide");
  await page.waitForSelector(`${row} ${tid("owner-mark")}`);
  assert.equal(await page.textContent(`${row} ${tid("owner-mark")}`), "Shared with you");
  assert.match(await page.getAttribute(`${row} ${tid("owner-mark")}`, "title"), /Owned by Bob/);
  assert.equal(await page.textContent(`${row} ${tid("view-only")}`), "View only");
  assert.equal(await page.locator(`${row} ${tid("shared-badge")}`).count(), 0);
  // Ada's own prompt is not marked as someone else's.
  assert.equal(await page.locator(`${promptRow("Blog post outline")} ${tid("owner-mark")}`).count(), 0);

  await openPrompt(page, "Bob's style guide");
  assert.equal(await page.locator(`${tid("prompt-share")}:enabled`).count(), 0);
  assert.match(await page.textContent(tid("view-only-notice")), /Bob shared this prompt with you to view only.*sync server will refuse your changes/);
  // Typing is not blocked.
  await page.fill(tid("prompt-content"), "Write like me.");
  assert.equal(await page.inputValue(tid("prompt-content")), "Write like me.");
  await page.waitForSelector(tid("unsaved"));
  // The server would refuse her too.
  assert.equal((await ask(page, { op: "list", collection: "prompts", id: "sp1" })).err?.code, "forbidden");

  // A project shared to edit: Shared with you, no View only, no Share.
  await page.click(tid("nav-projects"));
  const proj = `${tid("project-row")}:has-text("Bob's roadmap")`;
  await page.waitForSelector(`${proj} ${tid("owner-mark")}`);
  assert.equal(await page.textContent(`${proj} ${tid("owner-mark")}`), "Shared with you");
  assert.equal(await page.locator(`${proj} ${tid("view-only")}`).count(), 0);
  await page.click(proj);
  await page.waitForSelector(`${tid("project-detail")} ${tid("owner-mark")}`);
  assert.equal(await page.locator(tid("project-share")).count(), 0);
  assert.equal(await page.locator(tid("view-only-notice")).count(), 0);

  // An idea shared with her is view only.
  await page.click(tid("nav-ideas"));
  const card = `${tid("idea-card")}:has-text("Cy's podcast idea")`;
  await page.waitForSelector(`${card} ${tid("view-only")}`);
  assert.equal(await page.textContent(`${card} ${tid("owner-mark")}`), "Shared with you");
  await page.click(`${card} ${tid("idea-open")}`);
  await page.waitForSelector(tid("idea-dialog"));
  assert.equal(await page.locator(tid("idea-share")).count(), 0);
  assert.match(await page.textContent(tid("view-only-notice")), /Cy shared this idea with you to view only/);
  assert.equal(await page.textContent(`${tid("idea-dialog")} ${tid("owner-mark")}`), "Shared with you");
  // Her own idea still offers Share.
  await page.keyboard.press("Escape");
  await page.click(`${tid("idea-open")}:has-text("SEO assistant")`);
  await page.waitForSelector(`${tid("idea-share")}:enabled`);
  assert.deepEqual(await shareRequests(page), [{ op: "list", collection: "prompts", id: "sp1" }], "the UI asked nothing (only the test above did)");
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("share: offline or signed out, the dialog says sharing needs the sync server and changes nothing", async () => {
  const page = await openApp(browser, server.url);
  await page.evaluate(() => window.__fake.setStatus({ state: "offline", reason: "No network" }));
  await openPrompt(page, "Blog post outline");
  await openShare(page, "prompt-share");
  await page.waitForSelector(tid("share-error"));
  assert.equal(
    await page.textContent(`${tid("share-error")} span`),
    "Sharing needs the sync server: The sync server cannot be reached. Could not load who has access; nothing was changed.",
  );
  assert.match(await page.textContent(tid("share-loading")), /unknown until the sync server answers/);
  assert.equal(await page.locator(tid("share-empty")).count(), 0, "not “only you”: it is unknown");

  await shareWith(page, "bob@example.com", "write");
  await page.waitForSelector(`${tid("share-error")}:has-text("Could not share with bob@example.com; nothing was changed")`);
  assert.match(await page.textContent(tid("share-error")), /^Sharing needs the sync server/);
  assert.equal(await page.inputValue(tid("share-email")), "bob@example.com", "nothing typed is lost");
  const p1 = await stored(page, "prompts", "p1");
  assert.deepEqual(p1.collaboration.allowed_users, []);
  assert.equal(p1.version, 9);
  assert.equal(await page.locator(tid("share-retry")).count(), 0, "the last failure was a share, not the list");

  // Back online, the dialog works again.
  await page.evaluate(() => window.__fake.setStatus({ state: "up_to_date" }));
  await page.click(tid("share-submit"));
  await page.waitForSelector(person("user-2"));
  assert.equal(await page.locator(tid("share-error")).count(), 0);
  await page.closeAll();

  const local = await openApp(browser, server.url, { signedIn: false });
  await openPrompt(local, "Blog post outline");
  await openShare(local, "prompt-share");
  await local.waitForSelector(tid("share-error"));
  assert.match(await local.textContent(tid("share-error")), /^Sharing needs the sync server: This library is not signed in to a sync server/);
  // Trying again asks again (and is refused again).
  await local.click(tid("share-retry"));
  await waitRequests(local, 2);
  await local.waitForSelector(`${tid("share-error")}:has-text("Could not load who has access; nothing was changed")`);
  assert.deepEqual(await local.evaluate(() => window.__fake.db.prompts.find((p) => p._id === "p1").collaboration.allowed_users), []);
  assert.deepEqual(local.errors, []);
  await local.closeAll();
});
