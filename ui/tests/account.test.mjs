// First run in the browser with the fake backend: creating an account, its
// refusals, the password-reset flow, the Advanced (self-hosting) settings,
// and the signed-in state in the status bar and Profile.
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
const SIGNED_OUT = /Signing out keeps your library on this computer: it keeps working offline, and signing in again resumes syncing\./;

/** Opens Settings signed out and switches to "Create account". */
async function signUpForm(page) {
  await page.click(tid("nav-settings"));
  await page.click(tid("auth-mode-signup"));
  await page.waitForSelector(tid("sign-up-form"));
}

async function signUp(page, email, password, confirm = password) {
  await page.fill(tid("signup-email"), email);
  await page.fill(tid("signup-password"), password);
  await page.fill(tid("signup-confirm"), confirm);
  await page.click(tid("signup-submit"));
}

test("account: create an account; the status bar and Profile show who is signed in", async () => {
  const page = await openApp(browser, server.url, { signedIn: false });
  assert.match(await text(page, "status-account"), /Local only/);
  await page.click(tid("nav-settings"));
  // Sign in is the first tab; the other one creates an account.
  assert.equal(await page.getAttribute(tid("auth-mode-signin"), "aria-selected"), "true");
  assert.equal(await page.locator(tid("signup-email")).count(), 0);
  await page.fill(tid("signin-email"), "new@example.com");
  await page.click(tid("auth-mode-signup"));
  assert.equal(await page.getAttribute(tid("auth-mode-signup"), "aria-selected"), "true");
  assert.equal(await page.locator(tid("sign-in-form")).count(), 0);
  // The email typed for sign-in carries over; the library is attached unless unticked.
  assert.equal(await page.inputValue(tid("signup-email")), "new@example.com");
  assert.equal(await page.isChecked(tid("signup-attach")), true);
  await signUp(page, "new@example.com", "secret1");

  await page.waitForSelector(tid("account-email"));
  assert.equal(await text(page, "account-email"), "new@example.com");
  assert.deepEqual(await calls(page, "sign_up"), [{ email: "new@example.com", password: "secret1", attachLibrary: true }]);
  assert.deepEqual(await calls(page, "sign_in"), []);
  assert.match(await text(page, "info-toast"), /Account created\. Signed in as new@example\.com/);
  // Settings' sign-out says what happens to the library too.
  assert.match(await text(page, "sign-out-note"), SIGNED_OUT);
  // The status bar names the account and opens Profile, which shows it as well.
  await page.waitForFunction(() => document.querySelector('[data-testid="status-account"]').textContent.includes("new@example.com"));
  assert.doesNotMatch(await text(page, "status-account"), /Local only/);
  assert.doesNotMatch(await text(page, "sync-indicator"), /Local only/);
  await page.click(tid("status-account"));
  await page.waitForSelector(tid("profile-account-email"));
  assert.equal(await text(page, "profile-account-email"), "new@example.com");
  assert.match(await text(page, "profile-account"), /syncs with sync\.example\.com/);
  assert.equal(await page.locator(tid("profile-local-only")).count(), 0);
  // A new account's email waits for its verification link.
  await page.waitForSelector(tid("profile-unverified"));
  assert.match(await text(page, "profile-unverified"), /not verified yet/);
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});

test("account: an email already in use is named, with sign-in or a reset offered", async () => {
  const page = await openApp(browser, server.url, { signedIn: false, localDocuments: 0 });
  await signUpForm(page);
  // No local library, nothing to attach.
  assert.equal(await page.locator(tid("signup-attach")).count(), 0);
  await signUp(page, "ada@example.com", "secret1");
  await page.waitForSelector(tid("signup-message"));
  assert.match(await text(page, "signup-message"), /An account already uses this email\. Sign in instead, or reset the password\./);
  assert.equal(await page.getAttribute(tid("signup-message"), "role"), "alert");
  assert.deepEqual(await calls(page, "sign_up"), [{ email: "ada@example.com", password: "secret1", attachLibrary: true }]);
  assert.equal(await page.locator(tid("account-email")).count(), 0);
  assert.match(await text(page, "status-account"), /Local only/);
  // "Reset the password" goes to the reset form with the email filled in.
  await page.click(tid("signup-go-reset"));
  await page.waitForSelector(tid("reset-email"));
  assert.equal(await page.inputValue(tid("reset-email")), "ada@example.com");
  assert.equal(await page.inputValue(tid("signin-email")), "ada@example.com");
  // Back to creating one: "Sign in instead" shows the sign-in form.
  await page.click(tid("auth-mode-signup"));
  await signUp(page, "ada@example.com", "secret1");
  await page.waitForSelector(tid("signup-go-signin"));
  await page.click(tid("signup-go-signin"));
  await page.waitForSelector(tid("sign-in-form"));
  assert.equal(await page.inputValue(tid("signin-email")), "ada@example.com");
  await page.closeAll();
});

