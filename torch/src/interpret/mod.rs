//! What a model learned: gradient attributions (saliency, gradient x input, integrated gradients)
//! and in-silico mutagenesis, for every model family and ensemble through the one prediction
//! interface; each family supplies its gradients and its fast exact mutagenesis.

pub mod attribution;
pub mod cnn;
pub mod ism;
pub mod kmer;
