//! Every config shipped in configs/ parses as what its name says it is, so a typo in one is caught
//! here rather than minutes into a reproduction.

use std::path::Path;

use genolm_torch::config::cnn::CnnRunConfig;
use genolm_torch::train::classify::ClassifyConfig;
use genolm_torch::train::lm::PretrainConfig;

#[test]
fn test_shipped_configs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".toml") {
            continue;
        }
        let text = |r: Result<(), genolm::config::Error>| r.map_err(|e| e.to_string());
        let loaded = if name.starts_with("corpus-") {
            text(genolm::config::load::<genolm::corpus::CorpusConfig>(Some(&path), &[]).map(|_| ()))
        } else if name.starts_with("lm-") {
            text(genolm::config::load::<PretrainConfig>(Some(&path), &[]).map(|_| ()))
        } else if name.starts_with("cnn-") {
            // A CNN config must also build: kernels and pools that fit its input length.
            genolm::config::load::<CnnRunConfig>(Some(&path), &[])
                .map_err(|e| e.to_string())
                .and_then(|c| c.model.validate().map_err(|e| e.to_string()))
        } else {
            text(genolm::config::load::<ClassifyConfig>(Some(&path), &[]).map(|_| ()))
        };
        if let Err(e) = loaded {
            panic!("{name}: {e}");
        }
        seen += 1;
    }
    assert!(seen >= 17, "only {seen} configs found in {}", dir.display());
}
