//! Where the distributor's service is: the sync server and the Firebase
//! project an installed app uses when its user has set nothing, so a new
//! user signs up or in with nothing typed. Settings set by the user (under
//! Advanced, for self-hosting and tests) win over these.
//!
//! Read once per process, the first source found winning:
//! 1. the JSON file named by `PROMPTFORGE_DISTRIBUTION`;
//! 2. `distribution.json` beside the executable;
//! 3. `/etc/promptforge/distribution.json` (a packager's or admin's);
//! 4. what the build was given: `PROMPTFORGE_DIST_SERVER_URL`,
//!    `PROMPTFORGE_DIST_FIREBASE_API_KEY`, `PROMPTFORGE_DIST_FIREBASE_PROJECT_ID`
//!    and `PROMPTFORGE_DIST_AUTH_URL` at compile time.
//!
//! The file holds the same four fields as Settings (`server_url`,
//! `firebase_api_key`, `firebase_project_id`, `auth_url`); none is a secret
//! (a Firebase web API key identifies the project, it does not grant access).

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::settings::Settings;

/// The distributor's defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Distribution {
    pub server_url: Option<String>,
    pub firebase_api_key: Option<String>,
    pub firebase_project_id: Option<String>,
    pub auth_url: Option<String>,
}

impl Distribution {
    /// The defaults this process runs with.
    pub fn current() -> &'static Distribution {
        static CURRENT: OnceLock<Distribution> = OnceLock::new();
        CURRENT.get_or_init(Distribution::discover)
    }

    fn discover() -> Distribution {
        let beside_exe = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("distribution.json")));
        let files = std::env::var_os("PROMPTFORGE_DISTRIBUTION")
            .map(PathBuf::from)
            .into_iter()
            .chain(beside_exe)
            .chain([PathBuf::from("/etc/promptforge/distribution.json")]);
        for file in files {
            match std::fs::read(&file) {
                Ok(bytes) => match serde_json::from_slice::<Distribution>(&bytes) {
                    Ok(found) => {
                        tracing::info!(file = %file.display(), "distribution defaults");
                        return found.normalised();
                    }
                    Err(err) => {
                        tracing::warn!(file = %file.display(), error = %err, "distribution file ignored");
                    }
                },
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    tracing::warn!(file = %file.display(), error = %err, "distribution file unreadable");
                }
            }
        }
        Distribution {
            server_url: option_env!("PROMPTFORGE_DIST_SERVER_URL").map(str::to_owned),
            firebase_api_key: option_env!("PROMPTFORGE_DIST_FIREBASE_API_KEY").map(str::to_owned),
            firebase_project_id: option_env!("PROMPTFORGE_DIST_FIREBASE_PROJECT_ID")
                .map(str::to_owned),
            auth_url: option_env!("PROMPTFORGE_DIST_AUTH_URL").map(str::to_owned),
        }
        .normalised()
    }

    fn normalised(mut self) -> Distribution {
        for value in self.fields_mut() {
            *value = value
                .take()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
        }
        self
    }

    fn fields_mut(&mut self) -> [&mut Option<String>; 4] {
        [
            &mut self.server_url,
            &mut self.firebase_api_key,
            &mut self.firebase_project_id,
            &mut self.auth_url,
        ]
    }

    /// Whether a distributor set where the service is.
    pub fn is_set(&self) -> bool {
        self.server_url.is_some() && self.firebase_api_key.is_some()
    }

    /// `settings` with every server field the user left unset taken from
    /// these defaults.
    pub fn fill(&self, mut settings: Settings) -> Settings {
        for (value, default) in settings_fields(&mut settings)
            .into_iter()
            .zip(self.fields())
        {
            if value.is_none() {
                value.clone_from(default);
            }
        }
        settings
    }

    /// `settings` without the values that only repeat these defaults, so
    /// what is saved is what the user chose, and a later distribution's
    /// defaults still reach them.
    pub fn strip(&self, mut settings: Settings) -> Settings {
        for (value, default) in settings_fields(&mut settings)
            .into_iter()
            .zip(self.fields())
        {
            if value.is_some() && value == default {
                *value = None;
            }
        }
        settings
    }

    fn fields(&self) -> [&Option<String>; 4] {
        [
            &self.server_url,
            &self.firebase_api_key,
            &self.firebase_project_id,
            &self.auth_url,
        ]
    }
}

fn settings_fields(settings: &mut Settings) -> [&mut Option<String>; 4] {
    [
        &mut settings.server_url,
        &mut settings.firebase_api_key,
        &mut settings.firebase_project_id,
        &mut settings.auth_url,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Distribution {
        Distribution {
            server_url: Some("https://sync.promptforge.ai".into()),
            firebase_api_key: Some("key".into()),
            firebase_project_id: Some("promptforge".into()),
            auth_url: None,
        }
    }

    #[test]
    fn unset_settings_take_the_defaults_and_the_users_own_win() {
        let filled = shipped().fill(Settings::default());
        assert_eq!(
            filled.server_url.as_deref(),
            Some("https://sync.promptforge.ai")
        );
        assert_eq!(filled.firebase_api_key.as_deref(), Some("key"));
        assert_eq!(filled.auth_url, None);
        let own = Settings {
            server_url: Some("http://127.0.0.1:8080".into()),
            ..Settings::default()
        };
        let filled = shipped().fill(own);
        assert_eq!(filled.server_url.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(filled.firebase_project_id.as_deref(), Some("promptforge"));
    }

    #[test]
    fn saving_keeps_only_what_the_user_changed() {
        let mut shown = shipped().fill(Settings::default());
        shown.auth_url = Some("http://127.0.0.1:9099".into());
        let saved = shipped().strip(shown.clone());
        assert_eq!(saved.server_url, None);
        assert_eq!(saved.firebase_api_key, None);
        assert_eq!(saved.auth_url.as_deref(), Some("http://127.0.0.1:9099"));
        assert_eq!(shipped().fill(saved), shown);
    }

    #[test]
    fn a_distribution_file_is_read_strictly() {
        let file: Result<Distribution, _> =
            serde_json::from_str(r#"{"server_url":" https://x.io ","firebase_api_key":""}"#);
        let file = file.map(Distribution::normalised).ok();
        assert_eq!(
            file,
            Some(Distribution {
                server_url: Some("https://x.io".into()),
                ..Distribution::default()
            })
        );
        assert!(serde_json::from_str::<Distribution>(r#"{"server":"typo"}"#).is_err());
    }
}