test("account: passwords must match and be long enough; the service's refusals are shown", async () => {
  const page = await openApp(browser, server.url, { signedIn: false });
  await signUpForm(page);
  // Checked before anything is sent.
  await signUp(page, "new@example.com", "abc");
  await page.waitForSelector(tid("signup-message"));
  assert.match(await text(page, "signup-message"), /at least 6 characters/);
  await signUp(page, "new@example.com", "secret1", "secret2");
  await page.waitForFunction(() => /do not match/.test(document.querySelector('[data-testid="signup-message"]')?.textContent ?? ""));
  assert.equal(await page.getAttribute(tid("signup-message"), "role"), "alert");
  assert.deepEqual(await calls(page, "sign_up"), []);
  // Editing a field clears the complaint.
  await page.fill(tid("signup-confirm"), "secret1");
  assert.equal(await page.locator(tid("signup-message")).count(), 0);

  // The sign-in service may ask for more than six characters.
  await page.evaluate(() => window.__fake.failNext("sign_up", "weak_password", "Choose a stronger password: it needs a digit and a symbol."));
  await signUp(page, "new@example.com", "secretpassword");
  await page.waitForSelector(tid("signup-message"));
  assert.match(await text(page, "signup-message"), /Choose a stronger password: it needs a digit and a symbol\./);
  assert.equal((await calls(page, "sign_up")).length, 1);
  // Offline: said so, still not signed in.
  await page.evaluate(() => window.__fake.setStatus({ state: "offline", reason: "No network" }));
  await signUp(page, "new@example.com", "secret1");
  await page.waitForFunction(() => /cannot be reached/.test(document.querySelector('[data-testid="signup-message"]')?.textContent ?? ""));
  assert.equal((await calls(page, "sign_up")).length, 2);
  assert.equal(await page.locator(tid("account-email")).count(), 0);

  // The fake refuses as the app does (these never get past the form).
  const refusal = (args) => page.evaluate((a) => window.__TAURI_INTERNALS__.invoke("sign_up", a).then(() => null, (e) => e.code), args);
  await page.evaluate(() => window.__fake.setStatus({ state: "up_to_date" }));
  assert.equal(await refusal({ email: "x@example.com", password: "abc", attachLibrary: true }), "weak_password");
  assert.equal(await refusal({ email: "not an email", password: "secret1", attachLibrary: true }), "invalid_email");
  await page.closeAll();
});

test("account: forgot password sends a reset link, whoever the email belongs to", async () => {
  const page = await openApp(browser, server.url, { signedIn: false });
  await page.click(tid("nav-settings"));
  // Without an email typed, the reset form asks for one.
  await page.click(tid("forgot-password"));
  await page.waitForSelector(tid("reset-email"));
  assert.equal(await page.inputValue(tid("reset-email")), "");
  await page.click(tid("reset-submit"));
  await page.waitForSelector(tid("reset-message"));
  assert.match(await text(page, "reset-message"), /Enter the email of the account\./);
  assert.deepEqual(await calls(page, "send_password_reset"), []);
  await page.click(tid("reset-cancel"));
  assert.equal(await page.locator(tid("reset-email")).count(), 0);

  // The sign-in form's email is used.
  await page.fill(tid("signin-email"), "ada@example.com");
  await page.click(tid("forgot-password"));
  assert.equal(await page.inputValue(tid("reset-email")), "ada@example.com");
  await page.click(tid("reset-submit"));
  await page.waitForFunction(() => /a reset link is on its way/.test(document.querySelector('[data-testid="reset-message"]')?.textContent ?? ""));
  assert.equal(await text(page, "reset-message"), "If an account uses ada@example.com, a reset link is on its way.");
  assert.equal(await page.getAttribute(tid("reset-message"), "role"), "status");
  assert.deepEqual(await calls(page, "send_password_reset"), [{ email: "ada@example.com" }]);
  // An unknown email reads the same.
  await page.fill(tid("reset-email"), "nobody@example.com");
  await page.click(tid("reset-submit"));
  await page.waitForFunction(() => document.querySelector('[data-testid="reset-message"]')?.textContent === "If an account uses nobody@example.com, a reset link is on its way.");
  assert.deepEqual(await page.evaluate(() => window.__fake.resets()), ["ada@example.com", "nobody@example.com"]);

  // Offline: the error is shown in its place.
  await page.evaluate(() => window.__fake.setStatus({ state: "offline", reason: "No network" }));
  await page.click(tid("reset-submit"));
  await page.waitForFunction(() => /cannot be reached/.test(document.querySelector('[data-testid="reset-message"]')?.textContent ?? ""));
  assert.equal(await page.getAttribute(tid("reset-message"), "role"), "alert");
  assert.doesNotMatch(await text(page, "reset-message"), /on its way/);
  assert.equal((await page.evaluate(() => window.__fake.resets())).length, 2);
  await page.closeAll();
});

