//! Saving and loading as Hugging Face files, so Python's `tokenizers` / `transformers` load the same
//! vocabulary:
//! - `tokenizer.json`: WordLevel over k-mer strings, `<pad>`/`<unk>` as special added tokens, and a
//!   WhitespaceSplit pre-tokenizer (encode space-separated k-mers, or pass a list with
//!   `is_pretokenized=True`).
//! - `tokenizer_config.json` beside it: HF's place for settings the tokenizer file has no field for;
//!   genolm keeps k and stride there (under "genolm"), which rebuild the k-mer cutting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::kmer::KmerSpec;
use super::vocab::{KmerTokenizer, PAD_ID, PAD_TOKEN, UNK_ID, UNK_TOKEN};
use super::{Error, Result};
use crate::fsutil::write_atomic;

pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct GenolmSection {
    k: usize,
    stride: usize,
    alphabet: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TokenizerConfig {
    tokenizer_class: String,
    pad_token: String,
    unk_token: String,
    genolm: GenolmSection,
}

fn added_token(id: u32, content: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "content": content, "single_word": false, "lstrip": false,
        "rstrip": false, "normalized": false, "special": true
    })
}

/// The `tokenizer.json` text. The vocabulary is written in id order (a JSON object keeps the order
/// of the text), which makes the file readable and diffable.
pub fn tokenizer_json(tok: &KmerTokenizer) -> String {
    let mut vocab = String::with_capacity(tok.vocab_size() * 16);
    for (id, token) in tok.tokens().iter().enumerate() {
        if id > 0 {
            vocab.push_str(",\n      ");
        }
        vocab.push_str(&serde_json::to_string(token).expect("string serializes"));
        vocab.push_str(&format!(": {id}"));
    }
    let added = serde_json::to_string(&vec![
        added_token(PAD_ID, PAD_TOKEN),
        added_token(UNK_ID, UNK_TOKEN),
    ])
    .expect("json serializes");
    format!(
        "{{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": {added},\n  \
         \"normalizer\": null,\n  \"pre_tokenizer\": {{\"type\": \"WhitespaceSplit\"}},\n  \"post_processor\": null,\n  \
         \"decoder\": null,\n  \"model\": {{\n    \"type\": \"WordLevel\",\n    \"unk_token\": \"{UNK_TOKEN}\",\n    \
         \"vocab\": {{\n      {vocab}\n    }}\n  }}\n}}\n"
    )
}

fn config_json(tok: &KmerTokenizer) -> String {
    let cfg = TokenizerConfig {
        tokenizer_class: "PreTrainedTokenizerFast".into(),
        pad_token: PAD_TOKEN.into(),
        unk_token: UNK_TOKEN.into(),
        genolm: GenolmSection {
            k: tok.k(),
            stride: tok.stride(),
            alphabet: "ACGT".into(),
        },
    };
    serde_json::to_string_pretty(&cfg).expect("json serializes") + "\n"
}

/// Writes `tokenizer.json` and `tokenizer_config.json` into `dir` (each atomically).
pub fn save(tok: &KmerTokenizer, dir: &Path) -> Result<()> {
    let io = |path: PathBuf| move |source| Error::Io { path, source };
    let path = dir.join(TOKENIZER_FILE);
    write_atomic(&path, tokenizer_json(tok).as_bytes()).map_err(io(path.clone()))?;
    let path = dir.join(TOKENIZER_CONFIG_FILE);
    write_atomic(&path, config_json(tok).as_bytes()).map_err(io(path.clone()))?;
    Ok(())
}

/// `path` may be a directory (a corpus or model dir) or its `tokenizer.json`.
pub fn resolve_paths(path: &Path) -> (PathBuf, PathBuf) {
    let json = if path.is_dir() {
        path.join(TOKENIZER_FILE)
    } else {
        path.to_path_buf()
    };
    let config = json.with_file_name(TOKENIZER_CONFIG_FILE);
    (json, config)
}

fn invalid(path: &Path, message: impl Into<String>) -> Error {
    Error::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The `tokenizers` crate's reading of `path`. The JSON is checked first: `tokenizers` panics on
/// some malformed JSON instead of returning an error (found by `examples/fuzz.rs`), and a panic it
/// still raises on valid JSON is turned into an error here too.
fn read_hf_tokenizer(path: &Path) -> Result<tokenizers::Tokenizer> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| invalid(path, format!("not JSON: {e}")))?;
    let parsed = std::panic::catch_unwind(|| text.parse::<tokenizers::Tokenizer>());
    match parsed {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(invalid(path, e.to_string())),
        Err(_) => Err(invalid(
            path,
            "not a tokenizer the tokenizers library can read",
        )),
    }
}

