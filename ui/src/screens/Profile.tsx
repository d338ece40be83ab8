import { useCallback, useEffect, useState } from "react";
import { api, type Changes } from "../api";
import type { User } from "../bindings/User";
import { useApp } from "../ctx";
import { Empty, Field, Select, enums } from "../ui";
import { fmtNum, splitTags, useCommand } from "../util";
import { applyTheme } from "../theme";
import { SignOut, serverHost } from "./Account";

type Form = {
  display_name: string;
  bio: string;
  website: string;
  location: string;
  company: string;
  job_title: string;
  expertise: string;
  theme: "light" | "dark" | "system";
  language: string;
  timezone: string;
};

function toForm(u: User): Form {
  return {
    display_name: u.display_name ?? "",
    bio: u.profile?.bio ?? "",
    website: u.profile?.website ?? "",
    location: u.profile?.location ?? "",
    company: u.profile?.company ?? "",
    job_title: u.profile?.job_title ?? "",
    expertise: (u.profile?.expertise ?? []).join(", "),
    theme: u.preferences?.theme ?? "system",
    language: u.preferences?.language ?? "",
    timezone: u.preferences?.timezone ?? "",
  };
}

/** Who is signed in, and signing out (or where to sign in). */
function AccountSection(props: { emailVerified?: boolean }) {
  const { info, navigate } = useApp();
  const account = info?.account ?? null;
  const host = serverHost(account?.server_url);
  return (
    <fieldset className="form-grid" data-testid="profile-account">
      <legend>Account</legend>
      {account ? (
        <div className="wide">
          <p>
            Signed in as <strong data-testid="profile-account-email">{account.email}</strong>
            {host && (
              <>
                {" "}
                · syncs with <code>{host}</code>
              </>
            )}
          </p>
          {props.emailVerified === false && (
            <p className="muted" data-testid="profile-unverified">
              Your email is not verified yet: open the link we sent to it. Until then, nobody can invite you to a team or share with you by email.
            </p>
          )}
          <SignOut testid="profile-sign-out" />
        </div>
      ) : (
        <div className="wide">
          <p>
            <strong data-testid="profile-local-only">Local only</strong>: not signed in. Your library lives on this computer only and works offline.
          </p>
          <button className="primary" onClick={() => navigate({ screen: "settings" })} data-testid="profile-sign-in">
            Sign in or create an account
          </button>
        </div>
      )}
    </fieldset>
  );
}

/** To the creator dashboard: what the profile's counts are made of, over time. */
function NumbersLink() {
  const { navigate } = useApp();
  return (
    <button className="small" onClick={() => navigate({ screen: "dashboards", id: "creator" })} data-testid="profile-numbers" title="Uses, versions and sales over time">
      Your numbers
    </button>
  );
}

export function ProfileScreen() {
  const { info, error, notify, setBalance } = useApp();
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [f, setF] = useState<Form | null>(null);
  const load = useCallback(async () => {
    if (!info) return;
    try {
      const u = await api.get("users", info.user_id);
      setUser(u);
      if (u) {
        setF(toForm(u));
        setBalance(u.credits?.balance ?? null);
      }
    } catch (e) {
      error(e);
      setUser(null);
    }
  }, [info, error, setBalance]);
  useEffect(() => {
    void load();
  }, [load]);

  const save = async () => {
    if (!user || !f) return;
    const before = toForm(user);
    const map: Record<keyof Form, string> = {
      display_name: "display_name",
      bio: "profile.bio",
      website: "profile.website",
      location: "profile.location",
      company: "profile.company",
      job_title: "profile.job_title",
      expertise: "profile.expertise",
      theme: "preferences.theme",
      language: "preferences.language",
      timezone: "preferences.timezone",
    };
    const c: Changes = {};
    for (const k of Object.keys(map) as (keyof Form)[]) {
      if (before[k] === f[k]) continue;
      if (k === "expertise") c[map[k]] = splitTags(f.expertise);
      else if (k === "display_name" || k === "theme") c[map[k]] = f[k];
      else c[map[k]] = f[k].trim() === "" ? null : f[k];
    }
    if (Object.keys(c).length === 0) return notify("Nothing to save");
    try {
      const u = await api.update("users", user._id, c);
      setUser(u);
      setF(toForm(u));
      notify("Profile saved");
    } catch (e) {
      error(e);
    }
  };
  useCommand("save", () => void save());

  if (user === undefined) return <p className="muted pad">Loading…</p>;
  if (user === null || !f)
    return (
      <div className="page narrow">
        <div className="page-head">
          <h1>Profile</h1>
          <span className="spacer" />
          <NumbersLink />
        </div>
        <AccountSection />
        <Empty>
          {info?.account ? "Your profile arrives with the next sync." : "No profile on this device yet. Sign in from Settings to bring your account here."}
        </Empty>
      </div>
    );
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setF((x) => (x ? { ...x, [k]: v } : x));

  return (
    <div className="page narrow">
      <div className="page-head">
        <h1>Profile</h1>
        <span className="spacer" />
        <NumbersLink />
        <button className="primary" onClick={save} data-testid="profile-save">
          Save
        </button>
      </div>
      <p className="muted">
        {user.email} · {user.subscription?.tier ?? "free"} plan · <span data-testid="profile-balance">{fmtNum(user.credits?.balance ?? 0)} credits</span> · {fmtNum(user.stats?.prompts_created ?? 0)} prompts created ·{" "}
        {fmtNum(user.stats?.marketplace_sales ?? 0)} sales
      </p>
      <AccountSection emailVerified={user.email_verified} />
      <div className="form-grid">
        <Field label="Display name" wide>
          <input value={f.display_name} onChange={(e) => set("display_name", e.target.value)} data-testid="profile-name" />
        </Field>
        <Field label="Bio" wide>
          <textarea rows={3} value={f.bio} onChange={(e) => set("bio", e.target.value)} data-testid="profile-bio" />
        </Field>
        <Field label="Website">
          <input value={f.website} onChange={(e) => set("website", e.target.value)} />
        </Field>
        <Field label="Location">
          <input value={f.location} onChange={(e) => set("location", e.target.value)} />
        </Field>
        <Field label="Company">
          <input value={f.company} onChange={(e) => set("company", e.target.value)} />
        </Field>
        <Field label="Job title">
          <input value={f.job_title} onChange={(e) => set("job_title", e.target.value)} />
        </Field>
        <Field label="Expertise (comma separated)" wide>
          <input value={f.expertise} onChange={(e) => set("expertise", e.target.value)} />
        </Field>
      </div>
      <fieldset className="form-grid">
        <legend>Preferences</legend>
        <Field label="Theme">
          <Select
            value={f.theme}
            options={enums.theme}
            onChange={(v) => {
              if (!v) return;
              set("theme", v);
              applyTheme(v);
            }}
            testid="profile-theme"
          />
        </Field>
        <Field label="Language">
          <input value={f.language} onChange={(e) => set("language", e.target.value)} />
        </Field>
        <Field label="Time zone">
          <input value={f.timezone} onChange={(e) => set("timezone", e.target.value)} placeholder="e.g. Europe/Berlin" />
        </Field>
      </fieldset>
    </div>
  );
}
