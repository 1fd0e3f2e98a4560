//! Seqlets (windows of high attribution) and their clustering into motifs.
//!
//! A seqlet is a window of `width` bases whose attributions sum highest in its sequence; up to
//! `per_sequence` of them per sequence, not overlapping, each at least `min_score` (by default
//! 30 % of the median over sequences of their best window: a sequence without a strong window
//! gives none). Seqlets are clustered greedily, strongest first: a seqlet joins the first motif it
//! matches (column Pearson similarity >= `join`, at any shift that keeps half of it aligned, on
//! either strand), aligned as it matched; otherwise it starts a motif. Motifs from fewer than
//! `min_sites` seqlets are dropped; the rest are trimmed of flanks under 0.25 bits.

use super::{similarity, Error, Motif, Result, BASES};

/// One sequence's bases and per-base attributions.
#[derive(Debug, Clone)]
pub struct Track {
    pub id: String,
    pub bases: Vec<u8>,
    pub scores: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Seqlet {
    pub id: String,
    /// 0-based start in its sequence.
    pub start: usize,
    pub score: f64,
    pub bases: Vec<u8>,
    /// Motif it joined (index into the result's motifs, before dropping small ones) and how.
    pub cluster: usize,
    pub reverse: bool,
}

#[derive(Debug, Clone)]
pub struct SeqletOptions {
    pub width: usize,
    pub per_sequence: usize,
    pub min_score: Option<f64>,
    pub join: f64,
    pub min_sites: usize,
    /// Only windows inside these 0-based positions (start, end exclusive), e.g. around a box at a
    /// fixed distance from an aligned TSS.
    pub region: Option<(usize, usize)>,
}

impl Default for SeqletOptions {
    fn default() -> Self {
        Self {
            width: 12,
            per_sequence: 1,
            min_score: None,
            join: 0.6,
            min_sites: 5,
            region: None,
        }
    }
}

/// Window sums of `scores` over `width` bases (one per start).
fn window_sums(scores: &[f32], width: usize) -> Vec<f64> {
    if scores.len() < width {
        return Vec::new();
    }
    let mut sums = Vec::with_capacity(scores.len() - width + 1);
    let mut s: f64 = scores[..width].iter().map(|&v| f64::from(v)).sum();
    sums.push(s);
    for i in width..scores.len() {
        s += f64::from(scores[i]) - f64::from(scores[i - width]);
        sums.push(s);
    }
    sums
}

/// Each track's strongest windows, best first, not overlapping.
fn best_windows(t: &Track, o: &SeqletOptions) -> Vec<(usize, f64)> {
    let sums = window_sums(&t.scores, o.width);
    let (from, to) = o.region.unwrap_or((0, usize::MAX));
    let mut order: Vec<usize> = (0..sums.len())
        .filter(|&i| i >= from && i + o.width <= to)
        .collect();
    order.sort_by(|&a, &b| sums[b].total_cmp(&sums[a]));
    let mut taken: Vec<(usize, f64)> = Vec::new();
    for i in order {
        if taken.len() >= o.per_sequence {
            break;
        }
        if taken.iter().all(|&(j, _)| i.abs_diff(j) >= o.width) {
            taken.push((i, sums[i]));
        }
    }
    taken
}

/// Seqlets of `tracks` (see the module doc).
pub fn find_seqlets(tracks: &[Track], o: &SeqletOptions) -> Result<Vec<Seqlet>> {
    if o.width == 0 {
        return Err(Error::Invalid("seqlet width must be at least 1".into()));
    }
    let windows: Vec<Vec<(usize, f64)>> = tracks.iter().map(|t| best_windows(t, o)).collect();
    let min_score = match o.min_score {
        Some(v) => v,
        None => {
            let mut best: Vec<f64> = windows
                .iter()
                .filter_map(|w| w.first().map(|x| x.1))
                .collect();
            best.sort_by(f64::total_cmp);
            if best.is_empty() {
                return Err(Error::Invalid(format!(
                    "no sequence has {} bases: no seqlet of that width",
                    o.width
                )));
            }
            0.3 * best[best.len() / 2].max(0.0)
        }
    };
    let mut out = Vec::new();
    for (t, w) in tracks.iter().zip(windows) {
        for (start, score) in w {
            if score > 0.0 && score >= min_score {
                out.push(Seqlet {
                    id: t.id.clone(),
                    start,
                    score,
                    bases: t.bases[start..start + o.width].to_ascii_uppercase(),
                    cluster: 0,
                    reverse: false,
                });
            }
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(out)
}

fn one_hot(bases: &[u8]) -> Vec<[f64; 4]> {
    bases
        .iter()
        .map(|&b| {
            let mut c = [0.0; 4];
            match BASES.iter().position(|&x| x == b) {
                Some(i) => c[i] = 1.0,
                None => c = [0.25; 4],
            }
            c
        })
        .collect()
}

/// Clusters `seqlets` (strongest first) into motifs; sets each seqlet's cluster and strand.
/// Returns the motifs with at least `min_sites` seqlets, most seqlets first, named motif_1, ...
pub fn cluster(seqlets: &mut [Seqlet], o: &SeqletOptions) -> Result<Vec<Motif>> {
    if seqlets.is_empty() {
        return Err(Error::Invalid(
            "no seqlets: no window of high attribution (lower --min-score, or check the attributions)"
                .into(),
        ));
    }
    let w = o.width;
    let mut counts: Vec<Vec<[f64; 4]>> = Vec::new();
    for s in seqlets.iter_mut() {
        let site = one_hot(&s.bases);
        let as_motif = Motif {
            name: String::new(),
            probs: site.clone(),
            sites: 1,
        };
        let mut joined = None;
        for (c, cnt) in counts.iter().enumerate() {
            let m = Motif::from_counts("", cnt, 0.1);
            let a = similarity(&m, &as_motif);
            if a.similarity >= o.join && a.offset.unsigned_abs() as usize <= w / 2 {
                joined = Some((c, a));
                break;
            }
        }
        match joined {
            Some((c, a)) => {
                add_site(&mut counts[c], &s.bases, &a);
                s.cluster = c;
                s.reverse = a.reverse;
            }
            None => {
                s.cluster = counts.len();
                counts.push(site);
            }
        }
    }
    let counts = refine(seqlets, counts, o);
    let mut sizes: Vec<(usize, usize)> = (0..counts.len())
        .map(|c| (c, seqlets.iter().filter(|s| s.cluster == c).count()))
        .filter(|&(_, n)| n >= o.min_sites.max(1))
        .collect();
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if sizes.is_empty() {
        return Err(Error::Invalid(format!(
            "{} seqlets, but no cluster of at least {} (lower --min-sites)",
            seqlets.len(),
            o.min_sites
        )));
    }
    let motifs = sizes
        .iter()
        .enumerate()
        .map(|(rank, &(c, n))| {
            let mut m = Motif::from_counts(&format!("motif_{}", rank + 1), &counts[c], 0.1);
            m.sites = n;
            m.trimmed(0.25)
        })
        .collect();
    // Renumber clusters by rank (dropped ones: usize::MAX).
    for s in seqlets.iter_mut() {
        s.cluster = sizes
            .iter()
            .position(|&(c, _)| c == s.cluster)
            .unwrap_or(usize::MAX);
    }
    Ok(motifs)
}

/// Adds `site` (one-hot columns) to `counts` at the alignment found.
fn add_site(counts: &mut [[f64; 4]], bases: &[u8], a: &crate::motif::Alignment) {
    let site = if a.reverse {
        one_hot(&crate::genome::nucleotide::reverse_complement(bases))
    } else {
        one_hot(bases)
    };
    for (j, col) in site.iter().enumerate() {
        let i = a.offset + j as i64;
        if (0..counts.len() as i64).contains(&i) {
            for b in 0..4 {
                counts[i as usize][b] += col[b];
            }
        }
    }
}

/// A few rounds of k-means on the greedy clusters: motifs of at least `min_sites` are rebuilt, and
/// each seqlet moves to the one it matches best (or to none), until nothing moves. The greedy pass
/// alone depends on the order seqlets come in, and splits a degenerate site (sigma70's -35 box)
/// into many small clusters.
fn refine(
    seqlets: &mut [Seqlet],
    mut counts: Vec<Vec<[f64; 4]>>,
    o: &SeqletOptions,
) -> Vec<Vec<[f64; 4]>> {
    for _ in 0..5 {
        let motifs: Vec<Option<Motif>> = (0..counts.len())
            .map(|c| {
                let n = seqlets.iter().filter(|s| s.cluster == c).count();
                (n >= o.min_sites.max(1)).then(|| Motif::from_counts("", &counts[c], 0.1))
            })
            .collect();
        let mut next = vec![vec![[0.0; 4]; o.width]; counts.len()];
        let mut moved = 0;
        for s in seqlets.iter_mut() {
            let site = Motif {
                name: String::new(),
                probs: one_hot(&s.bases),
                sites: 1,
            };
            let best = motifs
                .iter()
                .enumerate()
                .filter_map(|(c, m)| m.as_ref().map(|m| (c, similarity(m, &site))))
                .filter(|(_, a)| {
                    a.similarity >= o.join && a.offset.unsigned_abs() as usize <= o.width / 2
                })
                .max_by(|a, b| a.1.similarity.total_cmp(&b.1.similarity));
            let cluster = best.map_or(usize::MAX, |(c, _)| c);
            moved += usize::from(cluster != s.cluster);
            s.cluster = cluster;
            if let Some((c, a)) = best {
                s.reverse = a.reverse;
                add_site(&mut next[c], &s.bases, &a);
            }
        }
        counts = next;
        if moved == 0 {
            break;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random tracks with a planted motif (on either strand) that carries the attribution.
    fn planted(n: usize) -> Vec<Track> {
        let mut rng = crate::rng::SplitMix64::new(5);
        let motif = b"CGACCGAACTCC";
        (0..n)
            .map(|i| {
                let mut bases: Vec<u8> = (0..50).map(|_| BASES[rng.below(4) as usize]).collect();
                let at = rng.below(38) as usize;
                let m = if i % 3 == 0 {
                    crate::genome::nucleotide::reverse_complement(motif)
                } else {
                    motif.to_vec()
                };
                bases[at..at + 12].copy_from_slice(&m);
                let scores = (0..50)
                    .map(|p| {
                        if (at..at + 12).contains(&p) {
                            1.0
                        } else {
                            0.05 * (rng.below(3) as f32 - 1.0)
                        }
                    })
                    .collect();
                Track {
                    id: format!("s{i}"),
                    bases,
                    scores,
                }
            })
            .collect()
    }

    #[test]
    fn test_planted_motif_is_found_on_both_strands() {
        let tracks = planted(30);
        let o = SeqletOptions::default();
        let mut s = find_seqlets(&tracks, &o).unwrap();
        assert_eq!(s.len(), 30);
        let motifs = cluster(&mut s, &o).unwrap();
        let top = &motifs[0];
        let consensus = top.consensus();
        assert!(
            consensus == "CGACCGAACTCC" || consensus == "GGAGTTCGGTCG",
            "{consensus}"
        );
        assert_eq!(top.sites, 30);
        assert!(s.iter().filter(|x| x.reverse).count() >= 5);
    }

    #[test]
    fn test_no_seqlets_is_an_error() {
        let mut none: Vec<Seqlet> = Vec::new();
        let err = cluster(&mut none, &SeqletOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no seqlets"), "{err}");
        let short = vec![Track {
            id: "a".into(),
            bases: b"ACG".to_vec(),
            scores: vec![1.0; 3],
        }];
        assert!(find_seqlets(&short, &SeqletOptions::default()).is_err());
    }
}
