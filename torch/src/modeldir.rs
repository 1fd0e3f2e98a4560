//! One model directory for every model genolm trains: `config.json` (the kind, the resolved config
//! that rebuilds the model, what it was made from), `model.safetensors` (tensors by stable names),
//! `tokenizer.json` when the input is k-mers, `metrics.jsonl`, plots, and `train_state/` while a
//! run can be resumed. This module owns those names, reads and writes the config with its kind
//! tag, and refuses a directory of the wrong kind for a command, saying what it is instead.
//!
//! The config payload of each kind is its family's own type; this module sees it only through
//! serde, so that the families depend on it and not the other way round.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tch::{nn, Tensor};

use crate::train::{io_err, Error, Result};
use genolm::fsutil::write_atomic;

pub use genolm::eval::training_log::METRICS_FILE;

pub const MODEL_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
/// Language-model directories made before every kind used config.json: read, never written.
pub const LEGACY_LM_CONFIG: &str = "config.toml";
/// A resumable run's checkpoint (see [`crate::train::checkpoint`]).
pub const TRAIN_STATE_DIR: &str = "train_state";

/// What a model directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    LanguageModel,
    UlmfitClassifier,
    Cnn,
}

/// The kinds `predict`, `classify eval` and `scan` take.
pub const CLASSIFIERS: &[ModelKind] = &[ModelKind::UlmfitClassifier, ModelKind::Cnn];

impl ModelKind {
    const ALL: [ModelKind; 3] = [
        ModelKind::LanguageModel,
        ModelKind::UlmfitClassifier,
        ModelKind::Cnn,
    ];

    /// The `kind` written in config.json.
    pub fn tag(self) -> &'static str {
        match self {
            ModelKind::LanguageModel => "awd_lstm_lm",
            ModelKind::UlmfitClassifier => "awd_lstm_classifier",
            ModelKind::Cnn => "cnn",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.tag() == tag)
    }

    /// In words, with the command that makes one.
    pub fn describe(self) -> &'static str {
        match self {
            ModelKind::LanguageModel => "an AWD-LSTM language model (from genolm pretrain)",
            ModelKind::UlmfitClassifier => "a ULMFiT classifier (from genolm classify train)",
            ModelKind::Cnn => "a one-hot CNN (from genolm cnn train)",
        }
    }
}

/// The config of `dir` as JSON: config.json, or an older language model's config.toml.
fn read_config_value(dir: &Path) -> Result<(PathBuf, serde_json::Value)> {
    let json = dir.join(CONFIG_FILE);
    if json.exists() {
        let text = std::fs::read_to_string(&json).map_err(io_err(&json))?;
        let value = serde_json::from_str(&text).map_err(|e| Error::Damaged {
            path: json.clone(),
            problem: format!("not valid JSON: {e}"),
        })?;
        return Ok((json, value));
    }
    let toml_path = dir.join(LEGACY_LM_CONFIG);
    if toml_path.exists() {
        let text = std::fs::read_to_string(&toml_path).map_err(io_err(&toml_path))?;
        let damaged = |problem: String| Error::Damaged {
            path: toml_path.clone(),
            problem,
        };
        let value: toml::Value =
            toml::from_str(&text).map_err(|e| damaged(format!("not valid TOML: {e}")))?;
        let value = serde_json::to_value(value).map_err(|e| damaged(e.to_string()))?;
        return Ok((toml_path, value));
    }
    Err(Error::Missing {
        path: dir.to_path_buf(),
        what: if dir.is_dir() {
            format!("not a genolm model directory (no {CONFIG_FILE})")
        } else {
            "no such model directory".into()
        },
    })
}

fn kind_in(path: &Path, value: &serde_json::Value) -> Result<ModelKind> {
    let tag = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    ModelKind::from_tag(tag).ok_or_else(|| Error::Damaged {
        path: path.to_path_buf(),
        problem: format!(
            "unknown model kind {tag:?} (expected one of {:?})",
            ModelKind::ALL.map(ModelKind::tag)
        ),
    })
}

