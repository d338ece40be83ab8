// The window check of scripts/test-package.sh: opens a WebDriver session on
// Debian's WebKitWebDriver that launches the INSTALLED app, checks that its
// window shows the prompt list of an empty library, and quits the app as a
// desktop session does (SIGTERM), checking it closed its library. Plain
// W3C WebDriver over HTTP with Node's fetch: no npm package needed.
//
//   node scripts/test-package-webdriver.mjs DRIVER_URL APP_BINARY DATA_DIR [SCREENSHOT.png]

import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [driverUrl, binary, dataDir, screenshot] = process.argv.slice(2);
if (!dataDir) {
  console.error("usage: test-package-webdriver.mjs DRIVER_URL APP_BINARY DATA_DIR [SCREENSHOT.png]");
  process.exit(2);
}
const STEP_MS = 60_000; // a cold start of a debug build under Xvfb on a busy machine
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (message) => console.log(`test-package: ${message}`);

class WebDriverError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

async function call(method, path, body) {
  const response = await fetch(driverUrl + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json; charset=utf-8" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(STEP_MS),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const { error = response.status, message = "" } = answer.value ?? {};
    throw new WebDriverError(`${method} ${path}: ${error}: ${message}`, error);
  }
  return answer.value;
}

/** Retries `step` until it returns something other than undefined, or fails after STEP_MS. */
async function until(what, step) {
  const deadline = Date.now() + STEP_MS;
  let last;
  for (;;) {
    try {
      const value = await step();
      if (value !== undefined) return value;
    } catch (err) {
      if (err.cause === "fatal") throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`waited ${STEP_MS / 1000} s for ${what}${last ? `: ${last.message}` : ""}`);
    }
    await sleep(250);
  }
}

const css = (testId) => `[data-testid="${testId}"]`;
let session;
const run = (script, ...args) => call("POST", `/session/${session}/execute/sync`, { script, args });
const textOf = (testId) =>
  run("const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;", css(testId));
/** The processes whose parent is `pid`. */
const children = (pid) =>
  readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        // The fields after the command's closing parenthesis: state, then ppid.
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
const alive = (pid) => {
  try {
    // A zombie (exited, not yet reaped by the driver) counts as gone.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
};

async function main() {
  // The driver launches the app itself, with the driver's environment (the
  // shell gave it a fresh HOME and XDG directories, and the automation flag).
  const capabilities = { "webkitgtk:browserOptions": { binary, args: [] } };
  // Retried only while the driver is not listening yet: a refused session
  // (the app did not start) fails at once.
  session = await until("WebKitWebDriver to listen", async () => {
    try {
      return (await call("POST", "/session", { capabilities: { alwaysMatch: capabilities } })).sessionId;
    } catch (err) {
      if (err instanceof WebDriverError) throw new Error(`no WebDriver session with the app: ${err.message}`, { cause: "fatal" });
      throw err;
    }
  });
  say(`WebDriver session ${session} on ${binary}`);

  // The first screen of an empty local library: the prompts screen, its list
  // and its empty-state line, and the count over the list.
  await until("the Prompts navigation entry", () => call("POST", `/session/${session}/element`, { using: "css selector", value: css("nav-prompts") }));
  await until("the prompt list", () => call("POST", `/session/${session}/element`, { using: "css selector", value: css("prompt-list") }));
  const empty = await until("the empty library's line in the prompt list", async () =>
    (await run("const e = document.querySelector(arguments[0] + ' ' + arguments[1]); return e ? e.textContent.trim() : null;", css("prompt-list"), css("prompts-empty"))) ?? undefined,
  );
  const total = await until("the library's prompt count", async () => {
    const text = await textOf("library-total");
    return text && text !== "…" ? text : undefined;
  });
  if (!/^0 prompts$/.test(total)) throw new Error(`the prompt count says "${total}", not "0 prompts", on a fresh library`);
  const title = await call("GET", `/session/${session}/title`);
  say(`the window ("${title}") shows the prompt list: "${total}", "${empty}"`);

  if (screenshot) {
    // Two animation frames first: a WebDriver screenshot can show the first painted frame.
    await call("POST", `/session/${session}/execute/async`, {
      script: "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()));",
      args: [],
    });
    writeFileSync(screenshot, Buffer.from(await call("GET", `/session/${session}/screenshot`), "base64"));
    say(`screenshot: ${screenshot}`);
  }

  // Quit as a desktop session does at logout. (WebDriver's close-window only
  // destroys the web view and leaves the app running.)
  const pid = Number(readFileSync(join(dataDir, "instance.lock"), "utf8").trim());
  if (!pid) throw new Error(`${join(dataDir, "instance.lock")} names no process`);
  // Its WebKit processes outlive it for a moment (and write to the cache in HOME).
  const helpers = children(pid);
  process.kill(pid, "SIGTERM");
  await until(`the app (pid ${pid}) to exit after SIGTERM`, async () => (alive(pid) ? undefined : true));
  await until(`the app's WebKit processes (${helpers.join(", ")}) to exit`, async () => (helpers.some(alive) ? undefined : true));
  await call("DELETE", `/session/${session}`).catch(() => {});
  const logDir = join(dataDir, "logs");
  const log = readdirSync(logDir)
    .sort()
    .map((file) => readFileSync(join(logDir, file), "utf8"))
    .join("");
  if (!log.includes("library closed; the app exits")) {
    throw new Error(`the app exited without closing its library; its log (${logDir}):\n${log}`);
  }
  say(`the app (pid ${pid}) quit on SIGTERM and closed its library; its WebKit processes (${helpers.join(", ")}) exited`);
}

main().catch(async (err) => {
  console.error(`test-package: FAIL: ${err.message}`);
  if (session) {
    // What the window showed instead, for the report.
    const url = await call("GET", `/session/${session}/url`).catch((e) => e.message);
    const source = await call("GET", `/session/${session}/source`).catch((e) => e.message);
    console.error(`--- the window's page (${url}):\n${String(source).slice(0, 2000)}`);
    // An empty #root: the UI's bundle threw while loading. Loading it again
    // (a new module instance) shows the error.
    const loadError = await call("POST", `/session/${session}/execute/async`, {
      script: `const done = arguments[0];
        const root = document.getElementById("root"), main = document.querySelector("script[type=module][src]");
        if (!root || root.children.length || !main) return done(null);
        import(main.src + "?diagnose=" + Date.now()).then(() => done("the bundle loads when imported again"), (e) => done(String(e)));`,
      args: [],
    }).catch(() => null);
    if (loadError) console.error(`--- the UI did not render; loading its bundle fails with: ${loadError}`);
  }
  process.exit(1);
});
