//! The pretraining curve (issue #22): a classifier's test MCC against the compute its language
//! model was pretrained with, one panel per task, from the rows `scripts/pretraining-curve.sh`
//! writes (one per classifier: task, LM series, split, pretraining CPU seconds, MCC of the
//! classifier from the LM and of the naive one of the same shape and epochs).
//!
//! Each split is a dot, so the spread is visible; the mean over splits is the line; each LM
//! series' naive baseline (the mean over the same splits) is a dashed line of the same colour.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::plot::{LegendAt, LegendBelow, LinePlot, Panels, RGBColor, Series, Stroke, PALETTE};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {message}", path = path.display())]
    Row {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: no rows", path = path.display())]
    Empty { path: PathBuf },
    #[error(transparent)]
    Plot(#[from] crate::plot::Error),
}

/// One classifier of the curve (the fields the figure needs; the file carries more).
#[derive(Debug, Clone, Deserialize)]
pub struct CurveRow {
    pub task: String,
    /// The LM family the point belongs to (tokenization and shape): one line per series.
    pub series: String,
    pub split: u64,
    pub pretrain_cpu_s: f64,
    pub mcc: f64,
    pub naive_mcc: f64,
}

/// Reads a results.jsonl; a row that does not parse is an error naming its line.
pub fn read_rows(path: &Path) -> Result<Vec<CurveRow>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: CurveRow = serde_json::from_str(line).map_err(|e| Error::Row {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if !(row.pretrain_cpu_s.is_finite() && row.mcc.is_finite() && row.naive_mcc.is_finite()) {
            return Err(Error::Row {
                path: path.to_path_buf(),
                line: i + 1,
                message: "pretrain_cpu_s, mcc and naive_mcc must be numbers".into(),
            });
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(rows)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Per series of one task: the points at each pretraining budget (CPU minutes -> MCCs over
/// splits) and the naive MCCs.
type SeriesPoints = BTreeMap<String, (BTreeMap<u64, Vec<f64>>, Vec<f64>)>;

fn by_series<'a>(rows: impl Iterator<Item = &'a CurveRow>) -> SeriesPoints {
    let mut out = SeriesPoints::new();
    for r in rows {
        let (points, naive) = out.entry(r.series.clone()).or_default();
        // Keyed by whole CPU-milliseconds: the rows of one LM carry the same pretraining time.
        let key = (r.pretrain_cpu_s * 1000.0).round() as u64;
        points.entry(key).or_default().push(r.mcc);
        naive.push(r.naive_mcc);
    }
    out
}

/// Each LM series' colour, the same in every panel (in order of first appearance).
fn colors(rows: &[CurveRow]) -> Vec<(String, RGBColor)> {
    let mut out: Vec<(String, RGBColor)> = Vec::new();
    for r in rows {
        if !out.iter().any(|(n, _)| *n == r.series) {
            out.push((r.series.clone(), PALETTE[out.len() % PALETTE.len()]));
        }
    }
    out
}

/// One panel: per series, the splits as dots, their mean as a line, the naive mean dashed. The
/// series are unnamed: the figure's one legend below the panels names them.
fn panel<'a>(task: &'a str, rows: &[&CurveRow], colors: &[(String, RGBColor)]) -> LinePlot<'a> {
    let series_points = by_series(rows.iter().copied());
    // Budgets span orders of magnitude (one step to hours): the x axis is log10 of CPU-minutes.
    let (x_min, x_max) = rows
        .iter()
        .map(|r| r.pretrain_cpu_s / 60.0)
        .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let mut series = Vec::new();
    for (name, (points, naive)) in &series_points {
        let color = colors
            .iter()
            .find(|(n, _)| n == name)
            .map_or(PALETTE[0], |(_, c)| *c);
        let minutes = |ms: u64| ms as f64 / 60_000.0;
        series.push(Series {
            name: String::new(),
            points: points.iter().map(|(&x, m)| (minutes(x), mean(m))).collect(),
            color,
            stroke: Stroke::Solid,
            markers: true,
        });
        series.push(Series {
            name: String::new(), // each split: dots behind the mean line
            points: points
                .iter()
                .flat_map(|(&x, m)| m.iter().map(move |&y| (minutes(x), y)))
                .collect(),
            color,
            stroke: Stroke::None,
            markers: true,
        });
        series.push(Series {
            name: String::new(),
            points: vec![(x_min, mean(naive)), (x_max, mean(naive))],
            color,
            stroke: Stroke::Dashed,
            markers: false,
        });
    }
    LinePlot {
        title: task,
        x_label: "LM pretraining compute, CPU-minutes (log scale); dots: splits, lines: means",
        y_label: "test MCC",
        series,
        zoom_y: None,
        log_x: true,
        legend: LegendAt::UpperLeft,
    }
}

/// Draws `<stem>.svg` and `<stem>.png` in `dir`: one panel per task, in order of first appearance.
pub fn draw(rows: &[CurveRow], dir: &Path, stem: &str) -> Result<Vec<PathBuf>, Error> {
    let mut tasks: Vec<&str> = Vec::new();
    for r in rows {
        if !tasks.contains(&r.task.as_str()) {
            tasks.push(&r.task);
        }
    }
    let colors = colors(rows);
    let panels = tasks
        .iter()
        .map(|t| {
            let of_task: Vec<&CurveRow> = rows.iter().filter(|r| r.task == *t).collect();
            panel(t, &of_task, &colors)
        })
        .collect();
    let mut entries = Vec::new();
    for (name, color) in &colors {
        entries.push((format!("{name}: from the LM"), *color, Stroke::Solid));
        entries.push((
            format!("{name}: naive (same shape, epochs)"),
            *color,
            Stroke::Dashed,
        ));
    }
    let figure = LegendBelow {
        figure: Panels(panels),
        entries,
        columns: 2,
    };
    Ok(crate::plot::render(dir, stem, &figure)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(task: &str, series: &str, split: u64, cpu: f64, mcc: f64, naive: f64) -> CurveRow {
        CurveRow {
            task: task.into(),
            series: series.into(),
            split,
            pretrain_cpu_s: cpu,
            mcc,
            naive_mcc: naive,
        }
    }

    #[test]
    fn splits_of_one_lm_average_into_one_point() {
        let rows = [
            row("t", "small", 1, 120.0, 0.7, 0.6),
            row("t", "small", 2, 120.0, 0.8, 0.62),
            row("t", "small", 1, 480.0, 0.9, 0.6),
        ];
        let p = panel("t", &rows.iter().collect::<Vec<_>>(), &colors(&rows));
        let mean_line = &p.series[0];
        assert_eq!(mean_line.points.len(), 2);
        assert_eq!(mean_line.points[0].0, 2.0);
        assert!((mean_line.points[0].1 - 0.75).abs() < 1e-12);
        assert_eq!(p.series[1].points.len(), 3, "every split is a dot");
        let naive = &p.series[2].points;
        assert!((naive[0].1 - (0.6 + 0.62 + 0.6) / 3.0).abs() < 1e-12);
        assert_eq!(naive[1].0, 8.0, "the naive line spans the x range");
    }

    #[test]
    fn a_bad_row_names_its_line() {
        let dir = std::env::temp_dir().join(format!("genolm-curve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.jsonl");
        std::fs::write(
            &path,
            "{\"task\":\"t\",\"series\":\"s\",\"split\":1,\"pretrain_cpu_s\":1,\"mcc\":0.5,\"naive_mcc\":0.4}\n\
             {\"task\":\"t\",\"series\":\"s\",\"split\":2}\n",
        )
        .unwrap();
        let err = read_rows(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("results.jsonl"),
            "{err}"
        );
        std::fs::write(&path, "\n").unwrap();
        assert!(read_rows(&path)
            .unwrap_err()
            .to_string()
            .contains("no rows"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
