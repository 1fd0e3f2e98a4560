//! The one freeze mechanism. A model names its layer groups as parameter-name prefixes, input to
//! output (`AwdLstm::layer_groups` and the models built on it); the optimizer holds one learning-rate
//! multiplier and one frozen flag per group. Gradual unfreezing, discriminative learning rates and
//! "freeze through layer i" (TLVar) are settings of those flags, written here once.

use tch::Tensor;

use super::optim::AdamW;

/// Layer groups as parameter-name prefixes, first (input side) to last (output side).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerGroups {
    prefixes: Vec<Vec<String>>,
}

impl LayerGroups {
    pub fn new(prefixes: Vec<Vec<String>>) -> Self {
        Self { prefixes }
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

/// Gradual unfreezing with discriminative learning rates (ULMFiT): the top `unfreeze` groups train
/// (0: all of them), the group `depth` below the top at lr / lr_div^depth; the rest are frozen.
pub fn unfreeze_top(opt: &mut AdamW, unfreeze: usize, lr_div: f64) {
    let n = opt.group_frozen.len();
    let trainable = if unfreeze == 0 { n } else { unfreeze.min(n) };
    for g in 0..n {
        let depth = n - 1 - g;
        opt.group_frozen[g] = depth >= trainable;
        opt.group_lr_mult[g] = lr_div.powi(-(depth as i32));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::AdamWConfig;

    fn groups() -> LayerGroups {
        LayerGroups::new(vec![
            vec!["encoder.embedding.".into()],
            vec!["encoder.lstm.0.".into()],
            vec!["encoder.lstm.1.".into()],
            vec!["head.".into(), "decoder.".into()],
        ])
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
    }
}
