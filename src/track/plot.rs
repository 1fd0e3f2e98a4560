//! Genome-track figures: score tracks of a region with called regions, known sites and genes as
//! arrows (`genolm plot track`), and the summit-to-site distance histogram of `--truth`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::truth::TruthSet;
use super::{io_err, Error, Result};
use crate::genome::{Interval, Strand};
use crate::plot::{render, Figure, PALETTE};

/// A score track: segments `(start, end, value)` inside the plotted region.
pub struct TrackSeries {
    pub name: String,
    pub segments: Vec<(u64, u64, f64)>,
}

/// Something drawn as a box or arrow in a lane: a call, a known site, a gene.
#[derive(Debug, Clone)]
pub struct Feature {
    pub start: u64,
    pub end: u64,
    pub strand: Option<Strand>,
    pub name: String,
}

pub struct TrackFigure {
    pub title: String,
    pub chrom: String,
    pub start: u64,
    pub end: u64,
    pub tracks: Vec<TrackSeries>,
    pub calls: Vec<Feature>,
    pub sites: Vec<Feature>,
    pub genes: Vec<Feature>,
}

fn strand_color(s: Option<Strand>) -> RGBColor {
    match s {
        Some(Strand::Reverse) => PALETTE[1],
        Some(Strand::Forward) => PALETTE[0],
        None => RGBColor(90, 90, 90),
    }
}

impl Figure for TrackFigure {
    fn size(&self) -> (u32, u32) {
        (1400, 620)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> std::result::Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let (top, bottom) = root.split_vertically(360);
        let (x0, x1) = (self.start as f64, self.end as f64);
        let ymax = self
            .tracks
            .iter()
            .flat_map(|t| t.segments.iter().map(|s| s.2))
            .fold(1.0f64, f64::max);
        let mut chart = ChartBuilder::on(&top)
            .caption(&self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(0)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, 0.0..ymax * 1.02)
            .map_err(e)?;
        chart
            .configure_mesh()
            .y_desc("score")
            .x_labels(0)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        for (i, t) in self.tracks.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            // One line per run of touching segments: gaps (skipped windows) stay gaps.
            let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
            let mut last_end = None;
            for &(a, b, v) in &t.segments {
                if last_end != Some(a) {
                    runs.push(Vec::new());
                }
                let run = runs.last_mut().expect("pushed");
                run.push((a as f64, v));
                run.push((b as f64, v));
                last_end = Some(b);
            }
            for (j, run) in runs.into_iter().enumerate() {
                let series = chart
                    .draw_series(LineSeries::new(run, color.stroke_width(2)))
                    .map_err(e)?;
                if j == 0 {
                    series.label(t.name.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                    });
                }
            }
        }
        if !self.tracks.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(e)?;
        }
        // Lanes: genes (+), genes (-), calls, known sites.
        let lanes = ["genes +", "genes -", "calls", "known sites"];
        let mut lane_chart = ChartBuilder::on(&bottom)
            .margin(12)
            .margin_top(0)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, 0.0..lanes.len() as f64)
            .map_err(e)?;
        lane_chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(format!("{} (bp)", self.chrom))
            .y_labels(lanes.len() * 2 + 1)
            .y_label_formatter(&|y| {
                let i = (lanes.len() as f64 - y - 0.5).round();
                if (y.fract() - 0.5).abs() < 1e-6 && i >= 0.0 && (i as usize) < lanes.len() {
                    lanes[i as usize].to_string()
                } else {
                    String::new()
                }
            })
            .x_label_formatter(&|x| format!("{}", *x as u64))
            .draw()
            .map_err(e)?;
        let lane_y = |i: usize| lanes.len() as f64 - i as f64 - 0.5;
        let span = (x1 - x0).max(1.0);
        let head = span * 0.004;
        for g in &self.genes {
            let lane = if g.strand == Some(Strand::Reverse) {
                1
            } else {
                0
            };
            let y = lane_y(lane);
            let (a, b) = (g.start.max(self.start) as f64, g.end.min(self.end) as f64);
            let h = (b - a).min(head);
            let pts = if g.strand == Some(Strand::Reverse) {
                vec![
                    (a, y),
                    (a + h, y + 0.25),
                    (b, y + 0.25),
                    (b, y - 0.25),
                    (a + h, y - 0.25),
                ]
            } else {
                vec![
                    (a, y + 0.25),
                    (b - h, y + 0.25),
                    (b, y),
                    (b - h, y - 0.25),
                    (a, y - 0.25),
                ]
            };
            let color = RGBColor(120, 120, 120);
            lane_chart
                .draw_series(std::iter::once(Polygon::new(pts, color.mix(0.6).filled())))
                .map_err(e)?;
            if (b - a) / span > 0.025 && !g.name.is_empty() {
                lane_chart
                    .draw_series(std::iter::once(Text::new(
                        g.name.clone(),
                        (a + (b - a) * 0.1, y + 0.42),
                        ("sans-serif", 12),
                    )))
                    .map_err(e)?;
            }
        }
        for c in &self.calls {
            let y = lane_y(2);
            let (a, b) = (c.start.max(self.start) as f64, c.end.min(self.end) as f64);
            let b = b.max(a + span * 0.001);
            lane_chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, y - 0.3), (b, y + 0.3)],
                    strand_color(c.strand).mix(0.8).filled(),
                )))
                .map_err(e)?;
        }
        for s in &self.sites {
            let y = lane_y(3);
            let x = s.start as f64;
            let pts = match s.strand {
                Some(Strand::Reverse) => vec![(x, y), (x + head, y + 0.3), (x + head, y - 0.3)],
                _ => vec![(x, y), (x - head, y + 0.3), (x - head, y - 0.3)],
            };
            lane_chart
                .draw_series(std::iter::once(Polygon::new(
                    pts,
                    strand_color(s.strand).filled(),
                )))
                .map_err(e)?;
        }
        Ok(())
    }
}

