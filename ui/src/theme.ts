import type { Theme } from "./bindings/Theme";

let current: Theme = "system";
let mq: MediaQueryList | null = null;

function resolve(): "light" | "dark" {
  if (current === "light" || current === "dark") return current;
  return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function paint() {
  const el = document.documentElement;
  el.setAttribute("data-theme", resolve());
  el.setAttribute("data-theme-pref", current);
}

/** Applies a theme at once; "system" follows prefers-color-scheme live. */
export function applyTheme(theme: Theme | null | undefined) {
  current = theme ?? "system";
  if (!mq && window.matchMedia) {
    mq = window.matchMedia("(prefers-color-scheme: dark)");
    mq.addEventListener?.("change", () => paint());
  }
  paint();
}
