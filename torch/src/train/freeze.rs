//! The one freeze mechanism. A model names its layer groups, input to output, each a name and
//! parameter-name prefixes (`AwdLstm::layer_groups`, `Cnn::layer_groups`); the optimizer holds one
//! learning-rate multiplier and one frozen flag per group. Gradual unfreezing, discriminative
//! learning rates and "freeze through layer i" (TLVar) are settings of those flags, written here
//! once; a model keeps the BatchNorm statistics of its frozen groups (see `Task::set_frozen`).

use tch::Tensor;

use super::optim::AdamW;

/// A named layer group: `conv2`, `lstm.1`, `head`, with the parameter-name prefixes it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerGroup {
    pub name: String,
    pub prefixes: Vec<String>,
}

impl LayerGroup {
    pub fn new(name: impl Into<String>, prefixes: &[&str]) -> Self {
        Self {
            name: name.into(),
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// Layer groups, first (input side) to last (output side).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerGroups {
    names: Vec<String>,
    prefixes: Vec<Vec<String>>,
}

impl LayerGroups {
    pub fn new(groups: Vec<LayerGroup>) -> Self {
        let (names, prefixes) = groups.into_iter().map(|g| (g.name, g.prefixes)).unzip();
        Self { names, prefixes }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The group a user named: by name (`conv2`) or by 0-based index (`1`).
    pub fn find(&self, name_or_index: &str) -> Result<usize, String> {
        if let Some(i) = self.names.iter().position(|n| n == name_or_index) {
            return Ok(i);
        }
        match name_or_index.parse::<usize>() {
            Ok(i) if i < self.names.len() => Ok(i),
            _ => Err(format!(
                "no layer group {name_or_index:?}: the model's groups are {:?} (or 0-{})",
                self.names,
                self.names.len().saturating_sub(1)
            )),
        }
    }

    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// The group whose prefix `name` starts with.
    pub fn group_of(&self, name: &str) -> Option<usize> {
        self.prefixes
            .iter()
            .position(|g| g.iter().any(|p| name.starts_with(p.as_str())))
    }

    /// Parameters sorted by name (the optimizer's fixed order), each with its group. A parameter
    /// in no group is an error: it would never be frozen, silently.
    pub fn assign(
        &self,
        mut named: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, Tensor, usize)>, String> {
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
            .into_iter()
            .map(|(name, t)| match self.group_of(&name) {
                Some(g) => Ok((name, t, g)),
                None => Err(format!(
                    "parameter {name} belongs to no layer group {:?}",
                    self.prefixes
                )),
            })
            .collect()
    }
}

/// Which layer groups train in a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trainable {
    /// The top n groups (0: all of them): ULMFiT's gradual unfreezing.
    Top(usize),
    /// Every group above this one (it and those below are frozen): TLVar's "freeze through
    /// layer i".
    After(usize),
}

/// Sets which groups train, with discriminative learning rates: the group `depth` below the top
/// at lr / lr_div^depth.
pub fn set_trainable(opt: &mut AdamW, which: Trainable, lr_div: f64) {
    let n = opt.group_frozen.len();
    let first_trainable = match which {
        Trainable::Top(0) => 0,
        Trainable::Top(k) => n - k.min(n),
        Trainable::After(i) => (i + 1).min(n),
    };
    for g in 0..n {
        let depth = n - 1 - g;
        opt.group_frozen[g] = g < first_trainable;
        opt.group_lr_mult[g] = lr_div.powi(-(depth as i32));
    }
}

/// Gradual unfreezing (ULMFiT): the top `unfreeze` groups train (0: all of them).
pub fn unfreeze_top(opt: &mut AdamW, unfreeze: usize, lr_div: f64) {
    set_trainable(opt, Trainable::Top(unfreeze), lr_div);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::AdamWConfig;

    fn groups() -> LayerGroups {
        LayerGroups::new(vec![
            LayerGroup::new("embedding", &["encoder.embedding."]),
            LayerGroup::new("lstm.0", &["encoder.lstm.0."]),
            LayerGroup::new("lstm.1", &["encoder.lstm.1."]),
            LayerGroup::new("head", &["head.", "decoder."]),
        ])
    }

    #[test]
    fn test_find_takes_a_name_or_an_index() {
        let g = groups();
        assert_eq!(g.find("lstm.1"), Ok(2));
        assert_eq!(g.find("3"), Ok(3));
        let err = g.find("conv2").unwrap_err();
        assert!(
            err.contains("\"conv2\"") && err.contains("embedding"),
            "{err}"
        );
        assert!(g.find("4").is_err());
    }

    fn param(name: &str) -> (String, Tensor) {
        (name.into(), Tensor::from_slice(&[0.0f32]))
    }

    #[test]
    fn test_group_of_matches_prefixes_not_lookalikes() {
        let g = groups();
        assert_eq!(g.group_of("encoder.embedding.weight"), Some(0));
        assert_eq!(g.group_of("encoder.lstm.1.weight_hh"), Some(2));
        assert_eq!(g.group_of("decoder.bias"), Some(3));
        // "encoder.lstm.10." is not layer 1's.
        assert_eq!(g.group_of("encoder.lstm.10.weight_hh"), None);
    }

    #[test]
    fn test_assign_sorts_by_name_and_refuses_an_ungrouped_parameter() {
        let g = groups();
        let named = vec![
            param("head.0.weight"),
            param("encoder.lstm.0.bias_ih"),
            param("encoder.embedding.weight"),
        ];
        let assigned = g.assign(named).unwrap();
        let order: Vec<(&str, usize)> = assigned.iter().map(|(n, _, g)| (n.as_str(), *g)).collect();
        assert_eq!(
            order,
            [
                ("encoder.embedding.weight", 0),
                ("encoder.lstm.0.bias_ih", 1),
                ("head.0.weight", 3)
            ]
        );
        let err = g.assign(vec![param("extra.weight")]).unwrap_err();
        assert!(err.contains("extra.weight"), "{err}");
    }

    #[test]
    fn test_unfreeze_top_freezes_the_bottom_and_divides_lr_by_depth() {
        let named = (0..4)
            .map(|g| (format!("p{g}"), Tensor::from_slice(&[0.0f32]), g))
            .collect();
        let cfg = AdamWConfig {
            beta2: 0.99,
            eps: 1e-5,
            weight_decay: 0.0,
        };
        let mut opt = AdamW::new(named, 4, cfg);
        unfreeze_top(&mut opt, 2, 2.0);
        assert_eq!(opt.group_frozen, [true, true, false, false]);
        assert_eq!(opt.group_lr_mult, [0.125, 0.25, 0.5, 1.0]);
        unfreeze_top(&mut opt, 0, 2.0);
        assert_eq!(opt.group_frozen, [false; 4]);
        // More groups than the model has: all of them.
        unfreeze_top(&mut opt, 9, 2.0);
        assert_eq!(opt.group_frozen, [false; 4]);
        unfreeze_top(&mut opt, 1, 2.6);
        assert_eq!(opt.group_frozen, [true, true, true, false]);
        // Freeze through group 1: groups 2 and 3 train, lr still divided by depth.
        set_trainable(&mut opt, Trainable::After(1), 2.0);
        assert_eq!(opt.group_frozen, [true, true, false, false]);
        assert_eq!(opt.group_lr_mult, [0.125, 0.25, 0.5, 1.0]);
        set_trainable(&mut opt, Trainable::After(3), 2.0);
        assert_eq!(
            opt.group_frozen, [true; 4],
            "through the top: nothing trains"
        );
    }
}
