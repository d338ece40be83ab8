// The one door to the Rust side: every Tauri command the desktop app offers,
// typed with the declarations generated from the Rust types (src/bindings).
// Documents cross as MongoDB relaxed Extended JSON: dates are { $date: iso }.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

import type { AccountInfo } from "./bindings/AccountInfo";
import type { AppInfo } from "./bindings/AppInfo";
import type { AppError } from "./bindings/AppError";
import type { AttentionItem } from "./bindings/AttentionItem";
import type { Conflict } from "./bindings/Conflict";
import type { Dashboard } from "./bindings/Dashboard";
import type { DashboardRequest } from "./bindings/DashboardRequest";
import type { DocumentPage } from "./bindings/DocumentPage";
import type { Idea } from "./bindings/Idea";
import type { ListRequest } from "./bindings/ListRequest";
import type { MarketDone } from "./bindings/MarketDone";
import type { MarketplaceListing } from "./bindings/MarketplaceListing";
import type { MarketplacePurchase } from "./bindings/MarketplacePurchase";
import type { Notification } from "./bindings/Notification";
import type { PresenceView } from "./bindings/PresenceView";
import type { Project } from "./bindings/Project";
import type { Prompt } from "./bindings/Prompt";
import type { PromptVersion } from "./bindings/PromptVersion";
import type { Resolution } from "./bindings/Resolution";
import type { Review } from "./bindings/Review";
import type { Settings } from "./bindings/Settings";
import type { ShareDone } from "./bindings/ShareDone";
import type { ShareRequest } from "./bindings/ShareRequest";
import type { SyncStatus } from "./bindings/SyncStatus";
import type { Team } from "./bindings/Team";
import type { TeamRequest } from "./bindings/TeamRequest";
import type { UiEvent } from "./bindings/UiEvent";
import type { User } from "./bindings/User";

/** The document type stored in each collection the UI works with. */
export type Documents = {
  prompts: Prompt;
  prompt_versions: PromptVersion;
  ideas: Idea;
  projects: Project;
  marketplace_listings: MarketplaceListing;
  marketplace_purchases: MarketplacePurchase;
  notifications: Notification;
  reviews: Review;
  teams: Team;
  users: User;
};
export type CollectionName = keyof Documents;

/** A page of documents of one collection. */
export type Page<C extends CollectionName> = Omit<DocumentPage, "items"> & { items: Documents[C][] };

/** Field changes by dotted path, e.g. { title: "New", "timeline.milestones": [...] }. */
export type Changes = Record<string, unknown>;

/** Every command rejects with an AppError: { code, message }. */
export function isAppError(err: unknown): err is AppError {
  return typeof err === "object" && err !== null && "code" in err && "message" in err;
}

