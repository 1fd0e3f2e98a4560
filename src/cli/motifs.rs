//! `genolm motifs discover|compare|logo`: motifs from attributions, compared with known ones.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use crate::fsutil::StagingDir;
use crate::motif::seqlets::{cluster, find_seqlets, SeqletOptions, Track};
use crate::motif::{read_meme, similarity, to_meme, Motif};

#[derive(Subcommand)]
pub enum MotifsCommand {
    /// Seqlets (windows of high attribution) in a `genolm interpret saliency` table, clustered into
    /// motifs: motifs.meme, a logo per motif, seqlets.tsv (and compare.tsv with --known).
    Discover(DiscoverArgs),
    /// The best match of each motif among known ones (MEME files), with its similarity.
    Compare(CompareArgs),
    /// Logos of the motifs of a MEME file (SVG and PNG).
    Logo(LogoArgs),
}

#[derive(Args)]
pub struct DiscoverArgs {
    /// saliency.tsv of `genolm interpret saliency` (id, position, base, score).
    #[arg(long)]
    saliency: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Seqlet width (bases).
    #[arg(long, default_value_t = 12)]
    width: usize,
    /// Seqlets per sequence at most (not overlapping).
    #[arg(long, default_value_t = 1)]
    per_sequence: usize,
    /// A seqlet's least attribution sum (default: 30 % of the median of the sequences' best).
    #[arg(long)]
    min_score: Option<f64>,
    /// Least similarity for a seqlet to join a motif (column Pearson correlation, -1 to 1).
    #[arg(long, default_value_t = 0.6)]
    join: f64,
    /// Motifs from fewer seqlets are dropped.
    #[arg(long, default_value_t = 5)]
    min_sites: usize,
    /// Known motifs (MEME) to compare the discovered ones with.
    #[arg(long)]
    known: Option<PathBuf>,
    /// Seqlets only inside these 1-based positions, START-END (e.g. 20-37: the -35 box of
    /// sequences with the TSS at 61).
    #[arg(long, value_parser = parse_region)]
    region: Option<(usize, usize)>,
    #[arg(long)]
    force: bool,
}

/// START-END, 1-based inclusive, as 0-based start and exclusive end.
fn parse_region(s: &str) -> std::result::Result<(usize, usize), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?}: want START-END (1-based, e.g. 20-37)"))?;
    let (a, b): (usize, usize) = (
        a.trim()
            .parse()
            .map_err(|_| format!("{a:?} is not a position"))?,
        b.trim()
            .parse()
            .map_err(|_| format!("{b:?} is not a position"))?,
    );
    if a < 1 || b < a {
        return Err(format!("{s:?}: want 1 <= START <= END"));
    }
    Ok((a - 1, b))
}

#[derive(Args)]
pub struct CompareArgs {
    /// Motifs to name (MEME).
    #[arg(long)]
    motifs: PathBuf,
    /// Known motifs (MEME).
    #[arg(long)]
    known: PathBuf,
    /// Write the table here (TSV) instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct LogoArgs {
    #[arg(long)]
    meme: PathBuf,
    /// Directory for logo-<name>.svg/png.
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    force: bool,
}

pub fn run(cmd: MotifsCommand) -> Result<()> {
    match cmd {
        MotifsCommand::Discover(a) => discover(a),
        MotifsCommand::Compare(a) => {
            let table = compare_table(&read_meme(&a.motifs)?, &read_meme(&a.known)?);
            match a.out {
                Some(p) => crate::fsutil::write_atomic(&p, table.as_bytes())
                    .with_context(|| p.display().to_string())?,
                None => print!("{table}"),
            }
            Ok(())
        }
        MotifsCommand::Logo(a) => {
            let motifs = read_meme(&a.meme)?;
            let staging = StagingDir::create(&a.out, a.force)?;
            for m in &motifs {
                draw_logo(staging.path(), m)?;
            }
            staging.commit()?;
            Ok(())
        }
    }
}

/// Every motif against every known one, best match first per motif (rank 1 is the answer; the
/// others show how clear it is).
pub fn compare_table(motifs: &[Motif], known: &[Motif]) -> String {
    let mut s = String::from(
        "motif\tconsensus\tsites\trank\tknown\tknown_consensus\tsimilarity\toffset\tstrand\n",
    );
    for m in motifs {
        let mut scored: Vec<(&Motif, crate::motif::Alignment)> =
            known.iter().map(|k| (k, similarity(m, k))).collect();
        scored.sort_by(|a, b| b.1.similarity.total_cmp(&a.1.similarity));
        for (rank, (k, a)) in scored.iter().enumerate() {
            s.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{:.3}\t{}\t{}\n",
                m.name,
                m.consensus(),
                m.sites,
                rank + 1,
                k.name,
                k.consensus(),
                a.similarity,
                a.offset,
                if a.reverse { "-" } else { "+" },
            ));
        }
    }
    s
}

