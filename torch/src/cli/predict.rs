use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::train::classify::{load_classifier, predict_sequences};

#[derive(Args)]
pub struct PredictArgs {
    /// A classifier directory (from genolm classify train).
    #[arg(long)]
    model: PathBuf,
    /// Sequences to classify (FASTA or GenBank, plain or gzip).
    #[arg(long)]
    fasta: PathBuf,
    /// Output TSV: id, one probability column per class, predicted class.
    #[arg(long)]
    out: PathBuf,
    /// Average each sequence's probabilities with its reverse complement's.
    #[arg(long)]
    rc_average: bool,
    #[arg(long, default_value = "auto")]
    device: String,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
}

pub fn run(a: PredictArgs) -> Result<()> {
    let device = crate::device::resolve(a.device.parse()?)?;
    let m = load_classifier(&a.model, device)?;
    let records = genolm::genome::open::read_sequences(&a.fasta)?;
    let seqs: Vec<Vec<u8>> = records.iter().map(|r| r.1.clone()).collect();
    let probs = predict_sequences(&m, &seqs, a.rc_average, a.batch_size);
    let mut text = format!(
        "id\t{}\tpredicted\n",
        m.saved
            .classes
            .iter()
            .map(|c| format!("p_{c}"))
            .collect::<Vec<_>>()
            .join("\t")
    );
    for ((name, _), p) in records.iter().zip(&probs) {
        let best = p
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(y.1))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let cols: Vec<String> = p.iter().map(|v| format!("{v:.6}")).collect();
        text.push_str(&format!(
            "{name}\t{}\t{}\n",
            cols.join("\t"),
            m.saved.classes[best]
        ));
    }
    let tmp = a.out.with_extension("partial");
    std::fs::File::create(&tmp)?.write_all(text.as_bytes())?;
    std::fs::rename(&tmp, &a.out)?;
    eprintln!(
        "predict: {} sequences -> {}",
        records.len(),
        a.out.display()
    );
    Ok(())
}
