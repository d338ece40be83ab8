//! The UI's browser tests run against `ui/tests/fake-backend.js`; this checks
//! that the fake answers as the real commands do. One scenario
//! (`ui/tests/parity/scenario.json`) runs through the fake in Node and
//! through the app on Tauri's mock runtime, and every step's outcome and the
//! parts of its answer the scenario names must agree.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Map, Value};

pub fn scenario_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/tests/parity/scenario.json")
}

pub fn load_scenario() -> Result<Value, String> {
    let path = scenario_path();
    let text =
        std::fs::read_to_string(&path).map_err(|err| format!("read {}: {err}", path.display()))?;
    serde_json::from_str(&text).map_err(|err| format!("parse {}: {err}", path.display()))
}

/// Every step's outcome through the fake: `{"ok": answer}` or `{"err": {..}}`.
pub fn fake_outcomes() -> Result<Vec<Value>, String> {
    let runner = scenario_path().with_file_name("run-fake.mjs");
    let output = Command::new("node")
        .arg(&runner)
        .arg(scenario_path())
        .output()
        .map_err(|err| format!("run node (scripts/setup-debian.sh installs it): {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed: {}",
            runner.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).map_err(|err| format!("fake said {line}: {err}")))
        .collect()
}

fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(value, |v, part| v.get(part))
}

/// The step's arguments with each `$name.path` replaced by that value of an
/// earlier step's answer.
pub fn resolve(args: &Value, answers: &Map<String, Value>) -> Value {
    match args {
        Value::String(s) if s.starts_with('$') => {
            let (name, path) = s[1..].split_once('.').unwrap_or((&s[1..], ""));
            answers
                .get(name)
                .and_then(|answer| at(answer, path))
                .cloned()
                .unwrap_or(Value::Null)
        }
        Value::Array(items) => Value::Array(items.iter().map(|a| resolve(a, answers)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), resolve(v, answers)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The part of `answer` a `compare` path names: dotted fields, `[]` mapping
/// over a list, `{keys}` for the sorted field names, a trailing `?` for only
/// whether the value is set.
pub fn project(answer: &Value, path: &str) -> Value {
    if let Some(path) = path.strip_suffix('?') {
        let value = project(answer, path);
        return json!(!value.is_null());
    }
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    let next = |v: &Value| {
        if rest.is_empty() {
            v.clone()
        } else {
            project(v, rest)
        }
    };
    if head == "{keys}" {
        let mut keys: Vec<&String> = answer
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        keys.sort();
        return json!(keys);
    }
    if let Some(field) = head.strip_suffix("[]") {
        let list = if field.is_empty() {
            Some(answer)
        } else {
            answer.get(field)
        };
        return match list.and_then(Value::as_array) {
            Some(items) => Value::Array(items.iter().map(next).collect()),
            None => Value::Null,
        };
    }
    answer.get(head).map(next).unwrap_or(Value::Null)
}

/// What must agree for one step: the outcome's kind, an error's code, and
/// each compared part of an answer.
pub fn essentials(step: &Value, outcome: &Value) -> Value {
    if let Some(err) = outcome.get("err") {
        return json!({ "error": err.get("code") });
    }
    let answer = outcome.get("ok").unwrap_or(&Value::Null);
    let parts: Map<String, Value> = step["compare"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(|path| (path.to_owned(), project(answer, path)))
        .collect();
    json!({ "ok": parts })
}
