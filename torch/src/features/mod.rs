//! What a model reads, made from sequences: k-mer ids in each reading frame for the AWD-LSTM
//! family (with the labelled task data they come from).

pub mod kmer;
pub mod onehot;
