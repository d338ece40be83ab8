//! Account commands: creating an account and asking for a password reset,
//! with Firebase Auth's REST API (the same client the app uses). They need
//! no profile. The password is read from standard input, never from a flag,
//! so it stays out of shell history and process lists.

use std::io::BufRead;

use anyhow::{bail, Context};
use promptforge_sync::engine::account::FirebaseAuth;

use crate::args::{AccountCommand, FirebaseArgs};
use crate::output::{out, Output};

pub(crate) async fn account(out: &Output, command: AccountCommand) -> anyhow::Result<()> {
    match command {
        AccountCommand::Signup {
            email,
            firebase,
            save_token,
        } => {
            let auth = client(&firebase)?;
            let password = read_password()?;
            let session = auth.sign_up(email.trim(), &password).await?;
            if let Some(path) = save_token {
                write_private(&path, &session.id_token)
                    .with_context(|| format!("writing the token to {}", path.display()))?;
            }
            let verification = auth.send_email_verification(&session).await;
            if out.json {
                out!(
                    "{}",
                    serde_json::json!({
                        "user_id": session.user_id,
                        "email": session.email,
                        "verification_sent": verification.is_ok(),
                    })
                );
            } else {
                out!("{}", session.user_id);
            }
            match verification {
                Ok(()) => eprintln!(
                    "created; open the link sent to {} to verify it",
                    session.email
                ),
                Err(err) => eprintln!("created, but the verification email was not sent: {err}"),
            }
            Ok(())
        }
        AccountCommand::Reset { email, firebase } => {
            client(&firebase)?.send_password_reset(email.trim()).await?;
            out!(
                "if an account uses {}, a reset link is on its way",
                email.trim()
            );
            Ok(())
        }
    }
}

fn client(firebase: &FirebaseArgs) -> anyhow::Result<FirebaseAuth> {
    Ok(FirebaseAuth::new(
        &firebase.api_key,
        firebase.auth_url.as_deref(),
    )?)
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("password: give it on standard input (its first line)");
    }
    Ok(password)
}

/// Writes `text` to a file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}
