//! genolm's libtorch half: devices, models, the trainer. Kept apart from the `genolm` crate so that
//! data commands never load libtorch (0.3 s and ~115 MB at start-up).

pub mod alloc;
pub mod cli;
pub mod config;
pub mod device;
pub mod dist;
pub mod features;
pub mod infer;
pub mod interpret;
pub mod model;
pub mod modeldir;
pub mod progress;
pub mod train;