fn draw_logo(dir: &Path, m: &Motif) -> Result<()> {
    let logo = crate::motif::plot::Logo {
        motif: m,
        title: format!("{} ({}, {} sites)", m.name, m.consensus(), m.sites),
    };
    crate::plot::render(dir, &format!("logo-{}", m.name), &logo)?;
    Ok(())
}

/// Tracks of a saliency table, in file order; an error names the line.
fn read_tracks(path: &Path) -> Result<Vec<Track>> {
    let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let mut tracks: Vec<Track> = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| path.display().to_string())?;
        if n == 0 {
            if !line.starts_with("id\tposition\tbase\tscore") {
                bail!(
                    "{}, line 1: not a saliency table (want the header id, position, base, score of `genolm interpret saliency`)",
                    path.display()
                );
            }
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let score = f.get(3).and_then(|v| v.parse::<f32>().ok());
        let (Some(&id), Some(base), Some(score)) = (f.first(), f.get(2), score) else {
            bail!(
                "{}, line {}: want id, position, base, score",
                path.display(),
                n + 1
            );
        };
        let base = base.bytes().next().unwrap_or(b'N');
        match tracks.last_mut() {
            Some(t) if t.id == id => {
                t.bases.push(base);
                t.scores.push(score);
            }
            _ => tracks.push(Track {
                id: id.to_string(),
                bases: vec![base],
                scores: vec![score],
            }),
        }
    }
    if tracks.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Ok(tracks)
}

fn discover(a: DiscoverArgs) -> Result<()> {
    let tracks = read_tracks(&a.saliency)?;
    let known = a.known.as_deref().map(read_meme).transpose()?;
    let o = SeqletOptions {
        width: a.width,
        per_sequence: a.per_sequence.max(1),
        min_score: a.min_score,
        join: a.join,
        min_sites: a.min_sites,
        region: a.region,
    };
    let mut seqlets = find_seqlets(&tracks, &o)?;
    let motifs = cluster(&mut seqlets, &o).with_context(|| a.saliency.display().to_string())?;
    let staging = StagingDir::create(&a.out, a.force)?;
    let mut table = String::from("id\tstart\tend\tscore\tbases\tmotif\tstrand\n");
    for s in &seqlets {
        let motif = motifs
            .get(s.cluster)
            .map_or("-".to_string(), |m| m.name.clone());
        table.push_str(&format!(
            "{}\t{}\t{}\t{:.6}\t{}\t{motif}\t{}\n",
            s.id,
            s.start + 1,
            s.start + a.width,
            s.score,
            String::from_utf8_lossy(&s.bases),
            if s.reverse { "-" } else { "+" }
        ));
    }
    std::fs::write(staging.path().join("seqlets.tsv"), table)?;
    std::fs::write(staging.path().join("motifs.meme"), to_meme(&motifs))?;
    for m in &motifs {
        draw_logo(staging.path(), m)?;
    }
    if let Some(k) = &known {
        std::fs::write(
            staging.path().join("compare.tsv"),
            compare_table(&motifs, k),
        )?;
    }
    let run = serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>(),
        "saliency": a.saliency,
        "saliency_sha256": crate::genome::open::sha256_file(&a.saliency)?,
        "sequences": tracks.len(),
        "seqlets": seqlets.len(),
        "motifs": motifs.iter().map(|m| serde_json::json!({"name": m.name, "consensus": m.consensus(), "sites": m.sites})).collect::<Vec<_>>(),
        "width": a.width, "per_sequence": a.per_sequence, "min_score": a.min_score,
        "join": a.join, "min_sites": a.min_sites, "region": a.region.map(|(s, e)| format!("{}-{e}", s + 1)),
    });
    std::fs::write(
        staging.path().join("run.json"),
        serde_json::to_string_pretty(&run)? + "\n",
    )?;
    let out = staging.commit()?;
    eprintln!(
        "motifs discover: {} seqlets from {} sequences -> {} motifs ({}) -> {}",
        seqlets.len(),
        tracks.len(),
        motifs.len(),
        motifs
            .iter()
            .map(|m| m.consensus())
            .collect::<Vec<_>>()
            .join(", "),
        out.display()
    );
    Ok(())
}
