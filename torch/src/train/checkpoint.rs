//! Atomic, resumable checkpoints: `train_state/` holds the weights, the optimizer moments, the
//! task's extra state (an LM's LSTM hidden state) and the loop position. It is written under a staging name and swapped into place,
//! so an interrupted save leaves the previous checkpoint whole.

use std::path::{Path, PathBuf};

use tch::Tensor;

use super::optim::AdamW;
use super::{io_err, Error, Result};
use genolm::fsutil::{write_atomic, StagingDir};

pub use crate::modeldir::TRAIN_STATE_DIR;
const WEIGHTS: &str = "weights.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const POSITION: &str = "position.json";

/// Saves `vs` to a safetensors file atomically (temporary name + rename).
pub fn save_weights(vs: &tch::nn::VarStore, path: &Path) -> Result<()> {
    let tmp = path.with_extension("partial.safetensors");
    vs.save(&tmp)?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

pub fn save(
    dir: &Path,
    vs: &tch::nn::VarStore,
    opt: &AdamW,
    extra: &[(String, Tensor)],
    pos: &impl serde::Serialize,
) -> Result<PathBuf> {
    let target = dir.join(TRAIN_STATE_DIR);
    let staging = StagingDir::create(&target, true)?;
    vs.save(staging.path().join(WEIGHTS))?;
    let mut named: Vec<(String, Tensor)> = Vec::new();
    for p in &opt.params {
        named.push((format!("exp_avg.{}", p.name), p.exp_avg.shallow_clone()));
        named.push((
            format!("exp_avg_sq.{}", p.name),
            p.exp_avg_sq.shallow_clone(),
        ));
    }
    for (name, t) in extra {
        named.push((name.clone(), t.shallow_clone()));
    }
    named.push((
        "optimizer.step".into(),
        Tensor::from_slice(&[opt.step as i64]),
    ));
    if let Some(scaler) = opt.loss_scaler {
        named.push((
            "loss_scaler.scale".into(),
            Tensor::from_slice(&[scaler.scale]),
        ));
        named.push((
            "loss_scaler.good_steps".into(),
            Tensor::from_slice(&[scaler.good_steps as i64]),
        ));
    }
    Tensor::write_safetensors(&named, staging.path().join(OPTIMIZER))?;
    let ppath = staging.path().join(POSITION);
    let text = serde_json::to_string_pretty(pos).expect("position serializes");
    write_atomic(&ppath, text.as_bytes()).map_err(io_err(&ppath))?;
    Ok(staging.commit()?)
}

/// Loads a checkpoint into `vs` and `opt`; returns the loop position and every tensor saved beside
/// the optimizer's (where the task's extra state is).
pub fn load<P: serde::de::DeserializeOwned>(
    dir: &Path,
    vs: &mut tch::nn::VarStore,
    opt: &mut AdamW,
) -> Result<(P, std::collections::HashMap<String, Tensor>)> {
    let state = dir.join(TRAIN_STATE_DIR);
    // A save killed mid-swap (on a filesystem without atomic exchange) left the previous
    // checkpoint aside: it comes back.
    genolm::fsutil::recover(&state).map_err(io_err(&state))?;
    if !state.is_dir() {
        return Err(Error::Missing {
            path: dir.to_path_buf(),
            what: format!("no checkpoint to resume from (expected {TRAIN_STATE_DIR}/)"),
        });
    }
    crate::train::load_weights(vs, &state.join(WEIGHTS))?;
    let tensors: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(state.join(OPTIMIZER))?
            .into_iter()
            .collect();
    let get = |name: &str| {
        tensors
            .get(name)
            .map(|t| t.shallow_clone())
            .ok_or_else(|| Error::Damaged {
                path: state.join(OPTIMIZER),
                problem: format!("the checkpoint lacks {name}"),
            })
    };
    let _guard = tch::no_grad_guard();
    for p in &mut opt.params {
        let device = p.param.device();
        p.exp_avg
            .copy_(&get(&format!("exp_avg.{}", p.name))?.to_device(device));
        p.exp_avg_sq
            .copy_(&get(&format!("exp_avg_sq.{}", p.name))?.to_device(device));
    }
    opt.step = get("optimizer.step")?.int64_value(&[0]) as u64;
    if let Some(scaler) = opt.loss_scaler.as_mut() {
        // A checkpoint from a run without loss scaling leaves the scaler at its start.
        if let (Ok(scale), Ok(good)) = (get("loss_scaler.scale"), get("loss_scaler.good_steps")) {
            scaler.scale = scale.double_value(&[0]);
            scaler.good_steps = good.int64_value(&[0]) as u64;
        }
    }
    let ppath = state.join(POSITION);
    let text = std::fs::read_to_string(&ppath).map_err(io_err(&ppath))?;
    let position = serde_json::from_str(&text).map_err(|e| Error::Damaged {
        path: ppath.clone(),
        problem: format!("not a training position: {e}"),
    })?;
    Ok((position, tensors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::fit::Position;
    use crate::train::optim::{AdamWConfig, LossScaler};
    use tch::Kind;

    fn adamw(vs: &tch::nn::VarStore, scaler: Option<LossScaler>) -> AdamW {
        let cfg = AdamWConfig {
            beta2: 0.99,
            eps: 1e-5,
            weight_decay: 0.0,
        };
        let named = vs.variables().into_iter().map(|(n, t)| (n, t, 0)).collect();
        let mut opt = AdamW::new(named, 1, cfg);
        opt.loss_scaler = scaler;
        opt
    }

    #[test]
    fn test_checkpoint_keeps_optimizer_step_and_loss_scale() {
        let dir = tempfile::tempdir().unwrap();
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let _w = vs.root().randn("w", &[3, 2], 0.0, 1.0);
        let mut opt = adamw(
            &vs,
            Some(LossScaler {
                scale: 1024.0,
                good_steps: 17,
            }),
        );
        opt.step = 5;
        let extra = vec![(
            "hidden.0.h".to_string(),
            Tensor::ones([1, 2, 3], (Kind::Float, tch::Device::Cpu)),
        )];
        save(dir.path(), &vs, &opt, &extra, &Position::default()).unwrap();
        let mut vs2 = tch::nn::VarStore::new(tch::Device::Cpu);
        let _w2 = vs2.root().zeros("w", &[3, 2]);
        let mut back = adamw(&vs2, Some(LossScaler::default()));
        let (_, saved): (Position, _) = load(dir.path(), &mut vs2, &mut back).unwrap();
        assert_eq!(back.step, 5);
        assert_eq!(back.loss_scaler, opt.loss_scaler, "the scale carries over");
        assert!(
            saved["hidden.0.h"].equal(&extra[0].1),
            "extra state comes back"
        );
        // Without a scaler in the run, none is saved, and a scaler resumed from it starts afresh.
        opt.loss_scaler = None;
        save(dir.path(), &vs, &opt, &extra, &Position::default()).unwrap();
        let mut fresh = adamw(&vs2, Some(LossScaler::default()));
        let _: (Position, _) = load(dir.path(), &mut vs2, &mut fresh).unwrap();
        assert_eq!(fresh.loss_scaler, Some(LossScaler::default()));
    }
}
