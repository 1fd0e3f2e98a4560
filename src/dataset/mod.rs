//! Labelled data sets derived from annotations (Genomic-ULMFiT's derived tasks).

pub mod promoters;
pub mod tf_sites;
