import { useEffect, useState } from "react";
import { api } from "../api";
import type { Settings } from "../bindings/Settings";
import type { Theme } from "../bindings/Theme";
import { useApp } from "../ctx";
import { Field, Select, enums } from "../ui";
import { applyTheme } from "../theme";
import { applyLanguage, useCommand } from "../util";
import { AccountForms, SignOut } from "./Account";

const LANGUAGES: [string, string][] = [
  ["en", "English"],
  ["de", "Deutsch"],
  ["fr", "Français"],
  ["es", "Español"],
  ["it", "Italiano"],
  ["pt", "Português"],
  ["ja", "日本語"],
];

/** How long usage events may be kept, in days (the Rust side refuses anything else). */
const RETENTION_MIN = 1;
const RETENTION_MAX = 3650;

/** Whether the sync server and the sign-in service are set (by the user or the distribution's defaults). */
const configured = (x: Settings | null) => !!x?.server_url?.trim() && !!x?.firebase_api_key?.trim();

export function SettingsScreen() {
  const { info, error, notify } = useApp();
  const [s, setS] = useState<Settings | null>(null);
  const [saved, setSaved] = useState<Settings | null>(null);
  // The self-hosting section starts open while the server or sign-in service is not set.
  const [advanced, setAdvanced] = useState(false);
  // The retention as typed; saved when it is a whole number in range and the field is left.
  const [retention, setRetention] = useState("");

  useEffect(() => {
    api.settings().then(
      (x) => {
        setS(x);
        setSaved(x);
        setAdvanced(!configured(x));
        setRetention(String(x.analytics_retention_days));
      },
      error,
    );
  }, [error]);

  const save = async (next = s) => {
    if (!next) return;
    try {
      const r = await api.saveSettings(next);
      setS(r);
      setSaved(r);
      applyLanguage(r.language);
      notify("Settings saved");
    } catch (e) {
      error(e);
    }
  };
  useCommand("save", () => void save());

  // Appearance and analytics are saved at once so they stick; the server settings wait for their Save.
  const saveAtOnce = (change: Partial<Pick<Settings, "theme" | "language" | "analytics_enabled" | "analytics_retention_days">>, done?: string) => {
    if (!s) return;
    setS({ ...s, ...change });
    if (saved) {
      api.saveSettings({ ...saved, ...change }).then(
        (r) => {
          setSaved(r);
          if (done) notify(done);
        },
        (e) => error(e),
      );
    }
  };
  const commitRetention = () => {
    if (!s) return;
    const n = Number(retention.trim());
    if (!Number.isInteger(n) || n < RETENTION_MIN || n > RETENTION_MAX) {
      error(`Keep usage events for ${RETENTION_MIN} to ${RETENTION_MAX} days.`);
      setRetention(String(s.analytics_retention_days));
      return;
    }
    if (n !== s.analytics_retention_days) saveAtOnce({ analytics_retention_days: n }, `Usage events are kept for ${n} ${n === 1 ? "day" : "days"}`);
  };
  const setTheme = (t: Theme) => {
    applyTheme(t);
    saveAtOnce({ theme: t });
  };
  const setLanguage = (language: string) => {
    applyLanguage(language);
    saveAtOnce({ language });
  };

  if (!s) return <p className="muted pad">Loading…</p>;
  const str = (k: keyof Settings) => (s[k] as string | null | undefined) ?? "";
  const setStr = (k: keyof Settings, v: string) => setS({ ...s, [k]: v.trim() === "" ? null : v });
  const account = info?.account ?? null;

  return (
    <div className="page narrow">
      <div className="page-head">
        <h1>Settings</h1>
      </div>
      <fieldset className="form-grid">
        <legend>Appearance</legend>
        <Field label="Theme">
          <Select value={s.theme} options={enums.theme} onChange={(v) => v && setTheme(v)} testid="settings-theme" />
        </Field>
        <Field label="Language">
          <select value={s.language} onChange={(e) => setLanguage(e.target.value)} data-testid="settings-language">
            {LANGUAGES.map(([code, name]) => (
              <option key={code} value={code}>
                {name}
              </option>
            ))}
            {!LANGUAGES.some(([c]) => c === s.language) && <option value={s.language}>{s.language}</option>}
          </select>
          <small className="muted">Sets how dates and numbers are written; the app's own text is in English for now.</small>
        </Field>
      </fieldset>
      <fieldset className="form-grid" data-testid="settings-analytics">
        <legend>Usage analytics</legend>
        <label className="check wide">
          <input
            type="checkbox"
            checked={s.analytics_enabled}
            onChange={(e) =>
              saveAtOnce(
                { analytics_enabled: e.target.checked },
                e.target.checked ? "Usage events are recorded" : "Usage events are no longer recorded",
              )
            }
            data-testid="settings-analytics-enabled"
          />
          Record usage events (kept on this device and uploaded to your account; nothing is recorded when off)
        </label>
        <Field label="Keep events for (days)">
          <input
            type="number"
            min={RETENTION_MIN}
            max={RETENTION_MAX}
            step={1}
            value={retention}
            onChange={(e) => setRetention(e.target.value)}
            onBlur={commitRetention}
            onKeyDown={(e) => e.key === "Enter" && commitRetention()}
            data-testid="settings-analytics-retention"
          />
        </Field>
        <p className="wide muted small-text">
          Events say which prompts you copied or used, which listings you opened and how many results a search found — never what you searched for. They feed your
          Dashboards.
        </p>
      </fieldset>
      <fieldset className="form-grid">
        <legend>Account</legend>
        {account ? (
          <div className="wide" data-testid="account">
            <p>
              Signed in as <strong data-testid="account-email">{account.email}</strong> on <code>{account.server_url}</code>.
            </p>
            <SignOut testid="sign-out" />
          </div>
        ) : (
          <AccountForms serverUrl={saved?.server_url ?? null} configured={configured(saved)} />
        )}
      </fieldset>
      <details className="advanced" open={advanced} onToggle={(e) => setAdvanced(e.currentTarget.open)} data-testid="settings-advanced">
        <summary data-testid="settings-advanced-summary">Advanced (self-hosting): sync server and sign-in service</summary>
        <div className="form-grid">
          <p className="wide muted">
            PromptForge comes set up for its own sync server. Change these only to use a server you run yourself or the Firebase Auth emulator.
          </p>
          <Field label="Server URL" wide>
            <input value={str("server_url")} onChange={(e) => setStr("server_url", e.target.value)} placeholder="https://…" data-testid="settings-server-url" />
          </Field>
          <Field label="Sign-in (auth) URL" wide>
            <input value={str("auth_url")} onChange={(e) => setStr("auth_url", e.target.value)} placeholder="Firebase's own when empty" data-testid="settings-auth-url" />
          </Field>
          <Field label="Firebase API key">
            <input value={str("firebase_api_key")} onChange={(e) => setStr("firebase_api_key", e.target.value)} data-testid="settings-firebase-key" />
          </Field>
          <Field label="Firebase project id">
            <input value={str("firebase_project_id")} onChange={(e) => setStr("firebase_project_id", e.target.value)} data-testid="settings-firebase-project" />
          </Field>
          <div className="wide">
            <button className="primary" onClick={() => save()} data-testid="settings-save">
              Save settings
            </button>
          </div>
        </div>
      </details>
      <p className="muted small-text">
        PromptForge {info?.version} · data in <code>{info?.profile_dir}</code> · logs in <code>{info?.log_dir}</code>
      </p>
    </div>
  );
}
