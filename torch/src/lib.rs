//! genolm's libtorch half: device selection now; models, training and inference as they land.
//! Kept apart from the `genolm` crate so that data commands never load libtorch (0.3 s and ~115 MB
//! at start-up).

pub mod device;
