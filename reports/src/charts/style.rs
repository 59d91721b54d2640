//! Colours, text and the pieces every chart shares.

use capacity_model::analysis::{Analysis, RunTimeline, Second};
use plotters::chart::MeshStyle;
use plotters::prelude::*;

use crate::Lang;

use super::{Area, DrawResult};

/// Okabe & Ito (2008), "Color Universal Design": told apart with every common colour-vision
/// deficiency. Black is kept for the SLO and marks, not for series.
pub(super) const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
pub(super) const SKY_BLUE: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
/// Low contrast on white: last in every list.
const YELLOW: RGBColor = RGBColor(0xF0, 0xE4, 0x42);
pub(super) const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
pub(super) const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
pub(super) const PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
pub(super) const GREY: RGBColor = RGBColor(0x60, 0x60, 0x60);

pub(super) const PALETTE: [RGBColor; 7] =
    [BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY_BLUE, YELLOW];

/// A series' colour; past the seventh, colours repeat and the caller dashes the line.
pub(super) fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Auto Scaling groups keep one colour in every chart (CPU, instances), unlike the latency
/// percentiles (blue shades, purple) and the queue (blue).
const GROUP_COLORS: [RGBColor; 5] = [ORANGE, GREEN, VERMILLION, PURPLE, YELLOW];

/// Every Auto Scaling group of the analysis, sorted: a group's index picks its colour.
pub(super) fn groups_of(a: &Analysis) -> Vec<String> {
    let mut groups: Vec<String> = a
        .timelines
        .iter()
        .flat_map(|t| &t.seconds)
        .flat_map(|s| s.in_service.keys().chain(s.cpu_percent.keys()))
        .cloned()
        .collect();
    groups.sort();
    groups.dedup();
    groups
}

pub(super) fn group_color(groups: &[String], group: &str) -> RGBColor {
    groups
        .iter()
        .position(|g| g == group)
        .map_or(GREY, |i| GROUP_COLORS[i % GROUP_COLORS.len()])
}

pub(super) fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size))
}

/// A chart's caption about one run: what it shows, then the run.
pub(super) fn run_caption(lang: Lang, (es, en): (&str, &str), run_id: &str) -> String {
    format!(
        "{} — {} {}",
        lang.tr(es, en),
        lang.tr("corrida", "run"),
        run_id
    )
}

pub(super) fn caption_font() -> TextStyle<'static> {
    font(18)
}

/// The look of every axis: ticks, descriptions, faint grid.
pub(super) fn house_style<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.label_style(font(14))
        .axis_desc_style(font(15))
        .light_line_style(BLACK.mix(0.04))
        .bold_line_style(BLACK.mix(0.12))
}

/// A count axis (instances, messages, tasks), 0 to `top`: whole-number ticks only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct CountAxis {
    pub(super) top: f64,
    /// At most `top + 1` labels: plotters takes the finest step among 1, 2, 5, 10, … that
    /// gives no more labels than this, so the step never falls below 1.
    pub(super) labels: usize,
}

pub(super) fn count_axis(max: f64) -> CountAxis {
    let max = if max.is_finite() { max.max(0.0) } else { 0.0 };
    // Headroom above the highest count, so a line at the top is not hidden by the frame.
    let top = (max * 1.1).ceil().max(max.ceil() + 1.0);
    CountAxis {
        top,
        labels: (top as usize + 1).min(11),
    }
}

/// A count's tick: whole numbers only (a plotters light line between ticks gets no label).
pub(super) fn count_tick(lang: Lang, v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        lang.decimal(v.round(), 0)
    } else {
        String::new()
    }
}

/// A log axis's tick: 1, 2 and 5 of each decade; the others stay grid lines without a
/// label, where they would crowd (900 and 1000 a few pixels apart).
pub(super) fn log_tick(lang: Lang, v: f64) -> String {
    let mantissa = v / 10f64.powf(v.log10().floor());
    if [1.0, 2.0, 5.0, 10.0]
        .iter()
        .any(|m| (mantissa - m).abs() < 1e-6)
    {
        lang.tick(v)
    } else {
        String::new()
    }
}

/// At most this many labels on a seconds axis 0..`n`: as with counts, every tick falls on
/// a whole second (a run's data are per second).
pub(super) fn seconds_labels(n: f64) -> usize {
    (n.max(1.0) as usize + 1).min(11)
}

/// The runs of consecutive points that have a value, each a polyline: a missing value ends
/// a piece, so a line has a gap where data is missing instead of a drop to 0 or a straight
/// line across. A lone point becomes a short level segment of `half_width` each side, so
/// it stays visible.
pub(super) fn pieces(
    points: impl IntoIterator<Item = (f64, Option<f64>)>,
    half_width: f64,
) -> Vec<Vec<(f64, f64)>> {
    let mut all: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for (x, value) in points {
        match value.filter(|v| v.is_finite()) {
            Some(v) => current.push((x, v)),
            None if !current.is_empty() => all.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        all.push(current);
    }
    for piece in &mut all {
        if let [(x, v)] = piece[..] {
            *piece = vec![((x - half_width).max(0.0), v), (x + half_width, v)];
        }
    }
    all
}

/// One value per second of a timeline, x = seconds since its start.
pub(super) fn per_second(
    t: &RunTimeline,
    pick: impl Fn(&Second) -> Option<f64>,
) -> Vec<Vec<(f64, f64)>> {
    pieces(
        t.seconds
            .iter()
            .enumerate()
            .map(|(x, s)| (x as f64, pick(s))),
        0.4,
    )
}

/// Draws a series' pieces `width` pixels wide, as `width`² one-pixel lines side by side.
/// Plotters turns a wider line into a polygon whose inner corners fly off at sharp turns: a
/// CPU series swinging 0 → 100 → 0 from one second to the next drew a stray stroke across
/// the picture. One-pixel lines have no corners.
pub(super) fn draw_pieces<DB: DrawingBackend>(
    plot: &Area<DB>,
    pieces: &[Vec<(f64, f64)>],
    to_pixel: impl Fn(&(f64, f64)) -> (i32, i32),
    color: RGBColor,
    width: u32,
) -> DrawResult<DB> {
    let (base_x, base_y) = plot.get_base_pixel();
    let w = width.max(1) as i32;
    for piece in pieces {
        let pixels: Vec<(i32, i32)> = piece.iter().map(&to_pixel).collect();
        for (dx, dy) in (0..w).flat_map(|dx| (0..w).map(move |dy| (dx, dy))) {
            let shifted = pixels
                .iter()
                .map(|(x, y)| (x - base_x + dx - w / 2, y - base_y + dy - w / 2));
            plot.draw(&PathElement::new(
                shifted.collect::<Vec<_>>(),
                color.stroke_width(1),
            ))?;
        }
    }
    Ok(())
}

/// The row of each label so that no two labels in a row overlap: a label goes to the first
/// row whose last label ends left of it. `spans` are pixel ranges, sorted by their start.
pub(super) fn stack_rows(spans: &[(i32, i32)]) -> Vec<usize> {
    const GAP: i32 = 6;
    let mut ends: Vec<i32> = Vec::new();
    spans
        .iter()
        .map(|&(start, end)| {
            let row = ends
                .iter()
                .position(|&e| e + GAP <= start)
                .unwrap_or(ends.len());
            if row == ends.len() {
                ends.push(end);
            } else {
                ends[row] = end;
            }
            row
        })
        .collect()
}
