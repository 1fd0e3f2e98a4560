//! TOML configs with `--set section.key=value` overrides, applied to the parsed TOML before it is
//! deserialized, so every key can be overridden the same way and unknown keys are caught in both.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}", path = path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}", path = path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("--set {text:?}: {message}")]
    Override { text: String, message: String },
    #[error("invalid configuration (after --set overrides): {0}")]
    AfterOverride(String),
}

/// Parses a `--set` value as TOML (numbers, booleans, arrays, quoted strings); bare words are strings.
fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

/// Applies one `a.b.c=value` override to a TOML table.
pub fn apply_override(table: &mut toml::Table, text: &str) -> Result<(), Error> {
    let (key, raw) = text.split_once('=').ok_or_else(|| Error::Override {
        text: text.to_string(),
        message: "expected key=value".into(),
    })?;
    set_value(table, key, parse_value(raw.trim()), text)
}

/// Sets a dotted key to a value, creating sections on the way.
fn set_value(
    table: &mut toml::Table,
    key: &str,
    value: toml::Value,
    text: &str,
) -> Result<(), Error> {
    let err = |message: &str| Error::Override {
        text: text.to_string(),
        message: message.to_string(),
    };
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(err("empty key"));
    }
    let mut node = table;
    for part in &parts[..parts.len() - 1] {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry
            .as_table_mut()
            .ok_or_else(|| err(&format!("'{part}' is a value, not a section")))?;
    }
    node.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// Loads `T` from an optional TOML file plus overrides. Errors name the file, line and key.
pub fn load<T: DeserializeOwned>(path: Option<&Path>, overrides: &[String]) -> Result<T, Error> {
    load_with(path, &[], overrides)
}

/// [`load`], with typed values (from command-line flags) applied before the `--set` overrides.
pub fn load_with<T: DeserializeOwned>(
    path: Option<&Path>,
    values: &[(String, toml::Value)],
    overrides: &[String],
) -> Result<T, Error> {
    let mut table = toml::Table::new();
    if let Some(path) = path {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |e: toml::de::Error| Error::Invalid {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', "\n  "),
        };
        // Deserializing the text itself keeps line numbers in errors (unknown keys, wrong types).
        let parsed = toml::from_str::<T>(&text).map_err(invalid)?;
        if overrides.is_empty() && values.is_empty() {
            return Ok(parsed);
        }
        table = text.parse::<toml::Table>().map_err(invalid)?;
    }
    for (key, value) in values {
        set_value(&mut table, key, value.clone(), &format!("{key}={value}"))?;
    }
    for o in overrides {
        apply_override(&mut table, o)?;
    }
    T::deserialize(toml::Value::Table(table))
        .map_err(|e| Error::AfterOverride(e.to_string().trim_end().to_string()))
}

/// `value` (a config recorded in a model directory) with `--set` overrides applied.
pub fn reapply<T: serde::Serialize + DeserializeOwned>(
    value: &T,
    overrides: &[String],
) -> Result<T, Error> {
    let mut table =
        toml::Table::try_from(value).map_err(|e| Error::AfterOverride(e.to_string()))?;
    for o in overrides {
        apply_override(&mut table, o)?;
    }
    T::deserialize(toml::Value::Table(table))
        .map_err(|e| Error::AfterOverride(e.to_string().trim_end().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Section {
        k: usize,
        #[serde(default)]
        name: String,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        tok: Section,
    }

    #[test]
    fn test_unknown_key_names_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[tok]\nk = 5\nkk = 3\n").unwrap();
        let err = load::<Cfg>(Some(&p), &[]).unwrap_err().to_string();
        assert!(
            err.contains("kk") && err.contains("line 3") && err.contains("c.toml"),
            "{err}"
        );
    }

    #[test]
    fn test_overrides_apply_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[tok]\nk = 5\n").unwrap();
        let c: Cfg = load(Some(&p), &["tok.k=7".into(), "tok.name=abc".into()]).unwrap();
        assert_eq!(
            c.tok,
            Section {
                k: 7,
                name: "abc".into()
            }
        );
        let err = load::<Cfg>(Some(&p), &["tok.q=1".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("q"), "{err}");
        assert!(load::<Cfg>(Some(&p), &["nokey".into()]).is_err());
    }
}
