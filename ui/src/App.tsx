import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api } from "./api";
import type { AppInfo } from "./bindings/AppInfo";
import type { SyncStatus } from "./bindings/SyncStatus";
import { AppCtx, SCREENS, type Ctx, type Screen, type Target } from "./ctx";
import { applyTheme } from "./theme";
import { applyLanguage, command, errMsg } from "./util";
import { Modal } from "./ui";
import { StatusBar } from "./StatusBar";
import { PromptsScreen } from "./screens/prompts/List";
import { IdeasScreen } from "./screens/Ideas";
import { ProjectsScreen } from "./screens/Projects";
import { MarketplaceScreen } from "./screens/Marketplace";
import { NotificationsScreen } from "./screens/Notifications";
import { SettingsScreen } from "./screens/Settings";
import { ProfileScreen } from "./screens/Profile";
import { TeamsScreen } from "./screens/Teams";

// The charts library loads with the screen that draws charts, not at start-up.
const DashboardsScreen = lazy(() =>
  import("./screens/dashboards/Dashboards").then((m) => ({ default: m.DashboardsScreen })),
);

type Toast = { id: number; kind: "error" | "info"; text: string };

const SHORTCUTS: [string, string][] = [
  ["Ctrl+N", "New item on the current screen"],
  ["Ctrl+S", "Save"],
  ["Ctrl+F or /", "Focus search"],
  ["Ctrl+1 … Ctrl+8", "Prompts, Ideas, Projects, Marketplace, Notifications, Settings, Profile, Teams"],
  ["Ctrl+9", "Dashboards"],
  ["Ctrl+Shift+S", "Sync now"],
  ["Escape", "Close dialog"],
  ["?", "This sheet"],
];

function isTyping(el: Element | null): boolean {
  if (!el) return false;
  const tag = el.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (el as HTMLElement).isContentEditable;
}

export function App() {
  const [info, setInfo] = useState<AppInfo | null>(null);
  const [status, setStatus] = useState<SyncStatus | null>(null);
  const [target, setTarget] = useState<Target>({ screen: "prompts" });
  const [libraryTick, setLibraryTick] = useState(0);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [balance, setBalance] = useState<number | null>(null);
  const [sheet, setSheet] = useState(false);
  const toastId = useRef(0);

  const push = useCallback((kind: Toast["kind"], text: string) => {
    const id = ++toastId.current;
    setToasts((t) => [...t.slice(-4), { id, kind, text }]);
    if (kind === "info") setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 4000);
  }, []);
  const error = useCallback((err: unknown) => push("error", errMsg(err)), [push]);
  const notify = useCallback((text: string) => push("info", text), [push]);

  const refreshInfo = useCallback(async () => {
    try {
      setInfo(await api.appInfo());
    } catch (e) {
      error(e);
    }
  }, [error]);

  useEffect(() => {
    void refreshInfo();
    api.settings().then(
      (s) => {
        applyTheme(s.theme);
        applyLanguage(s.language);
      },
      () => applyTheme("system"),
    );
    api.syncStatus().then(setStatus, () => undefined);
    const unsub: Promise<() => void>[] = [
      api.onSyncStatus((s) => setStatus(s)),
      api.onLibraryChanged(() => setLibraryTick((n) => n + 1)),
    ];
    return () => {
      unsub.forEach((p) => p.then((f) => f(), () => undefined));
    };
  }, [refreshInfo]);

  const syncNow = useCallback(() => {
    api.syncNow().then(
      () => notify("Sync started"),
      (e) => error(e),
    );
  }, [error, notify]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      const k = e.key.toLowerCase();
      const modalOpen = document.querySelector(".modal") !== null;
      if (mod && e.shiftKey && k === "s") {
        e.preventDefault();
        syncNow();
        return;
      }
      if (mod && !e.shiftKey && !e.altKey) {
        if (k === "s") {
          e.preventDefault();
          command("save");
          return;
        }
        if (k === "n") {
          e.preventDefault();
          if (!modalOpen) command("new");
          return;
        }
        if (k === "f") {
          e.preventDefault();
          if (!modalOpen) command("search");
          return;
        }
        const n = parseInt(e.key, 10);
        if (n >= 1 && n <= SCREENS.length) {
          e.preventDefault();
          if (!modalOpen) setTarget({ screen: SCREENS[n - 1].id });
          return;
        }
      }
      if (!mod && !e.altKey && !isTyping(document.activeElement) && !modalOpen) {
        if (e.key === "/") {
          e.preventDefault();
          command("search");
        } else if (e.key === "?") {
          e.preventDefault();
          setSheet(true);
        }
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [syncNow]);

  const ctx: Ctx = useMemo(
    () => ({
      info,
      refreshInfo,
      status,
      libraryTick,
      bumpLibrary: () => setLibraryTick((n) => n + 1),
      navigate: (t: Target) => setTarget(t),
      target,
      error,
      notify,
      balance,
      setBalance,
    }),
    [info, refreshInfo, status, libraryTick, target, error, notify, balance],
  );

  const screen: Screen = target.screen;

  return (
    <AppCtx.Provider value={ctx}>
      <div className="app">
        <nav className="sidebar" aria-label="Main">
          <div className="brand">PromptForge</div>
          {SCREENS.map((s, i) => (
            <button
              key={s.id}
              className={"nav" + (screen === s.id ? " active" : "")}
              data-testid={"nav-" + s.id}
              aria-current={screen === s.id ? "page" : undefined}
              title={`${s.label} (Ctrl+${i + 1})`}
              onClick={() => setTarget({ screen: s.id })}
            >
              <span className="nav-icon" aria-hidden>
                {s.icon}
              </span>
              <span>{s.label}</span>
            </button>
          ))}
          <div className="spacer" />
          <button className="nav small" onClick={() => setSheet(true)} data-testid="shortcuts-button">
            Keyboard shortcuts (?)
          </button>
        </nav>
        <main className="content">
          {screen === "prompts" && <PromptsScreen />}
          {screen === "ideas" && <IdeasScreen />}
          {screen === "projects" && <ProjectsScreen />}
          {screen === "marketplace" && <MarketplaceScreen />}
          {screen === "notifications" && <NotificationsScreen />}
          {screen === "settings" && <SettingsScreen />}
          {screen === "profile" && <ProfileScreen />}
          {screen === "teams" && <TeamsScreen />}
          {screen === "dashboards" && (
            <Suspense fallback={<p className="muted">Loading…</p>}>
              <DashboardsScreen />
            </Suspense>
          )}
        </main>
        <StatusBar onSyncNow={syncNow} />
        <div className="toasts" aria-live="polite">
          {toasts.map((t) => (
            <div key={t.id} className={"toast " + t.kind} role={t.kind === "error" ? "alert" : "status"} data-testid={t.kind === "error" ? "error-toast" : "info-toast"}>
              <span>{t.text}</span>
              <button className="icon" aria-label="Dismiss" data-testid="toast-dismiss" onClick={() => setToasts((x) => x.filter((y) => y.id !== t.id))}>
                ×
              </button>
            </div>
          ))}
        </div>
        {sheet && (
          <Modal title="Keyboard shortcuts" onClose={() => setSheet(false)} testid="shortcuts-sheet">
            <table className="shortcuts">
              <tbody>
                {SHORTCUTS.map(([k, d]) => (
                  <tr key={k}>
                    <td>
                      <kbd>{k}</kbd>
                    </td>
                    <td>{d}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Modal>
        )}
      </div>
    </AppCtx.Provider>
  );
}
