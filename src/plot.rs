//! Plots a person would rather look at, as SVG and PNG next to the JSON they come from.
//! PNG text needs a TrueType font: DejaVu Sans (Debian's fonts-dejavu-core, installed by setup).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::eval::training_log::MetricsRow;
pub use plotters::chart::SeriesLabelPosition as LegendAt;
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

/// Colours for series, in order (matplotlib's first six, which readers know).
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// How a series' points are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
    /// Points only (a scatter: the points are separate observations, not a curve).
    None,
}

/// A named series of (x, y) points.
#[derive(Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub stroke: Stroke,
    /// A dot at every point: for sparse series (one validation per epoch, or a single one).
    pub markers: bool,
}

pub struct LinePlot<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: Vec<Series>,
    /// A second panel with this y range (e.g. around a baseline the full range squashes).
    pub zoom_y: Option<(f64, f64)>,
    /// A log10 x axis, labelled in the quantity itself (points at x <= 0 cannot be placed on it
    /// and are left out).
    pub log_x: bool,
    /// Where the legend goes (out of the curves' way).
    pub legend: LegendAt,
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

/// The series in the chart's own coordinates: as they are, or with x as log10 on a log axis.
fn on_axes<'p>(plot: &'p LinePlot) -> std::borrow::Cow<'p, [Series]> {
    if !plot.log_x {
        return std::borrow::Cow::Borrowed(&plot.series);
    }
    let log = |s: &Series| Series {
        points: s
            .points
            .iter()
            .filter(|&&(x, _)| x > 0.0)
            .map(|&(x, y)| (x.log10(), y))
            .collect(),
        ..s.clone()
    };
    std::borrow::Cow::Owned(plot.series.iter().map(log).collect())
}

/// A plot's axis ranges: its data's, plus a margin on a log x axis so that the dots at either
/// end are not cut in half (a linear x axis starts where its data does, e.g. at step 0).
fn plot_bounds(plot: &LinePlot) -> (f64, f64, f64, f64) {
    let (x0, x1, y0, y1) = bounds(&on_axes(plot));
    if !plot.log_x {
        return (x0, x1, y0, y1);
    }
    let pad = ((x1 - x0) * 0.04).max(0.02);
    (x0 - pad, x1 + pad, y0, y1)
}

/// Something drawn the same way into SVG and PNG.
pub trait Figure {
    /// Pixel size of the image.
    fn size(&self) -> (u32, u32) {
        (900, 560)
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static;
}

impl Figure for LinePlot<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let (x0, x1, y0, y1) = plot_bounds(self);
        match self.zoom_y {
            None => draw_panel(root, self, self.title, (x0, x1, y0, y1)),
            Some((z0, z1)) => {
                let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
                draw_panel(&left, self, self.title, (x0, x1, y0, y1))?;
                draw_panel(&right, self, "near the baseline", (x0, x1, z0, z1))
            }
        }
    }
}

/// Line plots side by side, each with its own axes.
pub struct Panels<'a>(pub Vec<LinePlot<'a>>);

impl Figure for Panels<'_> {
    fn size(&self) -> (u32, u32) {
        (560 * self.0.len().max(1) as u32, 520)
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let areas = root.split_evenly((1, self.0.len().max(1)));
        for (plot, area) in self.0.iter().zip(&areas) {
            draw_panel(area, plot, plot.title, plot_bounds(plot))?;
        }
        Ok(())
    }
}

/// A confusion matrix as a heat map: rows are true classes, columns predicted; each cell shows its
/// count and its share of the row (the per-class recall on the diagonal).
pub struct ConfusionPlot<'a> {
    pub title: &'a str,
    pub classes: &'a [String],
    /// counts[true][predicted]
    pub counts: &'a [Vec<u64>],
}

