//! Commands that talk to the sync server or report on sync: `sync` (once or
//! watching), `status`, `conflicts` and `attention`, and the one place that
//! turns `--server`/`--token` flags into a connected engine.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use promptforge_sync::engine::{HttpTransport, StaticToken};
use promptforge_sync::{Resolution, Store, SyncConfig, SyncEngine, SyncState};

use crate::args::{AttentionAction, ConflictAction, Keep, Online, SyncArgs};
use crate::output::{out, Output};

pub(crate) async fn status(store: &Store, out: &Output) -> anyhow::Result<()> {
    let summary = store.sync_summary().await?;
    if out.json {
        out!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    out!(
        "account:          {}",
        summary
            .account
            .as_deref()
            .unwrap_or("(local profile, not attached)")
    );
    out!(
        "server:           {}",
        summary.server_url.as_deref().unwrap_or("(none yet)")
    );
    out!(
        "last synced:      {}",
        summary
            .last_synced_at
            .map(|t| t.to_string())
            .unwrap_or_else(|| "never".into())
    );
    out!(
        "pending changes:  {} ({} sent, awaiting an answer)",
        summary.pending,
        summary.in_flight
    );
    if let Some(oldest) = summary.oldest_pending {
        let age =
            (bson::DateTime::now().timestamp_millis() - oldest.timestamp_millis()).max(0) / 1000;
        out!("oldest pending:   {age} s ago");
    }
    out!("needs attention:  {}", summary.needs_attention);
    out!("open conflicts:   {}", summary.open_conflicts);
    Ok(())
}

pub(crate) async fn conflicts(
    store: &Store,
    out: &Output,
    action: Option<ConflictAction>,
    all: bool,
) -> anyhow::Result<()> {
    let Some(ConflictAction::Resolve { id, keep }) = action else {
        let conflicts = store.conflicts(all).await?;
        if out.json {
            out!("{}", serde_json::to_string_pretty(&conflicts)?);
            return Ok(());
        }
        if conflicts.is_empty() {
            out!("no conflicts");
        }
        for c in conflicts {
            let what = c.field.as_deref().unwrap_or("the document");
            out!(
                "{}  {} {}  {}: mine {} / theirs {}  [{}{}]",
                c.id,
                c.collection,
                c.doc_id,
                what,
                c.mine.clone().into_relaxed_extjson(),
                c.theirs.clone().into_relaxed_extjson(),
                c.resolution,
                c.resolved
                    .map(|r| format!(", resolved: {r}"))
                    .unwrap_or_default()
            );
        }
        return Ok(());
    };
    let resolution = match keep {
        Keep::Mine => Resolution::KeepMine,
        Keep::Theirs => Resolution::KeepTheirs,
        Keep::Both => Resolution::KeepBoth,
    };
    let conflict = store.resolve_conflict(&id, resolution).await?;
    out!("conflict {} resolved: {}", conflict.id, resolution.name());
    Ok(())
}

pub(crate) async fn attention(
    store: &Store,
    out: &Output,
    action: Option<AttentionAction>,
) -> anyhow::Result<()> {
    match action {
        None => {
            let items = store.needs_attention().await?;
            if out.json {
                out!("{}", serde_json::to_string_pretty(&items)?);
                return Ok(());
            }
            if items.is_empty() {
                out!("nothing needs attention");
            }
            for item in items {
                out!(
                    "{}  {:?} {} {}: {} ({})",
                    item.mutation_id,
                    item.op,
                    item.collection,
                    item.doc_id,
                    item.message,
                    item.reason
                );
            }
            Ok(())
        }
        Some(AttentionAction::Retry { mutation_id }) => {
            store.settle_attention(mutation_id, true).await?;
            out!("queued again; it uploads at the next sync");
            Ok(())
        }
        Some(AttentionAction::Dismiss { mutation_id }) => {
            store.settle_attention(mutation_id, false).await?;
            out!("dismissed");
            Ok(())
        }
    }
}

/// A sync engine for `store` with the server and token from `online`.
pub(crate) async fn connect(
    store: &Store,
    online: Online,
) -> anyhow::Result<(String, SyncEngine<HttpTransport>)> {
    let summary = store.sync_summary().await?;
    let Some(server) = online.server.or(summary.server_url) else {
        bail!("no sync server: pass --server URL (or set PROMPTFORGE_SERVER)");
    };
    let token = match (online.token, online.token_file) {
        (Some(token), _) => token,
        (None, Some(file)) => std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read the token file {}", file.display()))?
            .trim()
            .to_owned(),
        (None, None) => bail!("no token: pass --token, --token-file or set PROMPTFORGE_TOKEN"),
    };
    let transport = HttpTransport::new(
        &server,
        Arc::new(StaticToken(token)),
        Duration::from_secs(60),
    )?;
    store.set_server_url(&server).await?;
    Ok((
        server,
        SyncEngine::new(store.clone(), transport, SyncConfig::default()),
    ))
}

pub(crate) async fn sync(store: &Store, args: SyncArgs) -> anyhow::Result<()> {
    let (server, engine) = connect(store, args.online).await?;
    if !args.watch {
        let report = engine.sync_once().await?;
        let summary = store.sync_summary().await?;
        out!(
            "synced with {server}: {} uploaded, {} downloaded, {} conflicts, {} refused; {} pending, {} open conflicts",
            report.pushed, report.pulled, report.conflicts, report.rejected, summary.pending, summary.open_conflicts
        );
        return Ok(());
    }
    let mut status = engine.status();
    let printer = async {
        while status.changed().await.is_ok() {
            let now = status.borrow_and_update().clone();
            if !matches!(now.state, SyncState::Syncing { .. } | SyncState::Connecting) {
                eprintln!(
                    "{}  pending {}  conflicts {}  attention {}",
                    serde_json::to_string(&now.state).unwrap_or_default(),
                    now.pending,
                    now.open_conflicts,
                    now.needs_attention
                );
            }
        }
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    tokio::select! {
        () = engine.run(shutdown) => {}
        () = printer => {}
    }
    Ok(())
}