export const api = {
  appInfo: () => invoke<AppInfo>("app_info"),
  /** Tells the app the first screen is drawn (startup measurement). */
  uiReady: () => invoke<void>("ui_ready"),

  list: <C extends CollectionName>(collection: C, query: ListRequest) =>
    invoke<Page<C>>("list_documents", { collection, query }),
  get: <C extends CollectionName>(collection: C, id: string) =>
    invoke<Documents[C] | null>("get_document", { collection, id }),
  /** Creates a prompt, idea, project or listing; `fields` may set any field. */
  create: <C extends CollectionName>(collection: C, fields: Changes) =>
    invoke<Documents[C]>("create_document", { collection, fields }),
  update: <C extends CollectionName>(collection: C, id: string, changes: Changes) =>
    invoke<Documents[C]>("update_document", { collection, id, changes }),
  /** Moves to the trash (soft delete); `restore` brings it back. */
  remove: <C extends CollectionName>(collection: C, id: string) =>
    invoke<Documents[C]>("delete_document", { collection, id }),
  restore: <C extends CollectionName>(collection: C, id: string) =>
    invoke<Documents[C]>("restore_document", { collection, id }),

  promptVersions: (promptId: string) => invoke<PromptVersion[]>("prompt_versions", { promptId }),
  restorePromptVersion: (promptId: string, number: number) =>
    invoke<Prompt>("restore_prompt_version", { promptId, number }),
  /** A copy of a prompt (or a template) whose parent_prompt_id is the original. */
  forkPrompt: (promptId: string, changes: Changes = {}) =>
    invoke<Prompt>("fork_prompt", { promptId, changes }),

  syncStatus: () => invoke<SyncStatus>("sync_status"),
  syncNow: () => invoke<void>("sync_now"),
  conflicts: (includeResolved = false) => invoke<Conflict[]>("list_conflicts", { includeResolved }),
  resolveConflict: (id: string, resolution: Resolution) =>
    invoke<Conflict>("resolve_conflict", { id, resolution }),
  attention: () => invoke<AttentionItem[]>("list_attention"),
  settleAttention: (mutationId: number, retry: boolean) =>
    invoke<void>("settle_attention", { mutationId, retry }),

  /** Which prompt the editor has open (null: none) and whether it holds unsaved edits. */
  setPresence: (promptId: string | null, editing: boolean) => invoke<void>("set_presence", { promptId, editing }),
  /** Takes or renews the open prompt's soft lock for `lockSecs` seconds; null gives it up. Needs the sync server. */
  lockPrompt: (lockSecs: number | null) => invoke<PresenceView>("lock_prompt", { lockSecs }),

  settings: () => invoke<Settings>("get_settings"),
  saveSettings: (settings: Settings) => invoke<Settings>("save_settings", { settings }),
  signIn: (email: string, password: string, attachLibrary: boolean) =>
    invoke<AccountInfo>("sign_in", { email, password, attachLibrary }),
  /**
   * Creates an account on the sign-in service, then signs in as sign_in does.
   * Refusals: `email_in_use`, `weak_password`, `invalid_email`, `not_configured`, `offline`.
   */
  signUp: (email: string, password: string, attachLibrary: boolean) =>
    invoke<AccountInfo>("sign_up", { email, password, attachLibrary }),
  /** Asks the sign-in service to email a reset link; it never says whether an account uses the email. */
  sendPasswordReset: (email: string) => invoke<void>("send_password_reset", { email }),
  signOut: () => invoke<void>("sign_out"),

  publishListing: (listingId: string) => invoke<MarketDone>("publish_listing", { listingId }),
  buyListing: (listingId: string, expectedPrice: number) =>
    invoke<MarketDone>("buy_listing", { listingId, expectedPrice }),
  refundPurchase: (purchaseId: string, reason: string) =>
    invoke<MarketDone>("refund_purchase", { purchaseId, reason }),
  /** Rating 1-5 and the review's text. */
  reviewPurchase: (purchaseId: string, rating: number, review: string) =>
    invoke<MarketDone>("review_purchase", { purchaseId, rating, review }),

  /**
   * One team operation (create, invite, accept, …); needs the sync server.
   * Answers the team as now stored (after `decline`, only its id and name);
   * a refusal rejects with its reason as the code (`forbidden`, `unknown_email`, …).
   */
  teamRequest: (request: TeamRequest) => invoke<Team>("team_request", { request }),
  /**
   * Shares a prompt, idea or project by email, takes it back from someone, or
   * lists who has it; only its owner may ask, and it needs the sync server (never
   * queued). Answers who has it now; a refusal rejects with its reason as the code
   * (`forbidden`, `unknown_email`, `invalid`, `not_found`).
   */
  shareRequest: (request: ShareRequest) => invoke<ShareDone>("share_request", { request }),

  /**
   * The creator's and seller's numbers, per period, computed from the local
   * store alone (works offline).
   */
  dashboard: (request: DashboardRequest) => invoke<Dashboard>("dashboard", { request }),
  /**
   * Records a usage event; the Rust side drops it when analytics are off, so
   * the UI always reports. Prefer `record` (src/events.ts), which never throws.
   */
  recordEvent: (report: UiEvent) => invoke<null>("record_event", { report }),

  /** Sync status pushed by the background sync (event "sync-status"). */
  onSyncStatus: (handler: (status: SyncStatus) => void): Promise<UnlistenFn> =>
    listen<SyncStatus>("sync-status", (event) => handler(event.payload)),
  /** The library changed underneath the UI (a sync brought news). */
  onLibraryChanged: (handler: () => void): Promise<UnlistenFn> =>
    listen<void>("library-changed", () => handler()),
  /** Who else has the open prompt open, and its soft lock (event "presence"; null: nothing to show). */
  onPresence: (handler: (view: PresenceView | null) => void): Promise<UnlistenFn> =>
    listen<PresenceView | null>("presence", (event) => handler(event.payload ?? null)),
};
