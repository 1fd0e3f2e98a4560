//! `genolm corpus stats`: what a corpus holds, re-read from its files (so it also checks them).

use rayon::prelude::*;

use super::format::{Corpus, SourceInfo, Split};

#[derive(Debug, Clone, serde::Serialize)]
pub struct CorpusStats {
    pub dir: String,
    pub k: usize,
    pub stride: usize,
    pub token_dtype: String,
    pub documents: u64,
    pub train_documents: u64,
    pub valid_documents: u64,
    pub tokens: u64,
    pub train_tokens: u64,
    pub valid_tokens: u64,
    pub bp: u64,
    pub gc: f64,
    pub vocab_size: usize,
    /// K-mer ids that occur at least once, over the k-mers in the vocabulary.
    pub vocab_used_fraction: f64,
    /// K-mers in the vocabulary over all 4^k possible k-mers.
    pub kmer_space_fraction: f64,
    pub unk_fraction: f64,
    pub mean_document_tokens: f64,
    pub sources: Vec<SourceInfo>,
}

/// Histogram of token ids over the whole token file, in parallel.
fn id_histogram(corpus: &Corpus, vocab_size: usize) -> Vec<u64> {
    let n = corpus.n_tokens();
    let chunk = 1 << 20;
    (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let mut h = vec![0u64; vocab_size];
            for i in c * chunk..((c + 1) * chunk).min(n) {
                if let Some(slot) = h.get_mut(corpus.token(i) as usize) {
                    *slot += 1;
                }
            }
            h
        })
        .reduce(
            || vec![0u64; vocab_size],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
}

pub fn compute(corpus: &Corpus) -> CorpusStats {
    let m = &corpus.manifest;
    let vocab_size = m.tokenizer.vocab_size;
    let hist = id_histogram(corpus, vocab_size);
    let kmers_in_vocab = vocab_size.saturating_sub(2);
    let used = hist.iter().skip(2).filter(|&&c| c > 0).count();
    let tokens = corpus.n_tokens() as u64;
    let split_tokens = |s: Split| {
        corpus
            .documents
            .iter()
            .filter(|d| d.split == s)
            .map(|d| d.n_tokens as u64)
            .sum()
    };
    let split_docs = |s: Split| corpus.documents.iter().filter(|d| d.split == s).count() as u64;
    CorpusStats {
        dir: corpus.dir.display().to_string(),
        k: m.tokenizer.k,
        stride: m.tokenizer.stride,
        token_dtype: m.tokenizer.token_dtype.clone(),
        documents: corpus.documents.len() as u64,
        train_documents: split_docs(Split::Train),
        valid_documents: split_docs(Split::Valid),
        tokens,
        train_tokens: split_tokens(Split::Train),
        valid_tokens: split_tokens(Split::Valid),
        bp: m.counts.bp,
        gc: m.counts.bases.gc(),
        vocab_size,
        vocab_used_fraction: used as f64 / kmers_in_vocab.max(1) as f64,
        kmer_space_fraction: kmers_in_vocab as f64 / (1u64 << (2 * m.tokenizer.k)) as f64,
        unk_fraction: hist.get(1).copied().unwrap_or(0) as f64 / tokens.max(1) as f64,
        mean_document_tokens: tokens as f64 / corpus.documents.len().max(1) as f64,
        sources: m.sources.clone(),
    }
}

/// A human-readable report.
pub fn render(s: &CorpusStats) -> String {
    let mut out = String::new();
    out.push_str(&format!("corpus       {}\n", s.dir));
    out.push_str(&format!(
        "tokenizer    k={} stride={} vocab={} ({})\n",
        s.k, s.stride, s.vocab_size, s.token_dtype
    ));
    out.push_str(&format!(
        "documents    {} (train {}, valid {}), mean {:.0} tokens\n",
        s.documents, s.train_documents, s.valid_documents, s.mean_document_tokens
    ));
    out.push_str(&format!(
        "tokens       {} (train {}, valid {})\n",
        s.tokens, s.train_tokens, s.valid_tokens
    ));
    out.push_str(&format!(
        "bases        {} bp, GC {:.1}%\n",
        s.bp,
        100.0 * s.gc
    ));
    out.push_str(&format!(
        "coverage     {:.1}% of vocab k-mers used; vocab holds {:.1}% of all 4^{} k-mers\n",
        100.0 * s.vocab_used_fraction,
        100.0 * s.kmer_space_fraction,
        s.k
    ));
    out.push_str(&format!(
        "unk          {:.4}% of tokens\n\n",
        100.0 * s.unk_fraction
    ));
    let names: Vec<String> = s
        .sources
        .iter()
        .map(|src| {
            src.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let w = names.iter().map(|n| n.len()).max().unwrap_or(6).max(6);
    out.push_str(&format!(
        "{:<w$}  {:>7}  {:>11}  {:>6}  {:>8}  {:>6}  {:>11}  {:>7}\n",
        "source", "records", "bp", "GC%", "N", "docs", "tokens", "unk%"
    ));
    for (src, name) in s.sources.iter().zip(&names) {
        out.push_str(&format!(
            "{:<w$}  {:>7}  {:>11}  {:>6.1}  {:>8}  {:>6}  {:>11}  {:>7.3}\n",
            name,
            src.records,
            src.bp,
            100.0 * src.gc,
            src.n_bases,
            src.documents,
            src.tokens,
            100.0 * src.unk_tokens as f64 / src.tokens.max(1) as f64
        ));
    }
    out
}