/// The kind of model in `dir`.
pub fn kind_of(dir: &Path) -> Result<ModelKind> {
    let (path, value) = read_config_value(dir)?;
    kind_in(&path, &value)
}

/// The config of `dir`, which must be of one of the kinds in `want`; a directory of another kind
/// is refused with what it is.
pub fn read_spec<S: DeserializeOwned>(dir: &Path, want: &[ModelKind]) -> Result<(ModelKind, S)> {
    let (path, value) = read_config_value(dir)?;
    let kind = kind_in(&path, &value)?;
    if !want.contains(&kind) {
        let wanted: Vec<&str> = want.iter().map(|k| k.describe()).collect();
        return Err(Error::WrongKind {
            path: dir.to_path_buf(),
            found: kind.describe(),
            needed: wanted.join(" or "),
        });
    }
    let spec = serde_json::from_value(value).map_err(|e| Error::Damaged {
        path: path.clone(),
        problem: format!("not {}'s config: {e}", kind.describe()),
    })?;
    Ok((kind, spec))
}

/// `check` of the model a directory's config describes (its sizes), run before the model is built:
/// a config whose model cannot be built (a size of 0, edited by hand or damaged) is named as the
/// damaged file it is, instead of failing inside libtorch.
pub fn check_buildable(dir: &Path, check: impl FnOnce() -> Result<()>) -> Result<()> {
    check().map_err(|e| Error::Damaged {
        path: dir.join(CONFIG_FILE),
        problem: format!("its model cannot be built: {e}"),
    })
}

/// Writes `dir/config.json` (atomically): `spec` with its kind.
pub fn write_spec<S: Serialize>(dir: &Path, kind: ModelKind, spec: &S) -> Result<()> {
    let mut value = serde_json::to_value(spec).map_err(|e| Error::Internal(e.to_string()))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| Error::Internal("a model spec must be a JSON object".into()))?;
    let mut tagged = serde_json::Map::new();
    tagged.insert("kind".into(), kind.tag().into());
    tagged.extend(std::mem::take(object));
    let text = serde_json::to_string_pretty(&tagged).expect("JSON serializes");
    let path = dir.join(CONFIG_FILE);
    write_atomic(&path, text.as_bytes()).map_err(io_err(&path))
}

/// What [`load_prefixes`] did: the tensors it loaded, and those it left as they were (a new head).
#[derive(Debug, Clone, PartialEq)]
pub struct PartialLoad {
    pub loaded: Vec<String>,
    pub kept: Vec<String>,
}

/// Loads from the safetensors `file` every variable of `vs` whose name starts with one of
/// `prefixes`, each of which must be in the file with the same shape; the other variables keep
/// their values. A head swap or an encoder transfer says exactly what it takes.
pub fn load_prefixes(vs: &nn::VarStore, file: &Path, prefixes: &[&str]) -> Result<PartialLoad> {
    let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(file)
        .map_err(|source| Error::Weights {
            path: file.to_path_buf(),
            source,
        })?
        .into_iter()
        .collect();
    let mut names: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = PartialLoad {
        loaded: Vec::new(),
        kept: Vec::new(),
    };
    let _guard = tch::no_grad_guard();
    for (name, mut var) in names {
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            out.kept.push(name);
            continue;
        }
        let Some(src) = tensors.get(&name) else {
            return Err(Error::Damaged {
                path: file.to_path_buf(),
                problem: format!("lacks {name} (loading {prefixes:?})"),
            });
        };
        if src.size() != var.size() {
            return Err(Error::Mismatch {
                subject: format!("{}: {name}", file.display()),
                found: format!("shape {:?}", src.size()),
                expected: format!("the model needs {:?}", var.size()),
            });
        }
        var.copy_(src);
        out.loaded.push(name);
    }
    if out.loaded.is_empty() {
        return Err(Error::Mismatch {
            subject: file.display().to_string(),
            found: format!("no tensor of the model starts with {prefixes:?}"),
            expected: "an encoder transfer or head swap needs the layers it names".into(),
        });
    }
    Ok(out)
}

