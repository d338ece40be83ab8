// Signing in, creating an account, resetting a password and signing out:
// the forms Settings shows before sign-in, and the sign-out button Settings
// and Profile show after.
import { useState, type FormEvent, type ReactNode } from "react";
import { api, isAppError } from "../api";
import { useApp } from "../ctx";
import { Field } from "../ui";
import { errMsg, plural } from "../util";

/** The shortest password the sign-in service accepts. */
export const MIN_PASSWORD = 6;

/** What signing out does to the library, said next to every sign-out button. */
export const SIGN_OUT_NOTE = "Signing out keeps your library on this computer: it keeps working offline, and signing in again resumes syncing.";
const SIGNED_OUT = "Signed out. Your library stays on this computer and keeps working offline; sign in again to resume syncing.";

/** The host of a server URL, for "Syncs with …" (the text itself when it is no URL). */
export function serverHost(url: string | null | undefined): string | null {
  const u = url?.trim();
  if (!u) return null;
  try {
    return new URL(u).host || u;
  } catch {
    return u;
  }
}

/** A sign-out button and what signing out does to the library. */
export function SignOut(props: { testid: string }) {
  const { refreshInfo, error, notify } = useApp();
  const [busy, setBusy] = useState(false);
  const signOut = async () => {
    setBusy(true);
    try {
      await api.signOut();
      notify(SIGNED_OUT);
      await refreshInfo();
    } catch (e) {
      error(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="sign-out">
      <button onClick={signOut} disabled={busy} data-testid={props.testid}>
        {busy ? "Signing out…" : "Sign out"}
      </button>
      <small className="muted" data-testid={props.testid + "-note"}>
        {SIGN_OUT_NOTE}
      </small>
    </div>
  );
}

type Mode = "signin" | "signup";
type Note = { ok: boolean; text: string };

/** A line under a form: what happened (ok) or what is wrong. */
function NoteLine(props: { note: Note | null; testid: string; children?: ReactNode }) {
  if (!props.note) return null;
  return (
    <div className={"wide banner " + (props.note.ok ? "success" : "problem")} role={props.note.ok ? "status" : "alert"} data-testid={props.testid}>
      <span>{props.note.text}</span>
      {props.children}
    </div>
  );
}

/**
 * Sign in or create an account (toggled), with "Forgot password?" on the
 * sign-in side. `serverUrl` and `configured` are the saved settings': where
 * it syncs, and whether the server and sign-in service are set at all.
 */
export function AccountForms(props: { serverUrl: string | null; configured: boolean }) {
  const { info, refreshInfo, error, notify } = useApp();
  const [mode, setMode] = useState<Mode>("signin");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [newPassword, setNewPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [attach, setAttach] = useState(true);
  const [busy, setBusy] = useState(false);
  // Sign-up's outcome when not signed in after all; `inUse` offers sign-in or a reset instead.
  const [signupNote, setSignupNote] = useState<(Note & { inUse?: boolean }) | null>(null);
  // The reset form, when open, and what came of sending the link.
  const [reset, setReset] = useState<{ email: string; note: Note | null } | null>(null);

  const local = info?.local_documents ?? 0;
  const host = serverHost(props.serverUrl);

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

  const signUp = async () => {
    const problem = !email.trim()
      ? "Enter the email for the new account."
      : newPassword.length < MIN_PASSWORD
        ? `Choose a password of at least ${MIN_PASSWORD} characters.`
        : newPassword !== confirm
          ? "The two passwords do not match: type the same password twice."
          : null;
    if (problem) return setSignupNote({ ok: false, text: problem });
    setSignupNote(null);
    setBusy(true);
    try {
      const acct = await api.signUp(email.trim(), newPassword, attach);
      setNewPassword("");
      setConfirm("");
      notify(`Account created. Signed in as ${acct.email}`);
      await refreshInfo();
    } catch (e) {
      // The binding's codes may not name the sign-up refusals yet.
      const inUse = isAppError(e) && e.code === "email_in_use";
      setSignupNote({ ok: false, text: errMsg(e), inUse });
    } finally {
      setBusy(false);
    }
  };

  const switchTo = (m: Mode) => {
    setMode(m);
    setSignupNote(null);
  };
  const openReset = (address = email) => {
    switchTo("signin");
    setReset({ email: address.trim(), note: null });
  };
  const sendReset = async () => {
    if (!reset) return;
    const to = reset.email.trim();
    if (!to) return setReset({ ...reset, note: { ok: false, text: "Enter the email of the account." } });
    setBusy(true);
    try {
      await api.sendPasswordReset(to);
      setReset({ email: to, note: { ok: true, text: `If an account uses ${to}, a reset link is on its way.` } });
    } catch (e) {
      setReset({ email: to, note: { ok: false, text: errMsg(e) } });
    } finally {
      setBusy(false);
    }
  };

  const submit = (f: () => Promise<void>) => (e: FormEvent) => {
    e.preventDefault();
    void f();
  };
  const attachBox = (testid: string) =>
    local > 0 && (
      <label className="check wide">
        <input type="checkbox" checked={attach} onChange={(e) => setAttach(e.target.checked)} data-testid={testid} />
        Attach my existing local library ({plural(local, "document")}) to this account
      </label>
    );

  return (
    <div className="wide account-forms">
      <p className="muted">Not signed in: your library lives on this computer only. Sign in or create an account to sync it and use the marketplace.</p>
      <div className="tabs" role="tablist" aria-label="Account">
        {(
          [
            ["signin", "Sign in"],
            ["signup", "Create account"],
          ] as const
        ).map(([m, label]) => (
          <button
            key={m}
            type="button"
            role="tab"
            aria-selected={mode === m}
            className={mode === m ? "active" : ""}
            onClick={() => switchTo(m)}
            data-testid={"auth-mode-" + m}
          >
            {label}
          </button>
        ))}
      </div>
      {mode === "signin" ? (
        <>
          <form className="form-grid" data-testid="sign-in-form" onSubmit={submit(signIn)}>
            <Field label="Email">
              <input type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} data-testid="signin-email" />
            </Field>
            <Field label="Password">
              <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} data-testid="signin-password" />
            </Field>
            {attachBox("signin-attach")}
            <div className="wide inline">
              <button className="primary" type="submit" disabled={busy} data-testid="signin-submit">
                {busy ? "Signing in…" : "Sign in"}
              </button>
              <button type="button" className="linkish link" onClick={() => openReset()} data-testid="forgot-password">
                Forgot password?
              </button>
            </div>
          </form>
          {reset && (
            <form className="form-grid reset-form" data-testid="reset-form" onSubmit={submit(sendReset)}>
              <p className="wide">We email a link for choosing a new password.</p>
              <Field label="Email of the account">
                <input
                  type="email"
                  autoComplete="username"
                  value={reset.email}
                  onChange={(e) => setReset({ email: e.target.value, note: null })}
                  data-testid="reset-email"
                />
              </Field>
              <div className="wide inline">
                <button className="primary" type="submit" disabled={busy} data-testid="reset-submit">
                  Send reset link
                </button>
                <button type="button" onClick={() => setReset(null)} data-testid="reset-cancel">
                  Close
                </button>
              </div>
              <NoteLine note={reset.note} testid="reset-message" />
            </form>
          )}
        </>
      ) : (
        <form className="form-grid" data-testid="sign-up-form" onSubmit={submit(signUp)}>
          <Field label="Email" wide>
            <input
              type="email"
              autoComplete="username"
              value={email}
              onChange={(e) => {
                setEmail(e.target.value);
                setSignupNote(null);
              }}
              data-testid="signup-email"
            />
          </Field>
          <Field label={`Password (at least ${MIN_PASSWORD} characters)`}>
            <input
              type="password"
              autoComplete="new-password"
              value={newPassword}
              onChange={(e) => {
                setNewPassword(e.target.value);
                setSignupNote(null);
              }}
              data-testid="signup-password"
            />
          </Field>
          <Field label="Confirm password">
            <input
              type="password"
              autoComplete="new-password"
              value={confirm}
              onChange={(e) => {
                setConfirm(e.target.value);
                setSignupNote(null);
              }}
              data-testid="signup-confirm"
            />
          </Field>
          {attachBox("signup-attach")}
          <NoteLine note={signupNote} testid="signup-message">
            {signupNote?.inUse && (
              <span className="inline">
                <button
                  type="button"
                  className="small"
                  onClick={() => switchTo("signin")}
                  data-testid="signup-go-signin"
                >
                  Sign in instead
                </button>
                <button type="button" className="small" onClick={() => openReset(email)} data-testid="signup-go-reset">
                  Reset the password
                </button>
              </span>
            )}
          </NoteLine>
          <div className="wide">
            <button className="primary" type="submit" disabled={busy} data-testid="signup-submit">
              {busy ? "Creating the account…" : "Create account"}
            </button>
          </div>
        </form>
      )}
      <p className="muted small-text" data-testid="auth-server">
        {props.configured && host ? (
          <>
            Syncs with <strong>{host}</strong>. To use your own server, see Advanced (self-hosting) below.
          </>
        ) : (
          "Signing in needs a sync server and the sign-in service's API key: enter them under Advanced (self-hosting) below."
        )}
      </p>
    </div>
  );
}
