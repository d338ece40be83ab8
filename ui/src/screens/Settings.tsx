import { useEffect, useState } from "react";
import { api } from "../api";
import type { Settings } from "../bindings/Settings";
import type { Theme } from "../bindings/Theme";
import { useApp } from "../ctx";
import { Field, Select, enums } from "../ui";
import { applyTheme } from "../theme";
import { applyLanguage, plural, useCommand } from "../util";

const LANGUAGES: [string, string][] = [
  ["en", "English"],
  ["de", "Deutsch"],
  ["fr", "Français"],
  ["es", "Español"],
  ["it", "Italiano"],
  ["pt", "Português"],
  ["ja", "日本語"],
];

export function SettingsScreen() {
  const { info, refreshInfo, error, notify } = useApp();
  const [s, setS] = useState<Settings | null>(null);
  const [saved, setSaved] = useState<Settings | null>(null);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [attach, setAttach] = useState(true);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.settings().then(
      (x) => {
        setS(x);
        setSaved(x);
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

  const setTheme = (t: Theme) => {
    if (!s) return;
    applyTheme(t);
    const next = { ...s, theme: t };
    setS(next);
    // The theme is saved at once so it sticks; other fields wait for Save.
    if (saved) {
      api.saveSettings({ ...saved, theme: t }).then(
        (r) => setSaved(r),
        (e) => error(e),
      );
    }
  };

  const signIn = async () => {
    if (!email.trim() || !password) return error("Enter your email and password.");
    setBusy(true);
    try {
      // The app decides with the library as it is now; an empty one is always attached.
      const acct = await api.signIn(email.trim(), password, attach);
      setPassword("");
      notify(`Signed in as ${acct.email}`);
      await refreshInfo();
    } catch (e) {
      error(e);
    } finally {
      setBusy(false);
    }
  };
  const signOut = async () => {
    try {
      await api.signOut();
      notify("Signed out — your library stays on this computer");
      await refreshInfo();
    } catch (e) {
      error(e);
    }
  };

  if (!s) return <p className="muted pad">Loading…</p>;
  const str = (k: keyof Settings) => (s[k] as string | null | undefined) ?? "";
  const setStr = (k: keyof Settings, v: string) => setS({ ...s, [k]: k === "language" ? v : v.trim() === "" ? null : v });
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
          <select value={s.language} onChange={(e) => setStr("language", e.target.value)} data-testid="settings-language">
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
      <fieldset className="form-grid">
        <legend>Account</legend>
        {account ? (
          <div className="wide" data-testid="account">
            <p>
              Signed in as <strong data-testid="account-email">{account.email}</strong> on <code>{account.server_url}</code>.
            </p>
            <button onClick={signOut} data-testid="sign-out">
              Sign out
            </button>
          </div>
        ) : (
          <form
            className="wide form-grid"
            data-testid="sign-in-form"
            onSubmit={(e) => {
              e.preventDefault();
              void signIn();
            }}
          >
            <p className="wide muted">Not signed in: your library lives on this computer only. Sign in to sync it and use the marketplace.</p>
            <Field label="Email">
              <input type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} data-testid="signin-email" />
            </Field>
            <Field label="Password">
              <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} data-testid="signin-password" />
            </Field>
            {(info?.local_documents ?? 0) > 0 && (
              <label className="check wide">
                <input type="checkbox" checked={attach} onChange={(e) => setAttach(e.target.checked)} data-testid="signin-attach" />
                Attach my existing local library ({plural(info!.local_documents, "document")}) to this account
              </label>
            )}
            <div className="wide">
              <button className="primary" type="submit" disabled={busy} data-testid="signin-submit">
                {busy ? "Signing in…" : "Sign in"}
              </button>
            </div>
          </form>
        )}
      </fieldset>
      <fieldset className="form-grid">
        <legend>Server</legend>
        <Field label="Server URL" wide>
          <input value={str("server_url")} onChange={(e) => setStr("server_url", e.target.value)} placeholder="https://…" data-testid="settings-server-url" />
        </Field>
        <Field label="Sign-in (auth) URL" wide>
          <input value={str("auth_url")} onChange={(e) => setStr("auth_url", e.target.value)} data-testid="settings-auth-url" />
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
      </fieldset>
      <p className="muted small-text">
        PromptForge {info?.version} · data in <code>{info?.profile_dir}</code> · logs in <code>{info?.log_dir}</code>
      </p>
    </div>
  );
}