/// sha256 of a file, hex.
pub fn sha256(path: &Path) -> Result<String> {
    Ok(genolm::genome::open::sha256_file(path)?)
}

/// What a model was made from: the sha256 of each of its data files and of the weights it
/// started from, by path (a model directory's `inputs_sha256`).
pub fn input_checksums(
    data: &genolm::corpus::labelled::LabelledSource,
    init: Option<&Path>,
) -> Result<std::collections::BTreeMap<String, String>> {
    let mut files: Vec<PathBuf> = data.files().into_iter().map(Path::to_path_buf).collect();
    files.extend(init.map(|dir| dir.join(MODEL_FILE)));
    files
        .into_iter()
        .map(|f| Ok((f.display().to_string(), sha256(&f)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Spec {
        classes: Vec<String>,
    }

    #[test]
    fn test_spec_round_trips_with_its_kind_and_the_wrong_kind_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec {
            classes: vec!["a".into(), "b".into()],
        };
        write_spec(dir.path(), ModelKind::Cnn, &spec).unwrap();
        assert_eq!(kind_of(dir.path()).unwrap(), ModelKind::Cnn);
        let (kind, back): (_, Spec) = read_spec(dir.path(), CLASSIFIERS).unwrap();
        assert_eq!((kind, back), (ModelKind::Cnn, spec));
        let err = read_spec::<Spec>(dir.path(), &[ModelKind::LanguageModel])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a one-hot CNN") && err.contains("needs an AWD-LSTM language model"),
            "{err}"
        );
        let empty = tempfile::tempdir().unwrap();
        let err = kind_of(empty.path()).unwrap_err().to_string();
        assert!(err.contains("not a genolm model directory"), "{err}");
    }

    #[test]
    fn test_legacy_language_model_config_toml_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(LEGACY_LM_CONFIG),
            "kind = \"awd_lstm_lm\"\nclasses = [\"x\"]\n",
        )
        .unwrap();
        let (kind, spec): (_, Spec) = read_spec(dir.path(), &[ModelKind::LanguageModel]).unwrap();
        assert_eq!(kind, ModelKind::LanguageModel);
        assert_eq!(spec.classes, ["x"]);
    }

    #[test]
    fn test_load_prefixes_loads_what_it_names_and_checks_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.safetensors");
        let src = nn::VarStore::new(tch::Device::Cpu);
        let _e = src.root().sub("encoder").ones("w", &[2, 3]);
        let _h = src.root().sub("head").ones("w", &[3]);
        src.save(&file).unwrap();
        let dst = nn::VarStore::new(tch::Device::Cpu);
        let e = dst.root().sub("encoder").zeros("w", &[2, 3]);
        let h = dst.root().sub("head").zeros("w", &[3]);
        let r = load_prefixes(&dst, &file, &["encoder."]).unwrap();
        assert_eq!(r.loaded, ["encoder.w"]);
        assert_eq!(r.kept, ["head.w"]);
        assert_eq!(e.sum(tch::Kind::Float).double_value(&[]), 6.0);
        assert_eq!(h.sum(tch::Kind::Float).double_value(&[]), 0.0);
        let bad = nn::VarStore::new(tch::Device::Cpu);
        let _b = bad.root().sub("encoder").zeros("w", &[3, 3]);
        let err = load_prefixes(&bad, &file, &["encoder."])
            .unwrap_err()
            .to_string();
        assert!(err.contains("encoder.w: shape [2, 3]"), "{err}");
        let err = load_prefixes(&dst, &file, &["decoder."])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no tensor"), "{err}");
    }
}
