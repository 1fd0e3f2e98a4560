//! Sequence pictures: motif logos (letters stacked by information content), per-base attribution
//! bars with the bases written under them, and in-silico mutagenesis heatmaps (4 x L).

use plotters::prelude::*;

use super::{Motif, BASES};
use crate::plot::Figure;

/// Sequences up to this length get their bases written under the axis (longer ones get positions).
const WRITE_BASES_UP_TO: usize = 160;

/// Letter colours, A C G T (the usual green, blue, orange, red).
pub const BASE_COLORS: [RGBColor; 4] = [
    RGBColor(0, 150, 0),
    RGBColor(0, 70, 200),
    RGBColor(245, 160, 0),
    RGBColor(210, 0, 0),
];

fn base_index(b: u8) -> Option<usize> {
    BASES.iter().position(|&x| x == b.to_ascii_uppercase())
}

/// The base at 1-based axis position `x` (an axis label), empty off the sequence.
fn base_at(bases: &[u8], x: f64) -> String {
    bases
        .get((x.round() as usize).wrapping_sub(1))
        .map(|&b| (b as char).to_string())
        .unwrap_or_default()
}

fn arc(cx: f64, cy: f64, rx: f64, ry: f64, from: f64, to: f64, n: usize) -> Vec<(f64, f64)> {
    (0..=n)
        .map(|i| {
            let a = (from + (to - from) * i as f64 / n as f64).to_radians();
            (cx + rx * a.cos(), cy + ry * a.sin())
        })
        .collect()
}

/// Polygons, each a list of points.
type Shapes = Vec<Vec<(f64, f64)>>;

/// A letter as filled polygons in the unit box (x right, y up), and holes to paint white.
fn glyph(base: usize) -> (Shapes, Shapes) {
    match base {
        0 => (
            vec![vec![
                (0.0, 0.0),
                (0.4, 1.0),
                (0.6, 1.0),
                (1.0, 0.0),
                (0.78, 0.0),
                (0.67, 0.3),
                (0.33, 0.3),
                (0.22, 0.0),
            ]],
            vec![vec![(0.39, 0.45), (0.5, 0.78), (0.61, 0.45)]],
        ),
        1 | 2 => {
            let (from, to) = if base == 1 {
                (45.0, 315.0)
            } else {
                (45.0, 345.0)
            };
            let mut ring = arc(0.5, 0.5, 0.5, 0.5, from, to, 40);
            ring.extend(arc(0.5, 0.5, 0.28, 0.3, to, from, 40));
            let mut parts = vec![ring];
            if base == 2 {
                parts.push(vec![(0.55, 0.32), (1.0, 0.32), (1.0, 0.47), (0.55, 0.47)]);
                parts.push(vec![(0.82, 0.1), (1.0, 0.1), (1.0, 0.47), (0.82, 0.47)]);
            }
            (parts, Vec::new())
        }
        _ => (
            vec![
                vec![(0.0, 0.84), (1.0, 0.84), (1.0, 1.0), (0.0, 1.0)],
                vec![(0.41, 0.0), (0.59, 0.0), (0.59, 0.84), (0.41, 0.84)],
            ],
            Vec::new(),
        ),
    }
}

type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Draws `base` filling the box x0..x1, y0..y1 (y1 < y0 draws it upside down: negative values).
fn draw_letter<DB: DrawingBackend>(
    chart: &mut Chart<DB>,
    base: usize,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let place = |pts: &Vec<(f64, f64)>| -> Vec<(f64, f64)> {
        pts.iter()
            .map(|&(x, y)| (x0 + x * (x1 - x0), y0 + y * (y1 - y0)))
            .collect()
    };
    let (fills, holes) = glyph(base);
    for p in &fills {
        chart
            .draw_series(std::iter::once(Polygon::new(
                place(p),
                BASE_COLORS[base].filled(),
            )))
            .map_err(|e| e.to_string())?;
    }
    for p in &holes {
        chart
            .draw_series(std::iter::once(Polygon::new(place(p), WHITE.filled())))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A motif's logo: each position's letters stacked by probability x information (bits).
pub struct Logo<'a> {
    pub motif: &'a Motif,
    pub title: String,
}

impl Figure for Logo<'_> {
    fn size(&self) -> (u32, u32) {
        ((160 + 60 * self.motif.width() as u32).clamp(420, 2000), 360)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let w = self.motif.width() as f64;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0.5..w + 0.5, 0.0..2.0)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(self.motif.width().min(40))
            .x_label_formatter(&|x| format!("{}", x.round() as i64))
            .y_desc("bits")
            .x_desc("position")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (p, ic)) in self
            .motif
            .probs
            .iter()
            .zip(self.motif.information())
            .enumerate()
        {
            let mut order = [0usize, 1, 2, 3];
            order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
            let mut y = 0.0;
            let x = i as f64 + 1.0;
            for b in order {
                let h = p[b] * ic.max(0.0);
                if h > 1e-3 {
                    draw_letter(&mut chart, b, (x - 0.45, x + 0.45), (y, y + h))?;
                }
                y += h;
            }
        }
        Ok(())
    }
}

