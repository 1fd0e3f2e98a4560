//! genolm: genomic language models. Genomes -> k-mer token corpora -> AWD-LSTM pretraining ->
//! ULMFiT fine-tuning and classifiers, CNN transfer learning, genome-scale inference.

pub mod cli;
pub mod config;
pub mod corpus;
pub mod dataset;
pub mod eval;
pub mod fsutil;
pub mod fuzz;
pub mod genome;
pub mod mem;
pub mod motif;
pub mod numfmt;
pub mod plot;
pub mod progress;
pub mod rng;
pub mod tokenize;
pub mod track;
pub mod variants;