/// Segments of a bedGraph file inside `region` (read through, never held whole).
pub fn read_bedgraph(path: &Path, region: &Interval) -> Result<Vec<(u64, u64, f64)>> {
    let reader = crate::genome::open::open_decompressed(path)?;
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(io_err(path))?;
        if line.starts_with("track") || line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let parsed = (f.len() >= 4)
            .then(|| {
                Some((
                    f[1].parse::<u64>().ok()?,
                    f[2].parse::<u64>().ok()?,
                    f[3].parse::<f64>().ok()?,
                ))
            })
            .flatten();
        let Some((a, b, v)) = parsed else {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line: i as u64 + 1,
                message: "a bedGraph line is chrom, start, end, value (tab-separated)".into(),
            });
        };
        if f[0] == region.name && a < region.end && b > region.start {
            out.push((a.max(region.start), b.min(region.end), v));
        }
    }
    Ok(out)
}

/// Segments of a BigWig inside `region`.
pub fn read_bigwig(path: &Path, region: &Interval) -> Result<Vec<(u64, u64, f64)>> {
    let fail = |m: String| Error::Invalid(format!("{}: {m}", path.display()));
    let mut r = bigtools::BigWigRead::open_file(path)
        .map_err(|e| fail(format!("not a readable BigWig: {e}")))?;
    let (a, b) = (region.start as u32, region.end.min(u32::MAX as u64) as u32);
    let values = r
        .get_interval(&region.name, a, b)
        .map_err(|e| fail(format!("{}: {e}", region.name)))?;
    values
        .map(|v| {
            v.map(|v| (v.start as u64, v.end as u64, v.value as f64))
                .map_err(|e| fail(e.to_string()))
        })
        .collect()
}

/// Whether two sequence names are one sequence: equal, or equal but for a version suffix
/// (GenBank's LOCUS `NC_000913` and the FASTA's `NC_000913.3`).
fn same_sequence(a: &str, b: &str) -> bool {
    let bare = |s: &str| match s.rsplit_once('.') {
        Some((base, v)) if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) => {
            base.to_string()
        }
        _ => s.to_string(),
    };
    a == b || bare(a) == bare(b)
}