/// One sequence's per-base attributions: a bar per base in the base's colour (negative bars
/// down), the bases written under the axis when they fit, and an optional marked position.
pub struct SaliencyBars<'a> {
    pub title: String,
    pub bases: &'a [u8],
    pub scores: &'a [f32],
    pub y_label: String,
    /// 1-based position drawn as a dashed line, with its label (e.g. a TSS).
    pub mark: Option<(usize, String)>,
}

impl Figure for SaliencyBars<'_> {
    fn size(&self) -> (u32, u32) {
        ((200 + 14 * self.bases.len() as u32).clamp(700, 2400), 420)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let n = self.bases.len();
        let lo = self.scores.iter().fold(0.0f32, |a, &b| a.min(b)) as f64;
        let hi = self.scores.iter().fold(0.0f32, |a, &b| a.max(b)) as f64;
        let pad = ((hi - lo) * 0.05).max(1e-6);
        let write_bases = n <= WRITE_BASES_UP_TO;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(if write_bases { 30 } else { 35 })
            .y_label_area_size(65)
            .build_cartesian_2d(0.5..n as f64 + 0.5, lo - pad..hi + pad)
            .map_err(|e| e.to_string())?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh().y_desc(self.y_label.as_str());
        let letter = |x: &f64| base_at(self.bases, *x);
        if write_bases {
            mesh.x_labels(n).x_label_formatter(&letter);
        } else {
            mesh.x_desc("position");
        }
        mesh.draw().map_err(|e| e.to_string())?;
        chart
            .draw_series(
                self.bases
                    .iter()
                    .zip(self.scores)
                    .enumerate()
                    .map(|(i, (&b, &s))| {
                        let x = i as f64 + 1.0;
                        let color =
                            base_index(b).map_or(RGBColor(128, 128, 128), |k| BASE_COLORS[k]);
                        Rectangle::new([(x - 0.4, 0.0), (x + 0.4, s as f64)], color.filled())
                    }),
            )
            .map_err(|e| e.to_string())?;
        if let Some((at, label)) = &self.mark {
            let x = *at as f64;
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x, lo - pad), (x, hi + pad)],
                    5,
                    4,
                    RGBColor(90, 90, 90).stroke_width(1),
                ))
                .map_err(|e| e.to_string())?
                .label(label.as_str());
        }
        Ok(())
    }
}

/// In-silico mutagenesis as a 4 x L heatmap: each cell the change of the followed value when
/// the position becomes that base (the reference base's cell 0, outlined), blue down, red up.
pub struct IsmHeatmap<'a> {
    pub title: String,
    pub bases: &'a [u8],
    /// `changes[position][base]`, A C G T.
    pub changes: &'a [[f64; 4]],
}

impl Figure for IsmHeatmap<'_> {
    fn size(&self) -> (u32, u32) {
        ((200 + 12 * self.bases.len() as u32).clamp(700, 2400), 300)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let n = self.bases.len();
        let scale = self
            .changes
            .iter()
            .flatten()
            .fold(1e-9f64, |a, &b| a.max(b.abs()));
        let write_bases = n <= WRITE_BASES_UP_TO;
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("{} (colour scale +/- {scale:.3})", self.title),
                ("sans-serif", 18),
            )
            .margin(15)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.5..n as f64 + 0.5, 0.0..4.0)
            .map_err(|e| e.to_string())?;
        let letter = |x: &f64| base_at(self.bases, *x);
        let row = |y: &f64| {
            let i = 3 - (y.floor() as i64).clamp(0, 3) as usize;
            (BASES[i] as char).to_string()
        };
        let mut mesh = chart.configure_mesh();
        mesh.disable_mesh()
            .y_labels(8)
            .y_label_formatter(&row)
            .x_desc(if write_bases { "" } else { "position" });
        if write_bases {
            mesh.x_labels(n).x_label_formatter(&letter);
        }
        mesh.draw().map_err(|e| e.to_string())?;
        let color = |v: f64| {
            let t = (v / scale).clamp(-1.0, 1.0);
            let fade = |c: f64| (255.0 - (255.0 - c) * t.abs()) as u8;
            if t >= 0.0 {
                RGBColor(255, fade(40.0), fade(40.0))
            } else {
                RGBColor(fade(40.0), fade(80.0), 255)
            }
        };
        for (i, c) in self.changes.iter().enumerate() {
            let x = i as f64 + 0.5;
            for (k, &v) in c.iter().enumerate() {
                let y = 3.0 - k as f64;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y), (x + 1.0, y + 1.0)],
                        color(v).filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                if base_index(self.bases[i]) == Some(k) {
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x + 0.1, y + 0.1), (x + 0.9, y + 0.9)],
                            BLACK.stroke_width(1),
                        )))
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(())
    }
}
