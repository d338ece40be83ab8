//! The stable codes of the engine's failures, carried to the UI by the sync
//! status and by the app's errors. A closed enum, exported to TypeScript,
//! rather than free strings: the UI branches on a known set, and renaming a
//! code breaks the build instead of a screen.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SyncErrorCode {
    /// The server could not be reached.
    Offline,
    /// The server did not answer in time.
    Timeout,
    /// The connection broke mid-answer.
    Interrupted,
    /// The token was refused; sign in again.
    Unauthenticated,
    /// The server speaks another protocol major; update the app.
    UpgradeRequired,
    /// The server failed (a 5xx answer).
    ServerError,
    /// The server's answer could not be understood.
    Protocol,
    /// The library belongs to another account than the one signed in.
    OtherAccount,
    /// The local store failed during a sync round.
    LocalStore,
    WrongCredentials,
    AccountDisabled,
    TooManyAttempts,
    SessionExpired,
    BadApiKey,
    /// The sign-in service failed.
    AuthService,
    /// Sign-up: an account already uses the email.
    EmailInUse,
    /// Sign-up: the password is too weak.
    WeakPassword,
    /// The email is not an email address.
    InvalidEmail,
}

impl SyncErrorCode {
    /// The code as it is serialised (`"offline"`), for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncErrorCode::Offline => "offline",
            SyncErrorCode::Timeout => "timeout",
            SyncErrorCode::Interrupted => "interrupted",
            SyncErrorCode::Unauthenticated => "unauthenticated",
            SyncErrorCode::UpgradeRequired => "upgrade_required",
            SyncErrorCode::ServerError => "server_error",
            SyncErrorCode::Protocol => "protocol",
            SyncErrorCode::OtherAccount => "other_account",
            SyncErrorCode::LocalStore => "local_store",
            SyncErrorCode::WrongCredentials => "wrong_credentials",
            SyncErrorCode::AccountDisabled => "account_disabled",
            SyncErrorCode::TooManyAttempts => "too_many_attempts",
            SyncErrorCode::SessionExpired => "session_expired",
            SyncErrorCode::BadApiKey => "bad_api_key",
            SyncErrorCode::AuthService => "auth_service",
            SyncErrorCode::EmailInUse => "email_in_use",
            SyncErrorCode::WeakPassword => "weak_password",
            SyncErrorCode::InvalidEmail => "invalid_email",
        }
    }
}

impl std::fmt::Display for SyncErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::SyncErrorCode;

    #[test]
    fn the_logged_name_is_the_serialised_one() {
        for code in [
            SyncErrorCode::Offline,
            SyncErrorCode::Timeout,
            SyncErrorCode::Interrupted,
            SyncErrorCode::Unauthenticated,
            SyncErrorCode::UpgradeRequired,
            SyncErrorCode::ServerError,
            SyncErrorCode::Protocol,
            SyncErrorCode::OtherAccount,
            SyncErrorCode::LocalStore,
            SyncErrorCode::WrongCredentials,
            SyncErrorCode::AccountDisabled,
            SyncErrorCode::TooManyAttempts,
            SyncErrorCode::SessionExpired,
            SyncErrorCode::BadApiKey,
            SyncErrorCode::AuthService,
            SyncErrorCode::EmailInUse,
            SyncErrorCode::WeakPassword,
            SyncErrorCode::InvalidEmail,
        ] {
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::Value::String(code.as_str().to_owned()))
            );
        }
    }
}
