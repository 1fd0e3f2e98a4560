//! What a model learned: in-silico mutagenesis (more methods in later releases), for every model
//! family and ensemble through the one prediction interface.

pub mod ism;
