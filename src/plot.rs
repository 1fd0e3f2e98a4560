//! Plots a person would rather look at, as SVG and PNG next to the JSON they come from.
//! PNG text needs a TrueType font: DejaVu Sans (Debian's fonts-dejavu-core, installed by setup).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
pub use plotters::style::RGBColor;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}", path = path.display())]
    Draw { path: PathBuf, message: String },
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a sans-serif font for bitmap output once; false if none is installed.
fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        for p in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(p) {
                let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// A named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub dashed: bool,
}

pub struct LinePlot<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: Vec<Series>,
    /// A second panel with this y range (e.g. around a baseline the full range squashes).
    pub zoom_y: Option<(f64, f64)>,
}

fn bounds(series: &[Series]) -> (f64, f64, f64, f64) {
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    (x0, x1.max(x0 + 1e-9), y0 - pad, y1 + pad)
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    plot: &LinePlot,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (x0, x1, y0, y1) = bounds(&plot.series);
    match plot.zoom_y {
        None => draw_panel(&root, plot, plot.title, (x0, x1, y0, y1))?,
        Some((z0, z1)) => {
            let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
            draw_panel(&left, plot, plot.title, (x0, x1, y0, y1))?;
            draw_panel(&right, plot, "near the baseline", (x0, x1, z0, z1))?;
        }
    }
    root.present().map_err(|e| e.to_string())
}

fn draw_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    plot: &LinePlot,
    caption: &str,
    (x0, x1, y0, y1): (f64, f64, f64, f64),
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(plot.x_label)
        .y_desc(plot.y_label)
        .x_label_formatter(&|v| format_si(*v))
        .draw()
        .map_err(|e| e.to_string())?;
    for s in &plot.series {
        let color = s.color;
        let style = ShapeStyle::from(&color).stroke_width(2);
        let anno = if s.dashed {
            let pts: Vec<(f64, f64)> = s.points.clone();
            chart.draw_series(DashedLineSeries::new(pts, 8, 5, style))
        } else {
            let inside = s
                .points
                .iter()
                .copied()
                .filter(|&(_, y)| y >= y0 && y <= y1);
            chart.draw_series(LineSeries::new(inside.collect::<Vec<_>>(), style))
        }
        .map_err(|e| e.to_string())?;
        anno.label(s.name.clone()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
        });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn format_si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.2}")
    }
}

/// Writes `<stem>.svg` and `<stem>.png`; returns the files written.
pub fn line_plot(dir: &Path, stem: &str, plot: &LinePlot) -> Result<Vec<PathBuf>, Error> {
    if !font_ready() {
        return Err(Error::Draw {
            path: dir.join(stem),
            message: format!(
                "no TrueType font found (looked for {}); install fonts-dejavu-core",
                FONT_PATHS.join(", ")
            ),
        });
    }
    let mut written = Vec::new();
    let svg = dir.join(format!("{stem}.svg"));
    let tmp = dir.join(format!(".{stem}.partial.svg"));
    draw(SVGBackend::new(&tmp, (900, 560)).into_drawing_area(), plot).map_err(|message| {
        Error::Draw {
            path: svg.clone(),
            message,
        }
    })?;
    std::fs::rename(&tmp, &svg).map_err(|source| Error::Io {
        path: svg.clone(),
        source,
    })?;
    written.push(svg);
    {
        let png = dir.join(format!("{stem}.png"));
        let tmp = dir.join(format!(".{stem}.partial.png"));
        draw(
            BitMapBackend::new(&tmp, (900, 560)).into_drawing_area(),
            plot,
        )
        .map_err(|message| Error::Draw {
            path: png.clone(),
            message,
        })?;
        std::fs::rename(&tmp, &png).map_err(|source| Error::Io {
            path: png.clone(),
            source,
        })?;
        written.push(png);
    }
    Ok(written)
}

/// `training.svg/png` from a model directory's metrics.jsonl: train and validation loss against
/// tokens seen, with the "informed random" baseline.
pub fn training_curves(dir: &Path, baseline: Option<f64>) -> Result<Vec<PathBuf>, Error> {
    let path = dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let mut train = Vec::new();
    let mut valid = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let tokens = v["tokens"].as_f64().unwrap_or(0.0);
        if let Some(l) = v["valid_loss"].as_f64() {
            valid.push((tokens, l));
        } else if let Some(l) = v["train_loss"].as_f64() {
            train.push((tokens, l));
        }
    }
    let x_max = train.iter().chain(&valid).map(|p| p.0).fold(0.0, f64::max);
    let mut series = vec![
        Series {
            name: "train loss".into(),
            points: train,
            color: RGBColor(31, 119, 180),
            dashed: false,
        },
        Series {
            name: "valid loss".into(),
            points: valid,
            color: RGBColor(214, 39, 40),
            dashed: false,
        },
    ];
    if let Some(b) = baseline {
        series.push(Series {
            name: format!("baseline ln(4^stride) = {b:.3}"),
            points: vec![(0.0, b), (x_max, b)],
            color: RGBColor(90, 90, 90),
            dashed: true,
        });
    }
    // The first steps (ln(vocab), ~7 nats) squash the part that matters, near the baseline: zoom on it.
    let lows = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(f64::MAX, f64::min);
    let zoom_y = baseline
        .filter(|_| lows < f64::MAX)
        .map(|b| (lows.min(b) - 0.05, b + 0.25));
    let plot = LinePlot {
        title: "Language model training",
        x_label: "tokens seen",
        y_label: "cross-entropy (nats)",
        series,
        zoom_y,
    };
    line_plot(dir, "training", &plot)
}
