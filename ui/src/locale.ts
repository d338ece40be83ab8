// Imported first by main.tsx. WebKitGTK reports the POSIX locale's name as
// navigator.language when LANG=C ("C"), which every Intl constructor
// rejects; uPlot formats numbers with it as its module loads, so one bad
// tag would leave the whole window blank. Such a tag falls back to en-US.
function usable(tag: string | undefined): boolean {
  try {
    return !!tag && !!new Intl.NumberFormat(tag);
  } catch {
    return false;
  }
}

if (typeof navigator !== "undefined" && !usable(navigator.language)) {
  Object.defineProperty(navigator, "language", { value: "en-US", configurable: true });
  Object.defineProperty(navigator, "languages", { value: ["en-US"], configurable: true });
}

export {};
