//! Inference with trained models.

pub mod predict;
