//! `promptforge`: the command line over the local store, for scripts, tests
//! and power users. Every command works offline on the profile's PoloDB,
//! except `sync` and the marketplace's money requests, which reach a sync
//! server.
//!
//! `args` is the grammar; `library`, `sync`, `market`, `teams` and `account`
//! run the commands of their topic; `output` is the only writer of standard
//! output.

mod account;
mod args;
mod changes;
mod library;
mod market;
mod output;
mod sync;
mod teams;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use promptforge_sync::Store;

use crate::args::{Cli, Command};
use crate::output::Output;

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        // An account lives with Firebase, not in a profile: no store opened.
        Command::Account(command) => {
            return account::account(&Output { json: cli.json }, command).await
        }
        other => other,
    };
    let profile = match cli.profile {
        Some(dir) => dir,
        None => default_profile()?,
    };
    let store = Store::open(&profile).await?;
    let out = Output { json: cli.json };
    match command {
        Command::Prompt(command) => library::prompt(&store, &out, command).await,
        Command::Idea(command) => library::idea(&store, &out, command).await,
        Command::Project(command) => library::project(&store, &out, command).await,
        Command::Export { file } => library::export(&store, file).await,
        Command::Import { file } => library::import(&store, file).await,
        Command::Notifications { action } => library::notifications(&store, &out, action).await,
        Command::Info => library::info(&store),
        Command::Sync(args) => sync::sync(&store, args).await,
        Command::Status => sync::status(&store, &out).await,
        Command::Conflicts { action, all } => sync::conflicts(&store, &out, action, all).await,
        Command::Attention { action } => sync::attention(&store, &out, action).await,
        Command::Listing(command) => market::listing(&store, &out, command).await,
        Command::Team(command) => teams::team(&store, &out, command).await,
        Command::Share(command) => teams::share(&store, &out, command).await,
        Command::Account(command) => account::account(&out, command).await,
        Command::Buy { listing, online } => market::buy(&store, listing, online).await,
        Command::Purchases => market::purchases(&store, &out).await,
        Command::Refund {
            purchase,
            reason,
            online,
        } => market::refund(&store, purchase, reason, online).await,
        Command::Review {
            purchase,
            rating,
            text,
            online,
        } => market::review(&store, purchase, rating, text, online).await,
    }
}

fn default_profile() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME")
                .context("neither --profile, PROMPTFORGE_PROFILE nor HOME is set")?;
            PathBuf::from(home).join(".local/share")
        }
    };
    Ok(base.join("promptforge").join("default"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("PROMPTFORGE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