/// Loads a tokenizer saved by [`save`], through the `tokenizers` crate (so what loads here is what
/// Python's `tokenizers` loads), then checks it is a k-mer vocabulary.
pub fn load(path: &Path) -> Result<KmerTokenizer> {
    let (json_path, config_path) = resolve_paths(path);
    if !json_path.exists() {
        return Err(Error::Io {
            path: json_path,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer file not found"),
        });
    }
    let config_text = std::fs::read_to_string(&config_path).map_err(|source| Error::Io {
        path: config_path.clone(),
        source,
    })?;
    let config: TokenizerConfig = serde_json::from_str(&config_text)
        .map_err(|e| invalid(&config_path, format!("no genolm k/stride section: {e}")))?;
    let spec = KmerSpec::new(config.genolm.k, config.genolm.stride)?;
    let hf = read_hf_tokenizer(&json_path)?;
    let vocab: HashMap<String, u32> = hf.get_vocab(true);
    if vocab.get(PAD_TOKEN) != Some(&PAD_ID) || vocab.get(UNK_TOKEN) != Some(&UNK_ID) {
        return Err(invalid(
            &json_path,
            format!("expected {PAD_TOKEN} = 0 and {UNK_TOKEN} = 1"),
        ));
    }
    let mut by_id = vec![None; vocab.len()];
    for (token, &id) in &vocab {
        let slot = by_id.get_mut(id as usize).ok_or_else(|| {
            invalid(
                &json_path,
                format!("ids are not contiguous: {token} = {id}"),
            )
        })?;
        *slot = Some(token.as_str());
    }
    let mut codes = Vec::with_capacity(vocab.len().saturating_sub(2));
    for (id, token) in by_id.iter().enumerate().skip(2) {
        let token = token.ok_or_else(|| invalid(&json_path, format!("id {id} is missing")))?;
        let code = spec.encode_kmer(token).ok_or_else(|| {
            invalid(
                &json_path,
                format!("token {token:?} (id {id}) is not a {}-mer of ACGT", spec.k),
            )
        })?;
        codes.push(code);
    }
    Ok(KmerTokenizer::from_codes(spec, &codes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs the fuzzer (`examples/fuzz.rs`) found that made the `tokenizers` crate panic: each
    /// is now a clear error naming the file.
    #[test]
    fn test_fuzz_regressions_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let spec = KmerSpec::new(3, 1).unwrap();
        save(&KmerTokenizer::complete(spec), dir.path()).unwrap();
        let found = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/regressions");
        let mut n = 0;
        for entry in std::fs::read_dir(found).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().contains("tokenizer-json") {
                continue;
            }
            std::fs::copy(&path, dir.path().join(TOKENIZER_FILE)).unwrap();
            let err = load(dir.path()).unwrap_err().to_string();
            assert!(
                err.contains("tokenizer.json") && err.contains("not JSON"),
                "{path:?}: {err}"
            );
            n += 1;
        }
        assert!(n >= 2);
    }

    /// A tiny deterministic generator, so the test needs no RNG crate.
    fn random_seq(len: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                b"ACGTacgtACGTNnRY"[(s >> 60) as usize]
            })
            .collect()
    }

    /// The fast path (2-bit codes + dense table) against the `tokenizers` crate's own WordLevel
    /// lookup of the k-mer strings, for every k and stride and the length edge cases.
    #[test]
    fn test_fast_path_matches_hf_tokenizers_lookup() {
        let dir = tempfile::tempdir().unwrap();
        for k in 1..=8 {
            for stride in 1..=k {
                let spec = KmerSpec::new(k, stride).unwrap();
                // A vocabulary missing some k-mers, so absent k-mers must map to <unk> too.
                let codes: Vec<u32> = (0..spec.n_kmers() as u32)
                    .filter(|c| c % 3 != 1)
                    .rev()
                    .collect();
                let tok = KmerTokenizer::from_codes(spec, &codes);
                save(&tok, dir.path()).unwrap();
                let hf = tokenizers::Tokenizer::from_file(dir.path().join(TOKENIZER_FILE)).unwrap();
                let loaded = load(dir.path()).unwrap();
                assert_eq!(loaded.tokens(), tok.tokens());
                for (len, seed) in [
                    (0, 1),
                    (k - 1, 2),
                    (k, 3),
                    (k + 1, 4),
                    (stride + k, 5),
                    (997, 6),
                ] {
                    let seq = random_seq(len, seed + k as u64 * 31);
                    let fast = loaded.encode(&seq);
                    let kmers = tok.kmer_strings(&seq);
                    let expected: Vec<u32> = if kmers.is_empty() {
                        vec![]
                    } else {
                        hf.encode(kmers.join(" "), false)
                            .unwrap()
                            .get_ids()
                            .to_vec()
                    };
                    assert_eq!(fast, expected, "k={k} stride={stride} len={len}");
                    assert_eq!(fast.len(), spec.n_tokens(len));
                }
            }
        }
    }

    #[test]
    fn test_load_rejects_non_kmer_vocab() {
        let dir = tempfile::tempdir().unwrap();
        let tok = KmerTokenizer::complete(KmerSpec::new(2, 1).unwrap());
        save(&tok, dir.path()).unwrap();
        let p = dir.path().join(TOKENIZER_FILE);
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("\"AC\"", "\"AX\"");
        std::fs::write(&p, text).unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("AX"), "{err}");
    }
}
