// Runs a parity scenario (scenario.json) through ui/tests/fake-backend.js in a
// plain Node context and prints every step's outcome as JSON lines:
// {"ok": answer} or {"err": {code, message}}. tests/tests/desktop_commands.rs
// compares them with the real commands' outcomes.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import vm from "node:vm";

const here = fileURLToPath(new URL(".", import.meta.url));
const scenario = JSON.parse(readFileSync(process.argv[2] || join(here, "scenario.json"), "utf8"));
const window = { __FAKE_OPTIONS__: scenario.fake_options };
const sandbox = vm.createContext({ window, setTimeout, console });
for (const file of ["fake-server.js", "fake-insights.js", "fake-backend.js"]) vm.runInContext(readFileSync(join(here, "..", file), "utf8"), sandbox);

function at(value, path) {
  for (const part of path.split(".").filter(Boolean)) value = value == null ? undefined : value[part];
  return value;
}
function resolve(args, answers) {
  if (typeof args === "string" && args.startsWith("$")) {
    const [name, ...rest] = args.slice(1).split(".");
    return at(answers[name], rest.join("."));
  }
  if (Array.isArray(args)) return args.map((a) => resolve(a, answers));
  if (args && typeof args === "object") return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, resolve(v, answers)]));
  return args;
}

const answers = {};
for (const step of scenario.steps) {
  let outcome;
  try {
    const answer = await window.__TAURI_INTERNALS__.invoke(step.cmd, resolve(step.args, answers));
    answers[step.name] = answer;
    outcome = { ok: answer === undefined ? null : answer };
  } catch (e) {
    outcome = { err: { code: e && e.code, message: e && e.message } };
  }
  process.stdout.write(JSON.stringify(outcome) + "\n");
}
