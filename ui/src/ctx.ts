import { createContext, useContext } from "react";
import type { AppInfo } from "./bindings/AppInfo";
import type { SyncStatus } from "./bindings/SyncStatus";

export type Screen = "prompts" | "ideas" | "projects" | "marketplace" | "notifications" | "settings" | "profile" | "teams" | "dashboards";

export const SCREENS: { id: Screen; label: string; icon: string }[] = [
  { id: "prompts", label: "Prompts", icon: "✎" },
  { id: "ideas", label: "Ideas", icon: "✦" },
  { id: "projects", label: "Projects", icon: "▦" },
  { id: "marketplace", label: "Marketplace", icon: "⛁" },
  { id: "notifications", label: "Notifications", icon: "◉" },
  { id: "settings", label: "Settings", icon: "⚙" },
  { id: "profile", label: "Profile", icon: "☺" },
  // Added screens go last, so Ctrl+1 … Ctrl+7 keep their screens; Teams is Ctrl+8, Dashboards Ctrl+9.
  { id: "teams", label: "Teams", icon: "⚑" },
  { id: "dashboards", label: "Dashboards", icon: "▥" },
];

/** Where to go, and optionally what to open there. */
export type Target = { screen: Screen; id?: string };

export type Ctx = {
  info: AppInfo | null;
  refreshInfo: () => Promise<void>;
  status: SyncStatus | null;
  /** Bumped whenever the library changed underneath (sync) — refetch. */
  libraryTick: number;
  bumpLibrary: () => void;
  navigate: (t: Target) => void;
  target: Target;
  error: (err: unknown) => void;
  notify: (text: string) => void;
  /** Latest known credit balance (from the user doc or a market answer). */
  balance: number | null;
  setBalance: (n: number | null) => void;
};

export const AppCtx = createContext<Ctx>(null as unknown as Ctx);
export const useApp = () => useContext(AppCtx);
