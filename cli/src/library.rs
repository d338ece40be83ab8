//! Commands over the local library: prompts, ideas and projects (create,
//! list, show, edit, trash, restore, versions), notifications, export and
//! import, and the profile summary. All of them work offline.

use std::path::PathBuf;

use anyhow::Context;
use promptforge_sync::schema::{Collection, Idea, Notification, Project, Prompt};
use promptforge_sync::{Export, ListQuery, Store};

use crate::args::{IdeaCommand, ListArgs, NotificationAction, ProjectCommand, PromptCommand};
use crate::changes::Changes;
use crate::output::{created, deleted, out, restored, Output};

pub(crate) async fn prompt(
    store: &Store,
    out: &Output,
    command: PromptCommand,
) -> anyhow::Result<()> {
    match command {
        PromptCommand::Create {
            title,
            content,
            fields,
        } => {
            let mut changes = Changes::default();
            changes
                .value("title", Some(title))
                .value("content", Some(content));
            fields.into_changes(&mut changes);
            let prompt = store.create_from::<Prompt>(changes.0).await?;
            created(out, &prompt)
        }
        PromptCommand::List(args) => list::<Prompt>(store, out, args).await,
        PromptCommand::Show { id } => out.doc(&store.require::<Prompt>(&id).await?),
        PromptCommand::Edit {
            id,
            title,
            content,
            fields,
            set,
        } => {
            let mut changes = Changes::default();
            changes.text("title", title).text("content", content);
            fields.into_changes(&mut changes);
            changes.set_pairs(set.set)?;
            out.doc(&store.patch::<Prompt>(&id, changes.0).await?)
        }
        PromptCommand::Delete { id } => deleted(&store.delete::<Prompt>(&id).await?),
        PromptCommand::Restore { id } => restored(&store.restore::<Prompt>(&id).await?),
        PromptCommand::Versions { id } => {
            store.require::<Prompt>(&id).await?;
            let versions = store.prompt_versions(&id).await?;
            if out.json {
                return out.docs(&versions, None);
            }
            for v in versions {
                out!(
                    "v{:<4} {}  {}",
                    v.version_number,
                    v.created_at.try_to_rfc3339_string().unwrap_or_default(),
                    v.changes
                );
            }
            Ok(())
        }
        PromptCommand::RestoreVersion { id, number } => {
            out.doc(&store.restore_prompt_version(&id, number).await?)
        }
    }
}

pub(crate) async fn idea(store: &Store, out: &Output, command: IdeaCommand) -> anyhow::Result<()> {
    match command {
        IdeaCommand::Create {
            title,
            description,
            fields,
        } => {
            let mut changes = Changes::default();
            changes
                .value("title", Some(title))
                .value("description", Some(description));
            fields.into_changes(&mut changes);
            let idea = store.create_from::<Idea>(changes.0).await?;
            created(out, &idea)
        }
        IdeaCommand::List(args) => list::<Idea>(store, out, args).await,
        IdeaCommand::Show { id } => out.doc(&store.require::<Idea>(&id).await?),
        IdeaCommand::Edit {
            id,
            title,
            description,
            fields,
            set,
        } => {
            let mut changes = Changes::default();
            changes
                .text("title", title)
                .value("description", description);
            fields.into_changes(&mut changes);
            changes.set_pairs(set.set)?;
            out.doc(&store.patch::<Idea>(&id, changes.0).await?)
        }
        IdeaCommand::Delete { id } => deleted(&store.delete::<Idea>(&id).await?),
        IdeaCommand::Restore { id } => restored(&store.restore::<Idea>(&id).await?),
    }
}

pub(crate) async fn project(
    store: &Store,
    out: &Output,
    command: ProjectCommand,
) -> anyhow::Result<()> {
    match command {
        ProjectCommand::Create { title, fields } => {
            let mut changes = Changes::default();
            changes.value("title", Some(title));
            fields.into_changes(&mut changes);
            let project = store.create_from::<Project>(changes.0).await?;
            created(out, &project)
        }
        ProjectCommand::List(args) => list::<Project>(store, out, args).await,
        ProjectCommand::Show { id } => out.doc(&store.require::<Project>(&id).await?),
        ProjectCommand::Edit {
            id,
            title,
            fields,
            set,
        } => {
            let mut changes = Changes::default();
            changes.text("title", title);
            fields.into_changes(&mut changes);
            changes.set_pairs(set.set)?;
            out.doc(&store.patch::<Project>(&id, changes.0).await?)
        }
        ProjectCommand::Delete { id } => deleted(&store.delete::<Project>(&id).await?),
        ProjectCommand::Restore { id } => restored(&store.restore::<Project>(&id).await?),
    }
}

pub(crate) async fn export(store: &Store, file: Option<PathBuf>) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(&store.export().await?.to_json())?;
    match file {
        Some(path) => {
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("exported to {}", path.display());
        }
        None => out!("{text}"),
    }
    Ok(())
}

pub(crate) async fn import(store: &Store, file: PathBuf) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let report = store.import(Export::from_json(&text)?).await?;
    out!("imported {} documents", report.documents);
    for (collection, n) in report.per_collection {
        out!("  {collection}: {n}");
    }
    Ok(())
}

pub(crate) async fn notifications(
    store: &Store,
    out: &Output,
    action: Option<NotificationAction>,
) -> anyhow::Result<()> {
    match action {
        None => {
            let page = store.list::<Notification>(ListQuery::default()).await?;
            if out.json {
                return out.docs(&page.items, None);
            }
            if page.items.is_empty() {
                out!("no notifications");
            }
            for n in &page.items {
                let mark = if n.read { " " } else { "*" };
                out!("{mark} {}  {}: {}", n.id, n.title, n.message);
            }
            Ok(())
        }
        Some(NotificationAction::Read { id }) => {
            store
                .patch::<Notification>(
                    &id,
                    bson::doc! { "read": true, "read_at": bson::DateTime::now() },
                )
                .await?;
            out!("marked read");
            Ok(())
        }
        Some(NotificationAction::Dismiss { id }) => {
            store
                .patch::<Notification>(
                    &id,
                    bson::doc! { "dismissed": true, "dismissed_at": bson::DateTime::now() },
                )
                .await?;
            out!("dismissed");
            Ok(())
        }
    }
}

pub(crate) fn info(store: &Store) -> anyhow::Result<()> {
    out!("profile: {}", store.dir().display());
    out!("user:    {}", store.user_id());
    for collection in Collection::ALL {
        out!("  {:<22} {}", collection.name(), store.count(collection));
    }
    Ok(())
}

async fn list<T: promptforge_sync::schema::Model>(
    store: &Store,
    out: &Output,
    args: ListArgs,
) -> anyhow::Result<()> {
    let page = store.list::<T>(args.query()).await?;
    out.docs(&page.items, Some(page.total))
}
