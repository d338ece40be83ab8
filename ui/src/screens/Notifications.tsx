import { useCallback, useEffect, useState } from "react";
import { api } from "../api";
import type { Notification } from "../bindings/Notification";
import { useApp } from "../ctx";
import { Empty } from "../ui";
import { fmtDate, nowDate, plural, relTime } from "../util";
import { usePaged } from "./shared";
import { teamIdOf } from "./Teams";

/** The user's notifications with one status ("unread" or "read"), newest first. */
function useNotes(status: "unread" | "read", enabled: boolean, onError: (e: unknown) => void) {
  return usePaged("notifications", { mine: true, status, sort: "created_at" }, onError, enabled);
}

export function NotificationsScreen() {
  const { error, libraryTick, navigate } = useApp();
  const [unreadOnly, setUnreadOnly] = useState(false);
  const unread = useNotes("unread", true, error);
  const read = useNotes("read", !unreadOnly, error);
  const reloadUnread = unread.reload;
  const reloadRead = read.reload;
  const reload = useCallback(() => {
    void reloadUnread();
    void reloadRead();
  }, [reloadUnread, reloadRead]);
  useEffect(reload, [reload, libraryTick]);

  const patch = async (n: Notification, changes: Record<string, unknown>) => {
    try {
      await api.update("notifications", n._id, changes);
    } catch (e) {
      error(e);
    }
  };
  const act = (n: Notification, changes: Record<string, unknown>) => patch(n, changes).then(reload);
  const markRead = (n: Notification) => act(n, { read: true, read_at: nowDate() });
  const markUnread = (n: Notification) => act(n, { read: false, read_at: null });
  const dismiss = (n: Notification) => act(n, { dismissed: true, dismissed_at: nowDate() });
  const markAllRead = async () => {
    await Promise.all((unread.items ?? []).map((n) => patch(n, { read: true, read_at: nowDate() })));
    reload();
  };

  const ready = unread.items != null && (unreadOnly || read.items != null);
  const shownCount = (unread.items?.length ?? 0) + (unreadOnly ? 0 : read.items?.length ?? 0);

  const row = (n: Notification) => (
    <li key={n._id} className={"notification " + n.type + (n.read ? " read" : " unread")} data-testid="notification-row">
      <div className="n-main">
        <div className="n-title">
          {!n.read && <span className="dot unread-dot" aria-label="unread" />}
          <strong>{n.title}</strong> <span className={"chip pri-" + n.priority}>{n.priority}</span>
        </div>
        <div>{n.message}</div>
        <small className="muted" title={fmtDate(n.created_at)}>
          {relTime(n.created_at)} · {n.category}
        </small>
      </div>
      <div className="row-actions">
        {teamIdOf(n.action_url) && (
          <button className="small" onClick={() => navigate({ screen: "teams", id: teamIdOf(n.action_url) ?? undefined })} data-testid="notification-open-teams">
            {n.action_text || "Open Teams"}
          </button>
        )}
        {n.read ? (
          <button className="small" onClick={() => markUnread(n)} data-testid="mark-unread">
            Mark unread
          </button>
        ) : (
          <button className="small" onClick={() => markRead(n)} data-testid="mark-read">
            Mark read
          </button>
        )}
        <button className="small" onClick={() => dismiss(n)} data-testid="dismiss">
          Dismiss
        </button>
      </div>
    </li>
  );

  return (
    <div className="page">
      <div className="page-head">
        <h1>Notifications</h1>
        <span className="muted" data-testid="unread-count">
          {plural(unread.total, "unread", "unread")}
        </span>
        <div className="tabs" role="tablist">
          <button role="tab" aria-selected={unreadOnly} className={unreadOnly ? "active" : ""} onClick={() => setUnreadOnly(true)} data-testid="notifications-tab-unread">
            Unread
          </button>
          <button role="tab" aria-selected={!unreadOnly} className={!unreadOnly ? "active" : ""} onClick={() => setUnreadOnly(false)} data-testid="notifications-tab-all">
            All
          </button>
        </div>
        <span className="spacer" />
        <button disabled={(unread.items?.length ?? 0) === 0} onClick={markAllRead} data-testid="mark-all-read">
          Mark all read
        </button>
      </div>
      {ready && shownCount === 0 && (
        <Empty testid="notifications-empty">{unreadOnly ? "All caught up — nothing unread." : "No notifications. News about sales, reviews and your account shows up here."}</Empty>
      )}
      <ul className="notifications" data-testid="notifications-unread">
        {unread.items?.map(row)}
      </ul>
      {unread.hasMore && (
        <button className="load-more" onClick={unread.more} data-testid="unread-more">
          Load more unread
        </button>
      )}
      {!unreadOnly && (
        <>
          {(read.items?.length ?? 0) > 0 && (unread.items?.length ?? 0) > 0 && <h3 className="muted section-head">Earlier</h3>}
          <ul className="notifications" data-testid="notifications-read">
            {read.items?.map(row)}
          </ul>
          {read.hasMore && (
            <button className="load-more" onClick={read.more} data-testid="read-more">
              Load more
            </button>
          )}
        </>
      )}
    </div>
  );
}