/// Genes (GFF3 `gene` rows, else CDS; GenBank `gene`, else CDS features) overlapping `region`;
/// a sequence named as the region's but for a version suffix is the same sequence.
pub fn read_genes(path: &Path, region: &Interval) -> Result<Vec<Feature>> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let is_gff = [".gff", ".gff3", ".gff.gz", ".gff3.gz"]
        .iter()
        .any(|s| name.ends_with(s));
    let mut genes = Vec::new();
    let mut cds = Vec::new();
    if is_gff {
        let reader = crate::genome::open::open_decompressed(path)?;
        for line in reader.lines() {
            let line = line.map_err(io_err(path))?;
            if line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 9 || !same_sequence(f[0], &region.name) {
                continue;
            }
            let (Ok(a), Ok(b)) = (f[3].parse::<u64>(), f[4].parse::<u64>()) else {
                continue;
            };
            let attr = |key: &str| {
                f[8].split(';')
                    .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
                    .map(str::to_string)
            };
            let feature = Feature {
                start: a - 1,
                end: b,
                strand: Some(if f[6] == "-" {
                    Strand::Reverse
                } else {
                    Strand::Forward
                }),
                name: attr("Name")
                    .or_else(|| attr("gene"))
                    .or_else(|| attr("ID"))
                    .unwrap_or_default(),
            };
            match f[2] {
                "gene" => genes.push(feature),
                "CDS" => cds.push(feature),
                _ => {}
            }
        }
    } else {
        for rec in crate::genome::genbank::read_annotated(path, &["gene", "CDS"])? {
            if !same_sequence(&rec.name, &region.name) {
                continue;
            }
            for f in rec.features {
                let feature = Feature {
                    start: f.start,
                    end: f.end,
                    strand: Some(f.strand),
                    name: f.name,
                };
                if f.kind == "gene" {
                    genes.push(feature);
                } else {
                    cds.push(feature);
                }
            }
        }
    }
    let mut out = if genes.is_empty() { cds } else { genes };
    out.retain(|g| g.start < region.end && g.end > region.start);
    Ok(out)
}

/// Known sites of `truth` inside `region`, as features.
pub fn truth_features(truth: &TruthSet, region: &Interval) -> Vec<Feature> {
    truth
        .sites_in(&region.name, region.start, region.end)
        .map(|s| Feature {
            start: s.start,
            end: s.end,
            strand: s.strand,
            name: String::new(),
        })
        .collect()
}

/// Called regions (genolm's calls BED) inside `region`.
pub fn read_calls(path: &Path, region: &Interval) -> Result<Vec<Feature>> {
    let cols = crate::genome::bed::BedColumns {
        label: Some(3),
        strand: Some(5),
    };
    Ok(crate::genome::bed::read_bed_or_empty(path, cols)?
        .into_iter()
        .filter(|c| c.name == region.name && c.start < region.end && c.end > region.start)
        .map(|c| Feature {
            start: c.start,
            end: c.end,
            strand: Some(c.strand),
            name: c.label.unwrap_or_default(),
        })
        .collect())
}

/// Draws `fig` as `<stem>.svg` and `<stem>.png` in `dir`.
pub fn track_figure(dir: &Path, stem: &str, fig: &TrackFigure) -> Result<Vec<PathBuf>> {
    Ok(render(dir, stem, fig)?)
}

/// Histogram of summit-to-site distances (bars of `bin` bp).
struct DistanceHistogram<'a> {
    hist: &'a [(i64, u64)],
    bin: i64,
    matched: u64,
}

impl Figure for DistanceHistogram<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> std::result::Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let lo = self.hist.first().map_or(-self.bin, |h| h.0) as f64;
        let hi = self.hist.last().map_or(self.bin, |h| h.0 + self.bin) as f64;
        let top = self.hist.iter().map(|h| h.1).max().unwrap_or(1) as f64;
        let title = format!(
            "summit to nearest known site ({} matched calls; + = site downstream)",
            self.matched
        );
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi.max(lo + 1.0), 0.0..top * 1.05)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("site position - summit (bp, on the call's strand)")
            .y_desc("calls")
            .draw()
            .map_err(e)?;
        chart
            .draw_series(self.hist.iter().map(|&(b, n)| {
                Rectangle::new(
                    [(b as f64, 0.0), ((b + self.bin) as f64, n as f64)],
                    PALETTE[0].mix(0.8).filled(),
                )
            }))
            .map_err(e)?;
        Ok(())
    }
}

pub fn distance_histogram(
    dir: &Path,
    stem: &str,
    hist: &[(i64, u64)],
    bin: i64,
    matched: u64,
) -> Result<Vec<PathBuf>> {
    Ok(render(
        dir,
        stem,
        &DistanceHistogram { hist, bin, matched },
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sequence_names_match_across_versions() {
        assert!(same_sequence("NC_000913", "NC_000913.3"));
        assert!(same_sequence("chr20", "chr20"));
        assert!(!same_sequence("chr2", "chr20"));
        assert!(!same_sequence("NC_000913.3", "NC_000914.3"));
    }
}