impl Figure for ConfusionPlot<'_> {
    fn size(&self) -> (u32, u32) {
        let side = (160 + 110 * self.classes.len() as u32).clamp(420, 1400);
        (side + 60, side)
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let n = self.classes.len() as i32;
        let name = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                self.classes.get(*i as usize).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        };
        // Row 0 at the top, as a table is read.
        let row_name = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => self
                .classes
                .get((n - 1 - *i) as usize)
                .cloned()
                .unwrap_or_default(),
            SegmentValue::Last => String::new(),
        };
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(110)
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true")
            .x_labels(n as usize)
            .y_labels(n as usize)
            .x_label_formatter(&name)
            .y_label_formatter(&row_name)
            .draw()
            .map_err(|e| e.to_string())?;
        for (t, row) in self.counts.iter().enumerate() {
            let total = row.iter().sum::<u64>().max(1) as f64;
            let y = n - 1 - t as i32;
            for (p, &c) in row.iter().enumerate() {
                let share = c as f64 / total;
                let x = p as i32;
                let fill = RGBColor(
                    (255.0 - share * 224.0) as u8,
                    (255.0 - share * 136.0) as u8,
                    (255.0 - share * 75.0) as u8,
                );
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [
                            (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                            (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                        ],
                        fill.filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                let ink = if share > 0.6 { WHITE } else { BLACK };
                let style = TextStyle::from(("sans-serif", 18).into_font())
                    .color(&ink)
                    .pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Center,
                    ));
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{c} ({:.1} %)", 100.0 * share),
                        (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                        style,
                    )))
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
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
        .x_label_formatter(&|v| match plot.log_x {
            true => format_sig2(10f64.powf(*v)),
            false => format_si(*v),
        })
        .draw()
        .map_err(|e| e.to_string())?;
    for s in on_axes(plot).iter() {
        let color = s.color;
        let style = ShapeStyle::from(&color).stroke_width(2);
        if s.markers {
            let dots = s
                .points
                .iter()
                .filter(|&&(_, y)| y >= y0 && y <= y1)
                .map(|&p| Circle::new(p, 4, color.filled()));
            chart.draw_series(dots).map_err(|e| e.to_string())?;
        }
        let inside: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|&(_, y)| y >= y0 && y <= y1)
            .collect();
        let anno = match s.stroke {
            Stroke::Dashed => {
                chart.draw_series(DashedLineSeries::new(s.points.clone(), 8, 5, style))
            }
            Stroke::Solid => chart.draw_series(LineSeries::new(inside, style)),
            Stroke::None => chart.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>()),
        }
        .map_err(|e| e.to_string())?;
        // Unnamed series (e.g. the dots behind a mean line) stay out of the legend.
        if !s.name.is_empty() {
            let gap = if s.stroke == Stroke::Dashed { 4 } else { 0 };
            anno.label(s.name.clone()).legend(move |(x, y)| {
                let style = color.stroke_width(2);
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (8, 0)], style)
                    + PathElement::new(vec![(8 + gap, 0), (20, 0)], style)
            });
        }
    }
    if plot.series.iter().any(|s| !s.name.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(plot.legend.clone())
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A figure with its legend in a strip below it, in columns: for figures whose curves fill the
/// whole plotting area, or whose panels share one legend.
pub struct LegendBelow<F: Figure> {
    pub figure: F,
    /// Name, colour and stroke of each entry.
    pub entries: Vec<(String, RGBColor, Stroke)>,
    pub columns: usize,
}

const LEGEND_ROW_PX: u32 = 24;

impl<F: Figure> LegendBelow<F> {
    fn rows(&self) -> u32 {
        self.entries.len().div_ceil(self.columns.max(1)) as u32
    }
}

impl<F: Figure> Figure for LegendBelow<F> {
    fn size(&self) -> (u32, u32) {
        let (w, h) = self.figure.size();
        (w, h + LEGEND_ROW_PX * self.rows() + 20)
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let (w, h) = self.figure.size();
        let (top, bottom) = root.split_vertically(h);
        self.figure.draw(&top)?;
        let column_px = (w as i32 - 40) / self.columns.max(1) as i32;
        for (i, (name, color, stroke)) in self.entries.iter().enumerate() {
            let x = 40 + (i % self.columns.max(1)) as i32 * column_px;
            let y = 10 + (i / self.columns.max(1)) as i32 * LEGEND_ROW_PX as i32;
            let style = color.stroke_width(2);
            let gap = if *stroke == Stroke::Dashed { 5 } else { 0 };
            let sample = [
                ((x, y + 8), (x + 12, y + 8)),
                ((x + 12 + gap, y + 8), (x + 28, y + 8)),
            ];
            for (a, b) in sample {
                bottom
                    .draw(&PathElement::new(vec![a, b], style))
                    .map_err(|e| e.to_string())?;
            }
            if *stroke == Stroke::None {
                bottom
                    .draw(&Circle::new((x + 14, y + 8), 4, color.filled()))
                    .map_err(|e| e.to_string())?;
            }
            bottom
                .draw(&Text::new(name.clone(), (x + 36, y), ("sans-serif", 15)))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Box plots in groups (e.g. training fractions), one box per series (e.g. method) in each:
/// quartiles, median line, whiskers to the extremes, and every value as a dot.
pub struct BoxPlot<'a> {
    pub title: &'a str,
    pub y_label: &'a str,
    pub series: Vec<String>,
    /// Group label and, per series in order, its values (empty: no box).
    pub groups: Vec<(String, Vec<Vec<f64>>)>,
}

fn quartiles(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let pos = q * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    (at(0.25), at(0.5), at(0.75))
}

impl Figure for BoxPlot<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let all = self
            .groups
            .iter()
            .flat_map(|g| g.1.iter().flatten().copied());
        let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
        let pad = ((hi - lo) * 0.08).max(0.01);
        let n = self.groups.len().max(1);
        let labels: Vec<String> = self.groups.iter().map(|g| g.0.clone()).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..n as f64, (lo - pad)..(hi + pad))
            .map_err(|e| e.to_string())?;
        let fmt = |v: &f64| {
            let g = v - 0.5;
            let i = g.round();
            if (g - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * n + 1)
            .x_label_formatter(&fmt)
            .y_desc(self.y_label)
            .draw()
            .map_err(|e| e.to_string())?;
        let k = self.series.len().max(1);
        let width = 0.8 / k as f64;
        for (si, name) in self.series.iter().enumerate() {
            let color = PALETTE[si % PALETTE.len()];
            for (gi, (_, per_series)) in self.groups.iter().enumerate() {
                let Some(values) = per_series.get(si).filter(|v| !v.is_empty()) else {
                    continue;
                };
                let x0 = gi as f64 + 0.1 + si as f64 * width;
                let (x1, xm) = (x0 + width * 0.8, x0 + width * 0.4);
                let (q1, med, q3) = quartiles(values);
                let (min, max) = values
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
                let elements: Vec<PathElement<(f64, f64)>> = vec![
                    PathElement::new(vec![(xm, min), (xm, q1)], color.stroke_width(1)),
                    PathElement::new(vec![(xm, q3), (xm, max)], color.stroke_width(1)),
                    PathElement::new(vec![(x0, med), (x1, med)], BLACK.stroke_width(2)),
                ];
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, q1), (x1, q3)],
                        color.mix(0.35).filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                chart.draw_series(elements).map_err(|e| e.to_string())?;
                chart
                    .draw_series(
                        values
                            .iter()
                            .map(|&v| Circle::new((xm, v), 3, color.filled())),
                    )
                    .map_err(|e| e.to_string())?;
            }
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(LegendAt::LowerRight)
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// At least two significant digits, for the labels of a log axis (0.32, 1.4, 18, 316, 5k).
fn format_sig2(v: f64) -> String {
    if v.abs() >= 1e3 || v == 0.0 {
        return format_si(v);
    }
    let digits = (1 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

fn format_si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Writes `<stem>.svg` and `<stem>.png` (each under a temporary name, then renamed); returns the
/// files written.
pub fn render(dir: &Path, stem: &str, figure: &impl Figure) -> Result<Vec<PathBuf>, Error> {
    if !font_ready() {
        return Err(Error::Draw {
            path: dir.join(stem),
            message: format!(
                "no TrueType font found (looked for {}); install fonts-dejavu-core",
                FONT_PATHS.join(", ")
            ),
        });
    }
    let size = figure.size();
    let finish = |tmp: &Path, out: PathBuf, drawn: Result<(), String>| {
        drawn.map_err(|message| Error::Draw {
            path: out.clone(),
            message,
        })?;
        std::fs::rename(tmp, &out).map_err(|source| Error::Io {
            path: out.clone(),
            source,
        })?;
        Ok::<PathBuf, Error>(out)
    };
    let svg_tmp = dir.join(format!(".{stem}.partial.svg"));
    let drawn = paint(&SVGBackend::new(&svg_tmp, size).into_drawing_area(), figure);
    let svg = finish(&svg_tmp, dir.join(format!("{stem}.svg")), drawn)?;
    let png_tmp = dir.join(format!(".{stem}.partial.png"));
    let drawn = paint(
        &BitMapBackend::new(&png_tmp, size).into_drawing_area(),
        figure,
    );
    let png = finish(&png_tmp, dir.join(format!("{stem}.png")), drawn)?;
    Ok(vec![svg, png])
}

fn paint<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    figure: &impl Figure,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    figure.draw(root)?;
    root.present().map_err(|e| e.to_string())
}

/// A line plot as `<stem>.svg` and `<stem>.png`.
pub fn line_plot(dir: &Path, stem: &str, plot: &LinePlot) -> Result<Vec<PathBuf>, Error> {
    render(dir, stem, plot)
}

/// `training.svg/png` from a model directory's metrics.jsonl: train and validation loss against
/// tokens seen, with the "informed random" baseline.
pub fn training_curves(dir: &Path, baseline: Option<f64>) -> Result<Vec<PathBuf>, Error> {
    let mut train = Vec::new();
    let mut valid = Vec::new();
    for row in metrics_log(dir)? {
        let tokens = row.tokens.unwrap_or(0) as f64;
        if let Some(l) = row.valid_loss {
            valid.push((tokens, l));
        } else if let Some(l) = row.train_loss {
            train.push((tokens, l));
        }
    }
    let x_max = train.iter().chain(&valid).map(|p| p.0).fold(0.0, f64::max);
    let mut series = vec![
        Series {
            name: "train loss".into(),
            points: train,
            color: RGBColor(31, 119, 180),
            stroke: Stroke::Solid,
            markers: false,
        },
        Series {
            name: "valid loss".into(),
            points: valid,
            color: RGBColor(214, 39, 40),
            stroke: Stroke::Solid,
            markers: true,
        },
    ];
    if let Some(b) = baseline {
        series.push(Series {
            name: format!("baseline ln(4^stride) = {b:.3}"),
            points: vec![(0.0, b), (x_max, b)],
            color: RGBColor(90, 90, 90),
            stroke: Stroke::Dashed,
            markers: false,
        });
    }
    let zoom_y = baseline.and_then(|b| baseline_zoom(&series, b));
    let plot = LinePlot {
        title: "Language model training",
        x_label: "tokens seen",
        y_label: "cross-entropy (nats)",
        series,
        zoom_y,
        log_x: false,
        legend: LegendAt::UpperRight,
    };
    line_plot(dir, "training", &plot)
}

/// The y range of a second panel near the baseline: the first steps (ln(vocab), ~7 nats) squash the
/// part that matters. None for a run that starts near it (fine-tuning, a second cycle): nothing to zoom.
fn baseline_zoom(series: &[Series], baseline: f64) -> Option<(f64, f64)> {
    let losses = || series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let lows = losses().fold(f64::MAX, f64::min);
    let highs = losses().fold(f64::MIN, f64::max);
    (lows < f64::MAX && highs > baseline + 0.25)
        .then(|| (lows.min(baseline) - 0.05, baseline + 0.25))
}

/// The rows of a model directory's metrics.jsonl.
fn metrics_log(dir: &Path) -> Result<Vec<MetricsRow>, Error> {
    crate::eval::training_log::read(dir).map_err(|e| Error::Io {
        path: e.path,
        source: e.source,
    })
}

/// `training.svg/png` of a classifier directory: train and validation loss per epoch (left) and
/// the validation metrics (right), against epochs counted across the unfreezing stages.
pub fn classifier_curves(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let log: Vec<MetricsRow> = metrics_log(dir)?
        .into_iter()
        .filter(MetricsRow::is_validation)
        .collect();
    let series_of = |field: fn(&MetricsRow) -> Option<f64>, name: &str, color: RGBColor| Series {
        name: name.into(),
        points: log
            .iter()
            .enumerate()
            .filter_map(|(i, row)| field(row).map(|y| ((i + 1) as f64, y)))
            .collect(),
        color,
        stroke: Stroke::Solid,
        markers: false,
    };
    let losses = LinePlot {
        title: "Classifier loss",
        x_label: "epoch (all stages)",
        y_label: "cross-entropy (nats)",
        series: vec![
            series_of(|r| r.train_loss, "train", RGBColor(31, 119, 180)),
            series_of(|r| r.valid_loss, "validation", RGBColor(214, 39, 40)),
        ],
        zoom_y: None,
        log_x: false,
        legend: LegendAt::UpperRight,
    };
    let scores = LinePlot {
        title: "Validation metrics",
        x_label: "epoch (all stages)",
        y_label: "score",
        series: vec![
            series_of(|r| r.valid_accuracy, "accuracy", RGBColor(44, 160, 44)),
            series_of(|r| r.valid_mcc, "MCC", RGBColor(148, 103, 189)),
            series_of(|r| r.valid_auroc, "AUROC", RGBColor(255, 127, 14)),
        ],
        zoom_y: None,
        log_x: false,
        legend: LegendAt::LowerRight,
    };
    render(dir, "training", &Panels(vec![losses, scores]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn losses(points: &[f64]) -> Vec<Series> {
        vec![Series {
            name: "train loss".into(),
            points: points
                .iter()
                .enumerate()
                .map(|(i, &y)| (i as f64, y))
                .collect(),
            color: RGBColor(0, 0, 0),
            stroke: Stroke::Solid,
            markers: false,
        }]
    }

    #[test]
    fn test_zoom_only_when_the_run_starts_far_above_the_baseline() {
        let b = 2.77;
        let (z0, z1) = baseline_zoom(&losses(&[6.9, 3.1, 2.75, 2.70]), b).expect("a zoom panel");
        assert!((z0 - 2.65).abs() < 1e-9 && (z1 - (b + 0.25)).abs() < 1e-9);
        assert_eq!(baseline_zoom(&losses(&[2.68, 2.65, 2.62]), b), None);
        assert_eq!(baseline_zoom(&losses(&[]), b), None);
    }

    #[test]
    fn test_a_log_axis_takes_raw_x_and_leaves_out_what_it_cannot_place() {
        let mut series = losses(&[0.5, 0.6, 0.7]);
        series[0].points[1].0 = 10.0;
        series[0].points[2].0 = 1000.0;
        let mut plot = LinePlot {
            title: "t",
            x_label: "x",
            y_label: "y",
            series,
            zoom_y: None,
            log_x: true,
            legend: LegendAt::UpperLeft,
        };
        let placed = on_axes(&plot);
        assert_eq!(
            placed[0].points,
            [(1.0, 0.6), (3.0, 0.7)],
            "x = 0 has no log"
        );
        let (x0, x1, _, _) = plot_bounds(&plot);
        assert!(x0 < 1.0 && x1 > 3.0, "a margin around the dots: {x0} {x1}");
        plot.log_x = false;
        assert_eq!(on_axes(&plot)[0].points[0], (0.0, 0.5));
    }

    #[test]
    fn test_log_axis_labels_keep_two_significant_digits() {
        assert_eq!(format_sig2(0.3162), "0.32");
        assert_eq!(format_sig2(1.41), "1.4");
        assert_eq!(format_sig2(17.8), "18");
        assert_eq!(format_sig2(316.2), "316");
        assert_eq!(format_sig2(4600.0), "5k");
    }

    /// A run with one validation (one epoch, or max_steps inside the first) still shows it.
    #[test]
    fn test_a_single_validation_is_drawn() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = String::new();
        for step in 1..=20 {
            let loss = 2.72 - 0.005 * step as f64;
            log.push_str(&format!(
                "{{\"tokens\":{},\"train_loss\":{loss}}}\n",
                step * 1000
            ));
        }
        log.push_str("{\"tokens\":20000,\"train_loss\":2.62,\"valid_loss\":2.60}\n");
        std::fs::write(dir.path().join("metrics.jsonl"), log).unwrap();
        training_curves(dir.path(), Some(2.773)).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("training.svg")).unwrap();
        assert!(svg.contains("<circle"), "the validation point is drawn");
        assert!(dir.path().join("training.png").exists());
    }
}
