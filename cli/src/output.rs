//! What commands print: documents as text or JSON, one-line confirmations,
//! and a stdout writer that ends quietly when the reader goes away.

use bson::Bson;
use promptforge_sync::schema::Model;

/// `println!` through [`print_line`], which survives a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::print_line(format_args!($($arg)*))
    };
}
pub(crate) use out;

pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    pub(crate) fn docs<T: Model>(&self, items: &[T], total: Option<usize>) -> anyhow::Result<()> {
        if self.json {
            let values: Vec<serde_json::Value> = items
                .iter()
                .map(|m| Ok(Bson::Document(bson::to_document(m)?).into_relaxed_extjson()))
                .collect::<anyhow::Result<_>>()?;
            out!("{}", serde_json::to_string_pretty(&values)?);
            return Ok(());
        }
        if items.is_empty() {
            out!("no {} found", T::COLLECTION);
        }
        for item in items {
            let doc = bson::to_document(item)?;
            let title = doc.get_str("title").unwrap_or("");
            let status = doc.get_str("status").unwrap_or("");
            let deleted = if doc.contains_key("deleted_at") {
                "  (in trash)"
            } else {
                ""
            };
            out!("{}  {:<10}  {}{}", item.id(), status, title, deleted);
        }
        if let Some(total) = total {
            if total > items.len() {
                out!("({} of {total} shown)", items.len());
            }
        }
        Ok(())
    }

    pub(crate) fn doc<T: Model>(&self, item: &T) -> anyhow::Result<()> {
        let value = Bson::Document(bson::to_document(item)?).into_relaxed_extjson();
        out!("{}", serde_json::to_string_pretty(&value)?);
        Ok(())
    }
}

pub(crate) fn created<T: Model>(out: &Output, model: &T) -> anyhow::Result<()> {
    if out.json {
        return out.doc(model);
    }
    out!("{}", model.id());
    Ok(())
}

pub(crate) fn deleted<T: Model>(model: &T) -> anyhow::Result<()> {
    out!("moved {} {} to the trash", T::COLLECTION, model.id());
    Ok(())
}

pub(crate) fn restored<T: Model>(model: &T) -> anyhow::Result<()> {
    out!("restored {} {}", T::COLLECTION, model.id());
    Ok(())
}

/// Writes one line of output. A reader that went away
/// (`promptforge export | head`) ends the command the way it ends other
/// Unix tools, with the status of a broken pipe and no message, instead of
/// a panic; any other failure to write is reported.
pub(crate) fn print_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {
            std::process::exit(BROKEN_PIPE_STATUS)
        }
        Err(err) => {
            eprintln!("error: cannot write the output: {err}");
            std::process::exit(1)
        }
    }
}

/// 128 + SIGPIPE, what a shell reports for a tool a closed pipe stopped.
const BROKEN_PIPE_STATUS: i32 = 141;