test("settings: Advanced (self-hosting) is closed when the server is set, open when not", async () => {
  const page = await openApp(browser, server.url, { signedIn: false });
  await page.click(tid("nav-settings"));
  await page.waitForSelector(tid("sign-in-form"));
  assert.match(await text(page, "settings-advanced-summary"), /self-hosting/);
  assert.equal(await page.getAttribute(tid("settings-advanced"), "open"), null);
  assert.equal(await page.isVisible(tid("settings-server-url")), false);
  assert.equal(await page.isVisible(tid("settings-save")), false);
  assert.equal(await text(page, "auth-server"), "Syncs with sync.example.com. To use your own server, see Advanced (self-hosting) below.");
  // A click on the summary opens it.
  await page.click(tid("settings-advanced-summary"));
  await page.waitForSelector(tid("settings-server-url"), { state: "visible" });
  assert.equal(await page.inputValue(tid("settings-server-url")), "https://sync.example.com");
  assert.equal(await page.inputValue(tid("settings-firebase-key")), "fake-api-key");
  await page.click(tid("settings-advanced-summary"));
  await page.waitForSelector(tid("settings-server-url"), { state: "hidden" });
  await page.closeAll();

  // Without an API key it starts open, and the line under the form says where to set it.
  const bare = await openApp(browser, server.url, { signedIn: false, settings: { firebase_api_key: null } });
  await bare.click(tid("nav-settings"));
  await bare.waitForSelector(tid("settings-server-url"), { state: "visible" });
  assert.equal(await bare.getAttribute(tid("settings-advanced"), "open"), "");
  assert.match(await text(bare, "auth-server"), /under Advanced \(self-hosting\)/);
  assert.doesNotMatch(await text(bare, "auth-server"), /Syncs with/);
  // Signing in now is refused in words; filled in and saved, it works (the desktop end-to-end test's way).
  await bare.fill(tid("signin-email"), "ada@example.com");
  await bare.fill(tid("signin-password"), "secret");
  await bare.click(tid("signin-submit"));
  await bare.waitForSelector(tid("error-toast"));
  assert.match(await text(bare, "error-toast"), /Firebase API key/);
  await bare.fill(tid("settings-server-url"), "https://my.server:8443");
  await bare.fill(tid("settings-auth-url"), "http://127.0.0.1:9099");
  await bare.fill(tid("settings-firebase-key"), "KEY");
  await bare.click(tid("settings-save"));
  await bare.waitForFunction(() => /Syncs with my\.server:8443/.test(document.querySelector('[data-testid="auth-server"]').textContent));
  const s = (await calls(bare, "save_settings")).pop().settings;
  assert.deepEqual([s.server_url, s.auth_url, s.firebase_api_key], ["https://my.server:8443", "http://127.0.0.1:9099", "KEY"]);
  // Saving does not snap it shut under the user's hands.
  assert.equal(await bare.isVisible(tid("settings-server-url")), true);
  await bare.click(tid("signin-submit"));
  await bare.waitForSelector(tid("account-email"));
  assert.equal(await text(bare, "account-email"), "ada@example.com");
  await bare.closeAll();
});

test("profile: sign out says what happens to the library and returns to Local only", async () => {
  const page = await openApp(browser, server.url);
  assert.match(await text(page, "status-account"), /ada@example\.com/);
  await page.click(tid("nav-profile"));
  await page.waitForSelector(tid("profile-sign-out"));
  assert.equal(await text(page, "profile-account-email"), "ada@example.com");
  assert.equal(await page.locator(tid("profile-unverified")).count(), 0, "Ada's email is verified");
  assert.match(await text(page, "profile-sign-out-note"), SIGNED_OUT);
  await page.click(tid("profile-sign-out"));
  await page.waitForSelector(tid("profile-local-only"));
  assert.deepEqual(await calls(page, "sign_out"), [{}]);
  assert.match(await text(page, "info-toast"), /Signed out\. Your library stays on this computer and keeps working offline; sign in again to resume syncing\./);
  assert.equal(await page.locator(tid("profile-sign-out")).count(), 0);
  await page.waitForFunction(() => document.querySelector('[data-testid="status-account"]').textContent.includes("Local only"));
  assert.doesNotMatch(await text(page, "status-account"), /ada@example\.com/);
  assert.equal(await text(page, "sync-indicator"), "Local only");
  // The library is still there to edit.
  assert.equal(await page.inputValue(tid("profile-name")), "Ada");
  // From Profile (or the status bar) to the sign-in form.
  await page.click(tid("profile-sign-in"));
  await page.waitForSelector(tid("sign-in-form"));
  await page.click(tid("nav-prompts"));
  await page.click(tid("status-account"));
  await page.waitForSelector(tid("sign-in-form"));
  assert.deepEqual(page.errors, []);
  await page.closeAll();
});
