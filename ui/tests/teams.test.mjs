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

const teamRequests = (page) => page.evaluate(() => window.__fake.teamRequests());
const teamRow = (name) => `${tid("team-row")}:has-text("${name}")`;
const memberRow = (uid) => `${tid("member-row")}[data-user-id="${uid}"]`;
const waitRequests = (page, n) => page.waitForFunction((k) => window.__fake.teamRequests().length === k, n);

async function openTeams(page) {
  await page.click(tid("nav-teams"));
  await page.waitForSelector(`${tid("team-count")}:not(:has-text("…"))`);
}

test("teams: your teams with member count and role; create a team as its owner", async () => {
  const page = await openApp(browser, server.url);
  await openTeams(page);
  assert.equal(await page.locator(tid("team-row")).count(), 2, "only the teams Ada is in");
  assert.match(await page.textContent(teamRow("Writers' room")), /3 members/);
  assert.equal(await page.textContent(`${teamRow("Writers' room")} ${tid("team-your-role")}`), "owner");
  assert.equal(await page.textContent(`${teamRow("Design guild")} ${tid("team-your-role")}`), "viewer");
  assert.equal(await page.locator(teamRow("Research club")).count(), 0);

  // A name is needed: nothing is sent without one.
  await page.click(tid("team-create"));
  assert.match(await page.textContent(tid("team-error")), /needs a name/);
  assert.deepEqual(await teamRequests(page), []);

  await page.fill(tid("team-name"), "Launch crew");
  await page.fill(tid("team-description"), "Ships the launch");
  await page.click(tid("team-create"));
  await page.waitForSelector(teamRow("Launch crew"));
  const [req] = await teamRequests(page);
  assert.equal(req.op, "create");
  assert.equal(req.name, "Launch crew");
  assert.equal(req.description, "Ships the launch");
  assert.match(req.team_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(await page.textContent(`${teamRow("Launch crew")} ${tid("team-your-role")}`), "owner");
  assert.match(await page.textContent(teamRow("Launch crew")), /1 member/);
  // The new team is open: Ada alone, as owner, with the owner's tools.
  await page.waitForSelector(`${tid("team-title")}:has-text("Launch crew")`);
  assert.equal(await page.locator(tid("member-row")).count(), 1);
  assert.match(await page.textContent(memberRow("user-1")), /Ada \(you\).*owner/);
  assert.equal(await page.locator(`${memberRow("user-1")} ${tid("member-role")}`).count(), 0, "nobody changes their own role");
  assert.equal(await page.locator(`${memberRow("user-1")} ${tid("member-remove")}`).count(), 0);
  assert.equal(await page.locator(tid("invite-email")).count(), 1);
  assert.equal(await page.locator(tid("team-leave")).count(), 0, "the owner does not leave");
  assert.equal(await page.locator(tid("team-delete")).count(), 1);
  assert.equal(await page.inputValue(tid("team-name")), "", "the form is cleared");
  assert.equal(await page.locator(tid("team-error")).count(), 0);

  // The owner deletes it (after confirming).
  await page.click(tid("team-delete"));
  await page.click(tid("confirm-ok"));
  await page.waitForSelector(teamRow("Launch crew"), { state: "detached" });
  assert.deepEqual((await teamRequests(page)).pop(), { op: "delete", team_id: req.team_id });
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("teams: invite by email, and an unknown email is named inline", async () => {
  const page = await openApp(browser, server.url);
  await openTeams(page);
  await page.click(teamRow("Writers' room"));
  await page.waitForSelector(tid("invite-email"));
  assert.equal(await page.inputValue(tid("invite-role")), "editor", "editor by default");
  assert.deepEqual(await page.locator(`${tid("invite-role")} option`).allTextContents(), ["admin", "editor", "viewer"]);
  await page.fill(tid("invite-email"), "dee@example.com");
  await page.selectOption(tid("invite-role"), "viewer");
  await page.click(tid("invite-submit"));
  await waitRequests(page, 1);
  assert.deepEqual(await teamRequests(page), [{ op: "invite", team_id: "t1", email: "dee@example.com", role: "viewer" }]);
  await page.waitForSelector(`${tid("info-toast")}:has-text("Invitation sent to dee@example.com")`);
  await page.waitForFunction(() => document.querySelector('[data-testid="invite-email"]').value === "");

  await page.fill(tid("invite-email"), "nobody@example.com");
  await page.click(tid("invite-submit"));
  await page.waitForSelector(tid("team-error"));
  assert.match(
    await page.textContent(tid("team-error")),
    /Could not invite nobody@example\.com: no PromptForge account uses that email; ask them to sign up first/,
  );
  // The role chosen last stays chosen.
  assert.deepEqual((await teamRequests(page)).pop(), { op: "invite", team_id: "t1", email: "nobody@example.com", role: "viewer" });
  assert.equal(await page.inputValue(tid("invite-email")), "nobody@example.com", "the address stays to be corrected");

  // Someone already in the team: the refusal's words, too.
  await page.fill(tid("invite-email"), "bob@example.com");
  await page.click(tid("invite-submit"));
  await page.waitForSelector(`${tid("team-error")}:has-text("already in Writers' room")`);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("teams: a pending invitation shows Accept and Decline; accepting joins the team", async () => {
  const page = await openApp(browser, server.url);
  await openTeams(page);
  assert.equal(await page.locator(tid("invitation")).count(), 0);
  // Cy invites Ada; the notification arrives with a sync.
  await page.evaluate(() => window.__fake.inviteMe("t3", "editor", "user-3"));
  await page.waitForSelector(`${tid("invitation")}:has-text("Research club")`);
  assert.equal(await page.locator(`${tid("invitation")} ${tid("invitation-accept")}`).count(), 1);
  assert.equal(await page.locator(`${tid("invitation")} ${tid("invitation-decline")}`).count(), 1);

  // Declining: the invitation goes, no team appears.
  await page.click(tid("invitation-decline"));
  await page.waitForSelector(tid("invitation"), { state: "detached" });
  assert.deepEqual(await teamRequests(page), [{ op: "decline", team_id: "t3" }]);
  assert.equal(await page.locator(teamRow("Research club")).count(), 0);

  // Invited again; the Notifications screen leads to Teams.
  await page.evaluate(() => window.__fake.inviteMe("t3", "editor", "user-3"));
  await page.click(tid("nav-notifications"));
  await page.click(`${tid("notification-row")}:has-text("Team invitation") ${tid("notification-open-teams")}`);
  await page.waitForSelector(`${tid("invitation")}:has-text("Research club")`);
  await page.click(tid("invitation-accept"));
  await page.waitForSelector(teamRow("Research club"));
  assert.deepEqual((await teamRequests(page)).pop(), { op: "accept", team_id: "t3" });
  assert.equal(await page.textContent(`${teamRow("Research club")} ${tid("team-your-role")}`), "editor");
  assert.equal(await page.locator(tid("invitation")).count(), 0);
  // The answered invitations are put away.
  const notes = await page.evaluate(() => window.__fake.db.notifications.filter((n) => n.title === "Team invitation"));
  assert.equal(notes.length, 2);
  assert.ok(notes.every((n) => n.dismissed && n.read));
  // An editor (no open invites) sees the members but manages nobody.
  await page.waitForSelector(`${tid("team-title")}:has-text("Research club")`);
  assert.equal(await page.locator(tid("member-row")).count(), 2);
  assert.equal(await page.locator(tid("invite-email")).count(), 0);
  assert.equal(await page.locator(tid("member-role")).count(), 0);
  assert.equal(await page.locator(tid("team-leave")).count(), 1);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("teams: the owner changes a member's role, removes one and hands the team over", async () => {
  const page = await openApp(browser, server.url);
  await openTeams(page);
  await page.click(teamRow("Writers' room"));
  await page.waitForSelector(tid("member-row"));
  assert.equal(await page.locator(tid("member-row")).count(), 3);
  assert.match(await page.textContent(memberRow("user-2")), /Bob.*admin/);

  await page.selectOption(`${memberRow("user-3")} ${tid("member-role")}`, "viewer");
  await waitRequests(page, 1);
  assert.deepEqual(await teamRequests(page), [{ op: "set_role", team_id: "t1", user_id: "user-3", role: "viewer" }]);
  await page.waitForFunction(() => window.__fake.team("t1").members["user-3"].role === "viewer");
  assert.equal(await page.inputValue(`${memberRow("user-3")} ${tid("member-role")}`), "viewer");

  // Removing asks first; Cancel sends nothing.
  await page.click(`${memberRow("user-2")} ${tid("member-remove")}`);
  await page.waitForSelector(tid("confirm-dialog"));
  await page.click(`${tid("confirm-dialog")} button:has-text("Cancel")`);
  assert.equal((await teamRequests(page)).length, 1);
  await page.click(`${memberRow("user-2")} ${tid("member-remove")}`);
  await page.click(tid("confirm-ok"));
  await page.waitForSelector(memberRow("user-2"), { state: "detached" });
  assert.deepEqual((await teamRequests(page)).pop(), { op: "remove", team_id: "t1", user_id: "user-2" });
  assert.match(await page.textContent(teamRow("Writers' room")), /2 members/);

  // Transfer: Cy owns it, Ada becomes an admin (and may leave now).
  await page.selectOption(tid("team-transfer-to"), "user-3");
  await page.click(tid("team-transfer"));
  await page.click(tid("confirm-ok"));
  await page.waitForFunction(() => document.querySelector('[data-testid="team-detail-role"]')?.textContent === "you: admin");
  assert.deepEqual((await teamRequests(page)).pop(), { op: "transfer", team_id: "t1", user_id: "user-3" });
  assert.equal(await page.locator(tid("team-delete")).count(), 0);
  assert.equal(await page.locator(tid("team-leave")).count(), 1);
  assert.equal(await page.locator(`${memberRow("user-3")} ${tid("member-remove")}`).count(), 0, "nobody removes the owner");
  assert.deepEqual(await page.locator(`${tid("invite-role")} option`).allTextContents(), ["admin", "editor", "viewer"]);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("teams: a viewer sees Leave and no invite form; leaving drops the team", async () => {
  const page = await openApp(browser, server.url);
  await openTeams(page);
  await page.click(teamRow("Design guild"));
  await page.waitForSelector(`${tid("team-title")}:has-text("Design guild")`);
  assert.equal(await page.locator(tid("member-row")).count(), 2);
  assert.equal(await page.locator(tid("invite-email")).count(), 0);
  assert.equal(await page.locator(tid("invite-submit")).count(), 0);
  assert.equal(await page.locator(tid("member-role")).count(), 0);
  assert.equal(await page.locator(tid("member-remove")).count(), 0);
  assert.equal(await page.locator(tid("team-delete")).count(), 0);
  assert.equal(await page.locator(tid("team-transfer")).count(), 0);
  await page.click(tid("team-leave"));
  await page.click(tid("confirm-ok"));
  await page.waitForSelector(teamRow("Design guild"), { state: "detached" });
  assert.deepEqual(await teamRequests(page), [{ op: "leave", team_id: "t2" }]);
  assert.equal(await page.locator(tid("team-detail")).count(), 0);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("teams: offline or signed out, the action is refused in words that name the sync server", async () => {
  const page = await openApp(browser, server.url);
  await openTeams(page);
  await page.evaluate(() => window.__fake.setStatus({ state: "offline", reason: "No network" }));
  await page.click(teamRow("Writers' room"));
  await page.fill(tid("invite-email"), "dee@example.com");
  await page.click(tid("invite-submit"));
  await page.waitForSelector(tid("team-error"));
  assert.match(await page.textContent(tid("team-error")), /Teams need the sync server: The sync server cannot be reached\. Could not invite dee@example\.com/);
  assert.deepEqual(await teamRequests(page), [{ op: "invite", team_id: "t1", email: "dee@example.com", role: "editor" }]);
  assert.equal(await page.inputValue(tid("invite-email")), "dee@example.com", "nothing typed is lost");

  await page.fill(tid("team-name"), "Offline crew");
  await page.click(tid("team-create"));
  await page.waitForSelector(`${tid("team-create-form")} ${tid("team-error")}:has-text("Teams need the sync server")`);
  assert.equal(await page.locator(teamRow("Offline crew")).count(), 0);
  assert.equal(await page.inputValue(tid("team-name")), "Offline crew");
  await page.closeAll();

  const local = await openApp(browser, server.url, { signedIn: false });
  await openTeams(local);
  await local.fill(tid("team-name"), "Local crew");
  await local.click(tid("team-create"));
  await local.waitForSelector(tid("team-error"));
  assert.match(await local.textContent(tid("team-error")), /Teams need the sync server: This library is not signed in to a sync server/);
  assert.deepEqual(local.errors, []);
  await local.closeAll();
});

test("teams: Ctrl+8 opens Teams, Ctrl+N starts a team; projects show their team", async () => {
  const page = await openApp(browser, server.url);
  await page.keyboard.press("Control+8");
  await page.waitForSelector(tid("team-row"));
  await page.keyboard.press("Control+n");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), "team-name");
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press("Shift+?");
  assert.match(await page.textContent(tid("shortcuts-sheet")), /Ctrl\+1 … Ctrl\+8.*Teams/);
  await page.keyboard.press("Escape");

  await page.click(tid("nav-projects"));
  await page.waitForSelector(`${tid("project-row")}:has-text("Side project") ${tid("team-badge")}`);
  assert.equal(await page.textContent(`${tid("project-row")}:has-text("Side project") ${tid("team-badge")}`), "Team: Writers' room");
  assert.equal(await page.locator(`${tid("project-row")}:has-text("Launch kit") ${tid("team-badge")}`).count(), 0);
  await page.click(`${tid("project-row")}:has-text("Side project")`);
  await page.waitForSelector(`${tid("project-detail")} ${tid("team-badge")}:has-text("Team: Writers' room")`);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});
