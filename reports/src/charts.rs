//! The report's charts, drawn with plotters as PNG (embedded in the markdown) and SVG (for
//! print), from the analysis alone and in the report's language. Text uses the embedded
//! DejaVu Sans, so a chart looks the same on a machine without fonts.
//!
//! What every chart keeps to (issue 16): the Okabe–Ito palette, so that colour-blind readers
//! tell the series apart, and a dash or a marker shape besides colour for whatever is judged
//! (the SLO, a breach); the legend in a band under the plot, never over the data; counts on
//! axes with whole-number ticks; a second without data is a gap in its line, never a 0.

use std::path::{Path, PathBuf};

use capacity_model::QueueVerdict;
use capacity_model::analysis::{
    Analysis, LoadKind, LoadPoint, RunTimeline, Second, Section, USL_POOR_FIT, UslSection,
    WorkerCell,
};
use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use crate::Lang;
use rundir::short_run_id as short;

const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
/// One chart with a single plot.
const WIDE: (u32, u32) = (1000, 520);
/// The latency chart: latency above, instances in service below.
const TALL: (u32, u32) = (1000, 640);

/// A chart of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunChart {
    pub run_id: String,
    /// Relative to the markdown, e.g. `charts/latency-bc84.png`.
    pub file: String,
}

/// The charts drawn, by what they show (paths relative to the markdown).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Charts {
    /// p50/p95/p99 per second, in-service instances, scale-outs: one per scenario-1 run.
    pub latency: Vec<RunChart>,
    /// CPU per group and queue depth per second: one per scenario-1 run with server metrics.
    pub resources: Vec<RunChart>,
    /// Load → worst p95 and error %, with the SLO.
    pub users_latency: Option<String>,
    /// Throughput against concurrency; the fitted USL curve only when the fit is accepted.
    pub usl: Option<String>,
    /// Latency by percentile, one line per endpoint.
    pub spectrum: Option<String>,
    /// Scenario 2: throughput X per cell, marked by queue verdict.
    pub workers: Option<String>,
    /// Scenario 2: CPU and queue depth of every worker run, a panel each (small multiples);
    /// a saturation run's panel marks its steps and their arrival rates.
    pub worker_resources: Option<String>,
}

impl Charts {
    /// Every file written (PNG and SVG), as paths under `dir`.
    pub fn files(&self, dir: &Path) -> Vec<PathBuf> {
        let mut names: Vec<&str> = self
            .latency
            .iter()
            .chain(&self.resources)
            .map(|c| c.file.as_str())
            .collect();
        names.extend(
            [
                &self.users_latency,
                &self.usl,
                &self.spectrum,
                &self.workers,
                &self.worker_resources,
            ]
            .into_iter()
            .flatten()
            .map(String::as_str),
        );
        names
            .iter()
            .flat_map(|n| {
                let file = n.trim_start_matches("charts/");
                [dir.join(file), dir.join(file).with_extension("svg")]
            })
            .collect()
    }
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped with the crate.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Draws one chart as `STEM.png` and `STEM.svg` in `$dir`; evaluates to the PNG's path
/// relative to the markdown. A macro because the drawing code is generic over the backend.
macro_rules! save {
    ($dir:expr, $stem:expr, $size:expr, $draw:expr) => {{
        let stem: String = $stem;
        let size: (u32, u32) = $size;
        let png = $dir.join(format!("{stem}.png"));
        {
            let root = BitMapBackend::new(&png, size).into_drawing_area();
            root.fill(&WHITE).map_err(fail)?;
            $draw(&root).map_err(fail)?;
            root.present().map_err(fail)?;
        }
        let svg = $dir.join(format!("{stem}.svg"));
        {
            let root = SVGBackend::new(&svg, size).into_drawing_area();
            root.fill(&WHITE).map_err(fail)?;
            $draw(&root).map_err(fail)?;
            root.present().map_err(fail)?;
        }
        format!("charts/{stem}.png")
    }};
}

fn fail<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw a chart: {e:?}")
}

type Area<DB> = DrawingArea<DB, Shift>;
type DrawError<DB> = DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>;
type DrawResult<DB> = Result<(), DrawError<DB>>;

/// Draws every chart the analysis has data for into `dir`, its texts in `lang`.
pub fn draw_all(a: &Analysis, dir: &Path, lang: Lang) -> anyhow::Result<Charts> {
    register_font();
    let groups = groups_of(a);
    let mut charts = Charts::default();
    let slo = a.settings.slo.p95_ms;
    for t in a.timelines.iter().filter(|t| !is_worker_run(a, &t.run_id)) {
        if t.seconds.iter().any(|s| s.p95_ms.is_some()) {
            let file = save!(dir, format!("latency-{}", short(&t.run_id)), TALL, |root| {
                draw_latency(root, a, t, slo, &groups, lang)
            });
            charts.latency.push(RunChart {
                run_id: t.run_id.clone(),
                file,
            });
        }
        if has_server_metrics(t) {
            let file = save!(
                dir,
                format!("resources-{}", short(&t.run_id)),
                WIDE,
                |root| { draw_resources(root, a, t, &groups, lang) }
            );
            charts.resources.push(RunChart {
                run_id: t.run_id.clone(),
                file,
            });
        }
    }
    let worker_runs = worker_runs(a);
    if !worker_runs.is_empty() {
        let size = Grid::of(&worker_runs).size();
        charts.worker_resources = Some(save!(dir, "workers-resources".to_string(), size, |root| {
            draw_worker_resources(root, a, &worker_runs, &groups, lang)
        }));
    }
    if !a.stages.is_empty() {
        charts.users_latency = Some(save!(dir, "users-latency".to_string(), WIDE, |root| {
            draw_users_latency(root, a, lang)
        }));
    }
    if let Section::Available(u) = &a.usl {
        charts.usl = Some(save!(dir, "usl".to_string(), WIDE, |root| {
            draw_usl(root, u, lang)
        }));
    }
    if !a.spectra.is_empty() {
        charts.spectrum = Some(save!(dir, "spectrum".to_string(), WIDE, |root| {
            draw_spectrum(root, a, lang)
        }));
    }
    if !a.workers.is_empty() {
        charts.workers = Some(save!(dir, "workers".to_string(), WIDE, |root| {
            draw_workers(root, a, lang)
        }));
    }
    Ok(charts)
}

/// A scenario-2 run: its CPU and queue go to the small multiples, not a chart of its own.
fn is_worker_run(a: &Analysis, run_id: &str) -> bool {
    a.workers.iter().any(|w| w.run_id == run_id)
        || a.runs
            .iter()
            .any(|r| r.run_id == run_id && r.scenario == "scenario2")
}

fn has_server_metrics(t: &RunTimeline) -> bool {
    t.seconds
        .iter()
        .any(|s| !s.cpu_percent.is_empty() || s.queue_visible.is_some())
}

/// The scenario-2 runs with server metrics, in the analysis's order, with their cell.
fn worker_runs(a: &Analysis) -> Vec<(&RunTimeline, Option<&WorkerCell>)> {
    a.timelines
        .iter()
        .filter(|t| is_worker_run(a, &t.run_id) && has_server_metrics(t))
        .map(|t| (t, a.workers.iter().find(|w| w.run_id == t.run_id)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Colours, text and the pieces every chart shares.

/// Okabe & Ito (2008), "Color Universal Design": told apart with every common colour-vision
/// deficiency. Black is kept for the SLO and marks, not for series.
const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
const SKY_BLUE: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
/// Low contrast on white: last in every list.
const YELLOW: RGBColor = RGBColor(0xF0, 0xE4, 0x42);
const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
const PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
const GREY: RGBColor = RGBColor(0x60, 0x60, 0x60);

const PALETTE: [RGBColor; 7] = [BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY_BLUE, YELLOW];

/// A series' colour; past the seventh, colours repeat and the caller dashes the line.
fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Auto Scaling groups keep one colour in every chart (CPU, instances), unlike the latency
/// percentiles (blue shades, purple) and the queue (blue).
const GROUP_COLORS: [RGBColor; 5] = [ORANGE, GREEN, VERMILLION, PURPLE, YELLOW];

/// Every Auto Scaling group of the analysis, sorted: a group's index picks its colour.
fn groups_of(a: &Analysis) -> Vec<String> {
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

fn group_color(groups: &[String], group: &str) -> RGBColor {
    groups
        .iter()
        .position(|g| g == group)
        .map_or(GREY, |i| GROUP_COLORS[i % GROUP_COLORS.len()])
}

fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size))
}

fn caption_font() -> TextStyle<'static> {
    font(18)
}

/// The look of every axis: ticks, descriptions, faint grid.
fn house_style<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.label_style(font(14))
        .axis_desc_style(font(15))
        .light_line_style(BLACK.mix(0.04))
        .bold_line_style(BLACK.mix(0.12))
}

/// A count axis (instances, messages, tasks), 0 to `top`: whole-number ticks only.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CountAxis {
    top: f64,
    /// At most `top + 1` labels: plotters takes the finest step among 1, 2, 5, 10, … that
    /// gives no more labels than this, so the step never falls below 1.
    labels: usize,
}

fn count_axis(max: f64) -> CountAxis {
    let max = if max.is_finite() { max.max(0.0) } else { 0.0 };
    // Headroom above the highest count, so a line at the top is not hidden by the frame.
    let top = (max * 1.1).ceil().max(max.ceil() + 1.0);
    CountAxis {
        top,
        labels: (top as usize + 1).min(11),
    }
}

/// A count's tick: whole numbers only (a plotters light line between ticks gets no label).
fn count_tick(lang: Lang, v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        lang.decimal(v.round(), 0)
    } else {
        String::new()
    }
}

/// A log axis's tick: 1, 2 and 5 of each decade; the others stay grid lines without a
/// label, where they would crowd (900 and 1000 a few pixels apart).
fn log_tick(lang: Lang, v: f64) -> String {
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
fn seconds_labels(n: f64) -> usize {
    (n.max(1.0) as usize + 1).min(11)
}

/// The runs of consecutive points that have a value, each a polyline: a missing value ends
/// a piece, so a line has a gap where data is missing instead of a drop to 0 or a straight
/// line across. A lone point becomes a short level segment of `half_width` each side, so
/// it stays visible.
fn pieces(
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
fn per_second(t: &RunTimeline, pick: impl Fn(&Second) -> Option<f64>) -> Vec<Vec<(f64, f64)>> {
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
fn draw_pieces<DB: DrawingBackend>(
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
fn stack_rows(spans: &[(i32, i32)]) -> Vec<usize> {
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

// ---------------------------------------------------------------------------------------
// The legend: a band under the plot.

/// How a legend entry shows its series.
#[derive(Debug, Clone, Copy)]
enum Mark {
    Line(RGBColor),
    Dashed(RGBColor),
    Dotted(RGBColor),
    LineDot(RGBColor),
    Dot(RGBColor),
    Triangle(RGBColor),
    Square(RGBColor),
    Bar(RGBColor),
    HollowBar(RGBColor),
}

struct Key {
    label: String,
    mark: Mark,
}

fn key(label: impl Into<String>, mark: Mark) -> Key {
    Key {
        label: label.into(),
        mark,
    }
}

const KEY_SWATCH: i32 = 26;
const KEY_ROW: i32 = 20;
const KEY_LEFT: i32 = 70;

/// Draws `keys` in a band along the bottom of `area`, wrapped into rows, and gives back the
/// area above it: a legend there never covers data, whatever the data does.
fn with_legend<DB: DrawingBackend>(
    area: &Area<DB>,
    keys: &[Key],
) -> Result<Area<DB>, DrawError<DB>> {
    let style = font(15);
    let (width, height) = area.dim_in_pixel();
    let mut places = Vec::with_capacity(keys.len());
    let (mut x, mut row) = (KEY_LEFT, 0);
    for k in keys {
        let text_width = area.estimate_text_size(&k.label, &style)?.0 as i32;
        let entry = KEY_SWATCH + 6 + text_width + 22;
        if x > KEY_LEFT && x + entry > width as i32 - 10 {
            (x, row) = (KEY_LEFT, row + 1);
        }
        places.push((x, row));
        x += entry;
    }
    let rows = if keys.is_empty() { 0 } else { row + 1 };
    let band = (rows * KEY_ROW + 8) as u32;
    let (plot, legend) = area.split_vertically(height.saturating_sub(band));
    let text_style = style.pos(Pos::new(HPos::Left, VPos::Center));
    for (k, &(x, row)) in keys.iter().zip(&places) {
        let y = 4 + row * KEY_ROW + KEY_ROW / 2;
        draw_mark(&legend, k.mark, (x, y))?;
        legend.draw(&Text::new(
            k.label.clone(),
            (x + KEY_SWATCH + 6, y),
            text_style.clone(),
        ))?;
    }
    Ok(plot)
}

fn draw_mark<DB: DrawingBackend>(
    band: &Area<DB>,
    mark: Mark,
    (x, y): (i32, i32),
) -> DrawResult<DB> {
    let line = vec![(x, y), (x + KEY_SWATCH, y)];
    let centre = (x + KEY_SWATCH / 2, y);
    match mark {
        Mark::Line(c) => band.draw(&PathElement::new(line, c.stroke_width(3))),
        Mark::Dashed(c) => band.draw(&DashedPathElement::new(line, 6, 4, c.stroke_width(2))),
        Mark::Dotted(c) => band.draw(&DashedPathElement::new(line, 2, 3, c.stroke_width(2))),
        Mark::LineDot(c) => {
            band.draw(&PathElement::new(line, c.stroke_width(2)))?;
            band.draw(&Circle::new(centre, 4, c.filled()))
        }
        Mark::Dot(c) => band.draw(&Circle::new(centre, 5, c.filled())),
        Mark::Triangle(c) => band.draw(&TriangleMarker::new(centre, 7, c.filled())),
        Mark::Square(c) => band.draw(&Rectangle::new(
            [(centre.0 - 4, y - 4), (centre.0 + 4, y + 4)],
            c.filled(),
        )),
        Mark::Bar(c) => band.draw(&Rectangle::new(
            [(x + 5, y - 7), (x + 21, y + 7)],
            c.filled(),
        )),
        Mark::HollowBar(c) => {
            band.draw(&Rectangle::new(
                [(x + 5, y - 7), (x + 21, y + 7)],
                hollow_fill(c),
            ))?;
            band.draw(&Rectangle::new(
                [(x + 5, y - 7), (x + 21, y + 7)],
                c.stroke_width(2),
            ))
        }
    }
}

/// The pale fill of a bar drawn as an outline: told from a solid bar without its colour.
fn hollow_fill(c: RGBColor) -> ShapeStyle {
    c.mix(0.18).filled()
}

// ---------------------------------------------------------------------------------------
// Latency per second, instances in service and scale-outs (scenario 1).

/// A scale-out on a run's timeline.
struct ScaleMark {
    x: f64,
    label: String,
}

fn scale_marks(a: &Analysis, t: &RunTimeline) -> Vec<ScaleMark> {
    let mut marks: Vec<ScaleMark> = a
        .scale_outs
        .iter()
        .filter(|s| s.run_id == t.run_id)
        .map(|s| ScaleMark {
            x: (s.activity_at.unix_timestamp() - t.start) as f64,
            label: format!("{} {}→{}", s.group, s.from_capacity, s.to_capacity),
        })
        .collect();
    marks.sort_by(|p, q| p.x.total_cmp(&q.x));
    marks
}

fn run_groups(t: &RunTimeline, pick: impl Fn(&Second) -> Vec<&String>) -> Vec<String> {
    let mut groups: Vec<String> = t.seconds.iter().flat_map(&pick).cloned().collect();
    groups.sort();
    groups.dedup();
    groups
}

/// The plot's layout in pixels, fixed so that annotations can be placed before drawing.
const MARGIN: i32 = 12;
const Y_LABELS: i32 = 70;
const X_LABELS: i32 = 46;

fn draw_latency<DB: DrawingBackend>(
    root: &Area<DB>,
    a: &Analysis,
    t: &RunTimeline,
    slo_ms: f64,
    all_groups: &[String],
    lang: Lang,
) -> DrawResult<DB> {
    let in_service = run_groups(t, |s| s.in_service.keys().collect());
    let marks = scale_marks(a, t);
    let mut keys = vec![
        key("p50", Mark::Line(SKY_BLUE)),
        key("p95", Mark::Line(BLUE)),
        key("p99", Mark::Line(PURPLE)),
        key(
            format!("SLO p95 {} ms", lang.tick(slo_ms)),
            Mark::Dashed(BLACK),
        ),
    ];
    keys.extend(in_service.iter().map(|g| {
        key(
            format!(
                "{}: {g}",
                lang.tr("instancias en servicio", "instances in service")
            ),
            Mark::Line(group_color(all_groups, g)),
        )
    }));
    if !marks.is_empty() {
        keys.push(key(
            lang.tr("actividad de escalado", "scale-out activity"),
            Mark::Dotted(GREY),
        ));
    }
    let caption = format!(
        "{} — {} {}",
        lang.tr(
            "Latencia por segundo, todos los endpoints",
            "Latency per second, all endpoints"
        ),
        lang.tr("corrida", "run"),
        t.run_id
    );
    let body = root.titled(&caption, caption_font())?;
    let body = with_legend(&body, &keys)?;
    let (upper, lower) = body.split_vertically(body.dim_in_pixel().1 * 60 / 100);
    draw_latency_panel(&upper, t, slo_ms, &marks, lang)?;
    draw_in_service_panel(&lower, t, &in_service, all_groups, &marks, lang)
}

fn draw_latency_panel<DB: DrawingBackend>(
    area: &Area<DB>,
    t: &RunTimeline,
    slo_ms: f64,
    marks: &[ScaleMark],
    lang: Lang,
) -> DrawResult<DB> {
    let n = t.seconds.len().max(1) as f64;
    let values = || {
        t.seconds
            .iter()
            .flat_map(|s| [s.p50_ms, s.p95_ms, s.p99_ms])
            .flatten()
            .filter(|v| *v > 0.0)
    };
    // Log scale: p50 and p99 differ by orders of magnitude, and the SLO must show too.
    let top = values().fold(slo_ms, f64::max) * 1.5;
    let bottom = values().fold(top, f64::min).max(0.01) / 1.5;
    let (strip, plot) = split_label_strip(area, n, marks)?;
    let mut chart = ChartBuilder::on(&plot)
        .margin(MARGIN)
        .margin_top(4)
        .x_label_area_size(X_LABELS - 16)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(0f64..n, (bottom..top).log_scale())?;
    let log = |v: &f64| log_tick(lang, *v);
    let count = |v: &f64| count_tick(lang, *v);
    house_style(&mut chart.configure_mesh())
        .y_desc(lang.tr("latencia, ms (log)", "latency, ms (log)"))
        .y_label_formatter(&log)
        .x_labels(seconds_labels(n))
        .x_label_formatter(&count)
        .draw()?;
    type Pick = fn(&Second) -> Option<f64>;
    let percentiles: [(Pick, RGBColor); 3] = [
        (|s| s.p50_ms, SKY_BLUE),
        (|s| s.p95_ms, BLUE),
        (|s| s.p99_ms, PURPLE),
    ];
    for (pick, color) in percentiles {
        let lines = per_second(t, |s| pick(s).filter(|v| *v > 0.0));
        let plot = chart.plotting_area().strip_coord_spec();
        draw_pieces(&plot, &lines, |p| chart.backend_coord(p), color, 2)?;
    }
    chart.draw_series(DashedLineSeries::new(
        [(0.0, slo_ms), (n, slo_ms)],
        8,
        5,
        BLACK.stroke_width(2),
    ))?;
    for m in marks {
        chart.draw_series(DashedLineSeries::new(
            [(m.x, bottom), (m.x, top)],
            2,
            3,
            GREY.stroke_width(2),
        ))?;
    }
    let xs: Vec<i32> = marks
        .iter()
        .map(|m| chart.backend_coord(&(m.x, top)).0)
        .collect();
    draw_strip_labels(&strip, marks, &xs)
}

/// Splits off a strip above the plot for the scale-out labels, as many rows high as the
/// labels need not to overlap.
fn split_label_strip<DB: DrawingBackend>(
    area: &Area<DB>,
    n: f64,
    marks: &[ScaleMark],
) -> Result<(Area<DB>, Area<DB>), DrawError<DB>> {
    let rows = label_rows(area, n, marks)?;
    let height = rows.iter().max().map_or(0, |r| (*r as i32 + 1) * 18 + 6);
    Ok(area.split_vertically(height))
}

/// The strip row of each scale-out label, from where its line will be: the plot spans the
/// area less the margins and the y labels (`MARGIN`, `Y_LABELS`).
fn label_rows<DB: DrawingBackend>(
    area: &Area<DB>,
    n: f64,
    marks: &[ScaleMark],
) -> Result<Vec<usize>, DrawError<DB>> {
    let width = area.dim_in_pixel().0 as i32 - 2 * MARGIN - Y_LABELS;
    let mut spans = Vec::with_capacity(marks.len());
    for m in marks {
        let x = MARGIN + Y_LABELS + (m.x / n * f64::from(width)) as i32;
        let w = area.estimate_text_size(&m.label, &font(14))?.0 as i32;
        spans.push((x, x + 3 + w));
    }
    Ok(stack_rows(&spans))
}

fn draw_strip_labels<DB: DrawingBackend>(
    strip: &Area<DB>,
    marks: &[ScaleMark],
    xs: &[i32],
) -> DrawResult<DB> {
    let (width, height) = strip.dim_in_pixel();
    let base = strip.get_base_pixel().0;
    let mut spans = Vec::with_capacity(marks.len());
    for (m, x) in marks.iter().zip(xs) {
        let w = strip.estimate_text_size(&m.label, &font(14))?.0 as i32;
        spans.push((x - base, x - base + 3 + w));
    }
    for ((m, (x, end)), row) in marks.iter().zip(&spans).zip(stack_rows(&spans)) {
        let y = 3 + row as i32 * 18;
        // A label near the right edge goes left of its line.
        let (text_x, anchor) = if *end > width as i32 {
            (x - 3, HPos::Right)
        } else {
            (x + 3, HPos::Left)
        };
        strip.draw(&DashedPathElement::new(
            vec![(*x, y + 6), (*x, height as i32)],
            2,
            3,
            GREY.stroke_width(2),
        ))?;
        strip.draw(&Text::new(
            m.label.clone(),
            (text_x, y),
            font(14).pos(Pos::new(anchor, VPos::Top)),
        ))?;
    }
    Ok(())
}

fn draw_in_service_panel<DB: DrawingBackend>(
    area: &Area<DB>,
    t: &RunTimeline,
    groups: &[String],
    all_groups: &[String],
    marks: &[ScaleMark],
    lang: Lang,
) -> DrawResult<DB> {
    if groups.is_empty() {
        // Missing is not zero: an empty axis would read as no instance serving the traffic.
        area.draw(&Text::new(
            lang.tr(
                "sin métricas de instancias en esta corrida (sin telemetría del stack): sin datos, no cero",
                "no instance metrics for this run (no stack telemetry): no data, not zero",
            ),
            (80, 40),
            font(16),
        ))?;
        return Ok(());
    }
    let n = t.seconds.len().max(1) as f64;
    let max = t
        .seconds
        .iter()
        .flat_map(|s| s.in_service.values().copied())
        .fold(0.0, f64::max);
    let axis = count_axis(max);
    let mut chart = ChartBuilder::on(area)
        .margin(MARGIN)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(0f64..n, 0f64..axis.top)?;
    let count = |v: &f64| count_tick(lang, *v);
    house_style(&mut chart.configure_mesh())
        .x_desc(lang.tr(
            "segundos desde el inicio de la corrida",
            "seconds since the run started",
        ))
        .y_desc(lang.tr("instancias en servicio", "instances in service"))
        .y_labels(axis.labels)
        .y_label_formatter(&count)
        .x_labels(seconds_labels(n))
        .x_label_formatter(&count)
        .draw()?;
    for m in marks {
        chart.draw_series(DashedLineSeries::new(
            [(m.x, 0.0), (m.x, axis.top)],
            2,
            3,
            GREY.stroke_width(2),
        ))?;
    }
    // Groups often hold the same count: each line is thinner than the one before, so a
    // line on top of another leaves the other's edges visible.
    for (i, group) in groups.iter().enumerate() {
        let width = 2 + 3 * (groups.len() - 1 - i) as u32;
        let color = group_color(all_groups, group);
        let lines = per_second(t, |s| s.in_service.get(group).copied());
        let plot = chart.plotting_area().strip_coord_spec();
        draw_pieces(&plot, &lines, |p| chart.backend_coord(p), color, width)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// CPU and queue: one chart per scenario-1 run, one panel per scenario-2 run.

/// A saturation step on a run's timeline, seconds since its start.
#[derive(Debug, Clone, PartialEq)]
struct StepMark {
    from: f64,
    to: f64,
    rate_per_minute: f64,
}

/// Where each saturation step lies on the timeline. The staircase starts with the run
/// (loadgen's `start_offset_ms` is step × k from the run's start) and each step lasts its
/// recorded `seconds` (or, from a run that did not record them, its manifest stage's).
/// None of them when the lengths are unknown: no boundary is better than a guessed one.
fn step_marks(a: &Analysis, t: &RunTimeline, cell: Option<&WorkerCell>) -> Vec<StepMark> {
    let Some(cell) = cell.filter(|c| !c.steps.is_empty()) else {
        return Vec::new();
    };
    let run = a.runs.iter().find(|r| r.run_id == t.run_id);
    let manifest: Vec<f64> =
        run.map_or(Vec::new(), |r| r.stages.iter().map(|s| s.seconds).collect());
    let lengths: Vec<f64> = cell
        .steps
        .iter()
        .enumerate()
        .map(|(k, s)| {
            if s.seconds > 0.0 {
                s.seconds
            } else {
                manifest.get(k).copied().unwrap_or(0.0)
            }
        })
        .collect();
    if lengths.iter().any(|l| *l <= 0.0) {
        return Vec::new();
    }
    let mut from = run.map_or(0.0, |r| {
        (r.started_at.unix_timestamp_nanos() as f64 / 1e9 - t.start as f64).max(0.0)
    });
    cell.steps
        .iter()
        .zip(lengths)
        .map(|(s, length)| {
            let mark = StepMark {
                from,
                to: from + length,
                rate_per_minute: s.rate_per_minute,
            };
            from += length;
            mark
        })
        .collect()
}

/// One CPU + queue panel's data and its shared scales.
struct ResourcePanel<'a> {
    t: &'a RunTimeline,
    steps: Vec<StepMark>,
    /// Shared by every panel of a chart, so that panels compare at a glance.
    queue: CountAxis,
}

fn queue_max<'a>(timelines: impl IntoIterator<Item = &'a RunTimeline>) -> f64 {
    timelines
        .into_iter()
        .flat_map(|t| &t.seconds)
        .filter_map(|s| s.queue_visible)
        .fold(0.0, f64::max)
}

fn resource_keys(groups: &[String], all_groups: &[String], steps: bool, lang: Lang) -> Vec<Key> {
    let mut keys: Vec<Key> = groups
        .iter()
        .map(|g| key(format!("CPU {g}"), Mark::Line(group_color(all_groups, g))))
        .collect();
    keys.push(key(
        lang.tr(
            "mensajes visibles en la cola (eje derecho)",
            "messages visible in the queue (right axis)",
        ),
        Mark::Line(BLUE),
    ));
    if steps {
        keys.push(key(
            lang.tr(
                "límite de escalón, con su tasa de llegadas",
                "step boundary, with its arrival rate",
            ),
            Mark::Dashed(BLACK),
        ));
    }
    keys
}

fn draw_resources<DB: DrawingBackend>(
    root: &Area<DB>,
    a: &Analysis,
    t: &RunTimeline,
    all_groups: &[String],
    lang: Lang,
) -> DrawResult<DB> {
    let groups = run_groups(t, |s| s.cpu_percent.keys().collect());
    let caption = format!(
        "{} — {} {}",
        lang.tr(
            "CPU por grupo y profundidad de la cola",
            "CPU per group and queue depth"
        ),
        lang.tr("corrida", "run"),
        t.run_id
    );
    let body = root.titled(&caption, caption_font())?;
    let body = with_legend(&body, &resource_keys(&groups, all_groups, false, lang))?;
    let panel = ResourcePanel {
        t,
        steps: step_marks(a, t, None),
        queue: count_axis(queue_max([t])),
    };
    draw_resource_panel(&body, &panel, all_groups, lang)
}

/// A saturation run: its staircase needs the width of the picture to be read.
fn is_staircase(cell: Option<&WorkerCell>) -> bool {
    cell.is_some_and(|c| !c.steps.is_empty())
}

/// The small multiples' layout: the sustained cells in a grid of `cols` columns, then one
/// full-width row per saturation run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Grid {
    cols: usize,
    grid_rows: usize,
    wide_rows: usize,
}

impl Grid {
    fn of(runs: &[(&RunTimeline, Option<&WorkerCell>)]) -> Grid {
        let wide = runs.iter().filter(|(_, c)| is_staircase(*c)).count();
        let cells = runs.len() - wide;
        let cols = match cells {
            0 | 1 => 1,
            2..=4 => 2,
            _ => 3,
        };
        Grid {
            cols,
            grid_rows: cells.div_ceil(cols),
            wide_rows: wide,
        }
    }

    fn size(self) -> (u32, u32) {
        let width = if self.cols > 2 { 1300 } else { 1000 };
        let rows = (self.grid_rows + self.wide_rows) as u32;
        (width, 100 + rows * 300)
    }
}

fn draw_worker_resources<DB: DrawingBackend>(
    root: &Area<DB>,
    a: &Analysis,
    runs: &[(&RunTimeline, Option<&WorkerCell>)],
    all_groups: &[String],
    lang: Lang,
) -> DrawResult<DB> {
    let mut groups: Vec<String> = runs
        .iter()
        .flat_map(|(t, _)| run_groups(t, |s| s.cpu_percent.keys().collect()))
        .collect();
    groups.sort();
    groups.dedup();
    let queue = count_axis(queue_max(runs.iter().map(|(t, _)| *t)));
    type Run<'r> = &'r (&'r RunTimeline, Option<&'r WorkerCell>);
    let (wide, cells): (Vec<Run>, Vec<Run>) = runs.iter().partition(|(_, c)| is_staircase(*c));
    let caption = lang.tr(
        "Escenario 2: CPU y cola de cada corrida de workers (mismas escalas de CPU y cola)",
        "Scenario 2: CPU and queue of each worker run (same CPU and queue scales)",
    );
    let body = root.titled(caption, caption_font())?;
    let keys = resource_keys(&groups, all_groups, !wide.is_empty(), lang);
    let body = with_legend(&body, &keys)?;
    let grid = Grid::of(runs);
    let rows = body.split_evenly((grid.grid_rows + grid.wide_rows, 1));
    let (grid_rows, wide_rows) = rows.split_at(grid.grid_rows);
    let grid_areas = grid_rows
        .iter()
        .flat_map(|row| row.split_evenly((1, grid.cols)));
    for (run, area) in cells.iter().zip(grid_areas).chain(
        wide.iter()
            .zip(wide_rows.iter().map(|r| r.strip_coord_spec())),
    ) {
        let &&(t, cell) = run;
        let panel = ResourcePanel {
            t,
            steps: step_marks(a, t, cell),
            queue,
        };
        let area = area.titled(&panel_title(t, cell, lang), font(15))?;
        draw_resource_panel(&area, &panel, all_groups, lang)?;
    }
    Ok(())
}

/// `c6dd · 50 MB · c1 · sostenido`: the run's short id and what its cell varied.
fn panel_title(t: &RunTimeline, cell: Option<&WorkerCell>, lang: Lang) -> String {
    let id = short(&t.run_id);
    match cell {
        Some(c) => format!(
            "{id} · {} MB · c{} · {}",
            lang.decimal(c.size_bytes as f64 / 1e6, 0),
            c.concurrency,
            mode_name(&c.mode, lang)
        ),
        None => id.to_owned(),
    }
}

fn mode_name(mode: &str, lang: Lang) -> String {
    match mode {
        "sustained" => lang.tr("sostenido", "sustained").to_owned(),
        "saturation" => lang.tr("saturación", "saturation").to_owned(),
        other => other.to_owned(),
    }
}

fn draw_resource_panel<DB: DrawingBackend>(
    area: &Area<DB>,
    panel: &ResourcePanel,
    all_groups: &[String],
    lang: Lang,
) -> DrawResult<DB> {
    let t = panel.t;
    let n = t.seconds.len().max(1) as f64;
    // The step labels go in a strip above the plot, clear of CPU lines at 100 %.
    let strip_height = if panel.steps.is_empty() { 0 } else { 24 };
    let (strip, plot) = area.split_vertically(strip_height);
    let mut chart = ChartBuilder::on(&plot)
        .margin(MARGIN)
        .margin_top(4)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .right_y_label_area_size(Y_LABELS)
        .build_cartesian_2d(0f64..n, 0f64..100f64)?
        .set_secondary_coord(0f64..n, 0f64..panel.queue.top);
    let tick = |v: &f64| lang.tick(*v);
    let count = |v: &f64| count_tick(lang, *v);
    house_style(&mut chart.configure_mesh())
        .x_desc(lang.tr(
            "segundos desde el inicio de la corrida",
            "seconds since the run started",
        ))
        .y_desc(lang.tr("CPU, % (media del grupo)", "CPU, % (group average)"))
        .y_label_formatter(&tick)
        .x_labels(seconds_labels(n))
        .x_label_formatter(&count)
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc(lang.tr("mensajes en la cola", "messages in the queue"))
        .y_labels(panel.queue.labels)
        .y_label_formatter(&count)
        .label_style(font(14))
        .axis_desc_style(font(15))
        .draw()?;
    let groups = run_groups(t, |s| s.cpu_percent.keys().collect());
    let plot = chart.plotting_area().strip_coord_spec();
    for group in &groups {
        let color = group_color(all_groups, group);
        let lines = per_second(t, |s| s.cpu_percent.get(group).map(|v| v.min(100.0)));
        draw_pieces(&plot, &lines, |p| chart.backend_coord(p), color, 2)?;
    }
    let queue = per_second(t, |s| s.queue_visible);
    let secondary = chart.borrow_secondary();
    draw_pieces(&plot, &queue, |p| secondary.backend_coord(p), BLUE, 2)?;
    // Each step's start, and where the last one ends (the queue drains after it); drawn
    // over the lines, where a CPU swing cannot hide them.
    let boundaries = panel
        .steps
        .iter()
        .map(|s| s.from)
        .chain(panel.steps.last().map(|s| s.to));
    for x in boundaries {
        chart.draw_series(DashedLineSeries::new(
            [(x, 0.0), (x, 100.0)],
            6,
            4,
            BLACK.stroke_width(2),
        ))?;
    }
    let spans: Vec<(i32, i32)> = panel
        .steps
        .iter()
        .map(|s| {
            (
                chart.backend_coord(&(s.from, 0.0)).0,
                chart.backend_coord(&(s.to.min(n), 0.0)).0,
            )
        })
        .collect();
    draw_step_labels(&strip, &panel.steps, &spans, lang)
}

/// Each step's arrival rate, centred over it: "2,50 llegadas/min", or "2,50/min" where the
/// step is too narrow for the words, or nothing where even that does not fit.
fn draw_step_labels<DB: DrawingBackend>(
    strip: &Area<DB>,
    steps: &[StepMark],
    spans: &[(i32, i32)],
    lang: Lang,
) -> DrawResult<DB> {
    let base = strip.get_base_pixel().0;
    let style = font(14).pos(Pos::new(HPos::Center, VPos::Top));
    for (s, (from, to)) in steps.iter().zip(spans) {
        let rate = lang.decimal(s.rate_per_minute, 2);
        let long = format!("{rate} {}", lang.tr("llegadas/min", "arrivals/min"));
        let short = format!("{rate}/min");
        let room = (to - from - 6).max(0) as u32;
        let mut label = None;
        for text in [long, short] {
            if strip.estimate_text_size(&text, &style)?.0 <= room {
                label = Some(text);
                break;
            }
        }
        if let Some(text) = label {
            strip.draw(&Text::new(text, ((from + to) / 2 - base, 4), style.clone()))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Load → latency and errors.

fn draw_users_latency<DB: DrawingBackend>(
    root: &Area<DB>,
    a: &Analysis,
    lang: Lang,
) -> DrawResult<DB> {
    let slo = &a.settings.slo;
    let mut points: Vec<_> = a.stages.iter().collect();
    points.sort_by(|x, y| x.load.total_cmp(&y.load));
    let max_load = points.iter().map(|p| p.load).fold(1.0, f64::max) * 1.05;
    let p95 = |p: &LoadPoint| p.worst_p95_ms.filter(|v| *v > 0.0);
    let measured = || points.iter().filter_map(|p| p95(p));
    let top = measured().fold(slo.p95_ms, f64::max) * 1.5;
    let bottom = measured().fold(top, f64::min).max(0.01) / 1.5;
    let err_top = points
        .iter()
        .map(|p| p.total.error_ratio * 100.0)
        .fold(slo.max_error_ratio * 100.0, f64::max)
        * 1.3;
    let unit = match points.first().map(|p| p.load_kind) {
        Some(LoadKind::Rate) => lang.tr("llegadas por segundo", "arrivals per second"),
        _ => lang.tr("usuarios concurrentes", "concurrent users"),
    };
    let slo_errors = lang.decimal(slo.max_error_ratio * 100.0, 0);
    let within =
        |p: &LoadPoint, v: f64| v <= slo.p95_ms && p.total.error_ratio <= slo.max_error_ratio;
    let breaches = points.iter().any(|p| p95(p).is_some_and(|v| !within(p, v)));
    let mut keys = vec![key(
        lang.tr("p95 del peor endpoint", "p95 of the worst endpoint"),
        Mark::LineDot(BLUE),
    )];
    if breaches {
        keys.push(key(
            lang.tr("fuera del SLO", "outside the SLO"),
            Mark::Triangle(VERMILLION),
        ));
    }
    keys.extend([
        key(
            format!("SLO p95 {} ms", lang.tick(slo.p95_ms)),
            Mark::Dashed(BLACK),
        ),
        key(
            lang.tr("errores, % (eje derecho)", "errors, % (right axis)"),
            Mark::Square(ORANGE),
        ),
        key(
            format!("{} {slo_errors} %", lang.tr("SLO de errores", "error SLO")),
            Mark::Dotted(ORANGE),
        ),
    ]);
    let caption = lang.tr(
        "Carga → p95 (peor endpoint) y errores, con el SLO",
        "Load → p95 (worst endpoint) and errors, with the SLO",
    );
    let body = root.titled(caption, caption_font())?;
    let body = with_legend(&body, &keys)?;
    let mut chart = ChartBuilder::on(&body)
        .margin(MARGIN)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .right_y_label_area_size(Y_LABELS)
        .build_cartesian_2d(0f64..max_load, (bottom..top).log_scale())?
        .set_secondary_coord(0f64..max_load, 0f64..err_top);
    let tick = |v: &f64| lang.tick(*v);
    let log = |v: &f64| log_tick(lang, *v);
    house_style(&mut chart.configure_mesh())
        .x_desc(unit)
        .y_desc(lang.tr("p95, ms (log)", "p95, ms (log)"))
        .y_label_formatter(&log)
        .x_label_formatter(&tick)
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc(lang.tr("errores, %", "errors, %"))
        .y_label_formatter(&tick)
        .label_style(font(14))
        .axis_desc_style(font(15))
        .draw()?;
    chart.draw_series(DashedLineSeries::new(
        [(0.0, slo.p95_ms), (max_load, slo.p95_ms)],
        8,
        5,
        BLACK.stroke_width(2),
    ))?;
    chart.draw_secondary_series(DashedLineSeries::new(
        [
            (0.0, slo.max_error_ratio * 100.0),
            (max_load, slo.max_error_ratio * 100.0),
        ],
        2,
        3,
        ORANGE.stroke_width(2),
    ))?;
    let errors = pieces(
        points
            .iter()
            .map(|p| (p.load, Some(p.total.error_ratio * 100.0))),
        0.0,
    );
    let plot = chart.plotting_area().strip_coord_spec();
    let secondary = chart.borrow_secondary();
    draw_pieces(&plot, &errors, |p| secondary.backend_coord(p), ORANGE, 1)?;
    chart.draw_secondary_series(points.iter().map(|p| {
        EmptyElement::at((p.load, p.total.error_ratio * 100.0))
            + Rectangle::new([(-4, -4), (4, 4)], ORANGE.filled())
    }))?;
    // A load point without a latency is a gap in the line (no data is not 0 ms).
    let latency = pieces(points.iter().map(|p| (p.load, p95(p))), 0.0);
    draw_pieces(&plot, &latency, |p| chart.backend_coord(p), BLUE, 2)?;
    // A breach is a vermilion triangle, not only a different colour.
    chart.draw_series(points.iter().filter_map(|p| {
        let v = p95(p)?;
        within(p, v).then(|| Circle::new((p.load, v), 4, BLUE.filled()))
    }))?;
    chart.draw_series(points.iter().filter_map(|p| {
        let v = p95(p)?;
        (!within(p, v)).then(|| TriangleMarker::new((p.load, v), 7, VERMILLION.filled()))
    }))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// USL.

fn draw_usl<DB: DrawingBackend>(root: &Area<DB>, u: &UslSection, lang: Lang) -> DrawResult<DB> {
    let f = &u.fit;
    let accepted = f.r_squared >= USL_POOR_FIT;
    let model = |n: f64| f.lambda * n / (1.0 + f.sigma * (n - 1.0) + f.kappa * n * (n - 1.0));
    let last_n = u.points.iter().map(|p| p.0).fold(1.0, f64::max);
    let max_n = last_n * if accepted { 1.5 } else { 1.1 };
    let curve: Vec<(f64, f64)> = if accepted {
        (1..=200)
            .map(|i| max_n * f64::from(i) / 200.0)
            .map(|n| (n, model(n)))
            .collect()
    } else {
        Vec::new()
    };
    let top = u
        .points
        .iter()
        .chain(&curve)
        .map(|p| p.1)
        .fold(1.0, f64::max)
        * 1.1;
    let r2 = lang.decimal(f.r_squared, 2);
    let mut keys = vec![key(lang.tr("medido", "measured"), Mark::Dot(BLUE))];
    let caption = if accepted {
        keys.push(key(
            format!(
                "{} (σ {}, κ {}, R² {r2})",
                lang.tr("curva USL", "USL curve"),
                lang.decimal(f.sigma, 4),
                scientific(f.kappa, lang)
            ),
            Mark::Line(ORANGE),
        ));
        keys.push(key(
            lang.tr(
                "proyección (más allá del último punto medido)",
                "projection (beyond the last measured point)",
            ),
            Mark::Dashed(ORANGE),
        ));
        lang.tr(
            "Throughput contra concurrencia, con el ajuste USL",
            "Throughput against concurrency, with the USL fit",
        )
        .to_owned()
    } else {
        format!(
            "{} (R² {r2} < {}): {}",
            lang.tr(
                "Throughput contra concurrencia — ajuste USL rechazado",
                "Throughput against concurrency — USL fit rejected"
            ),
            lang.decimal(USL_POOR_FIT, 2),
            lang.tr("solo los puntos medidos", "measured points only")
        )
    };
    let body = root.titled(&caption, caption_font())?;
    let body = with_legend(&body, &keys)?;
    let mut chart = ChartBuilder::on(&body)
        .margin(MARGIN)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(0f64..max_n, 0f64..top)?;
    let tick = |v: &f64| lang.tick(*v);
    house_style(&mut chart.configure_mesh())
        .x_desc(if u.concurrency_from == "users" {
            lang.tr("concurrencia N (usuarios)", "concurrency N (users)")
        } else {
            lang.tr(
                "concurrencia N = X·R (ley de Little)",
                "concurrency N = X·R (Little's law)",
            )
        })
        .y_desc(lang.tr("throughput X, peticiones/s", "throughput X, requests/s"))
        .y_label_formatter(&tick)
        .x_label_formatter(&tick)
        .draw()?;
    type Curve = Vec<(f64, f64)>;
    let (fitted, projected): (Curve, Curve) = curve.iter().partition(|(n, _)| *n <= last_n);
    // The dashed projection starts where the solid curve stops.
    let projected: Vec<(f64, f64)> = fitted
        .last()
        .into_iter()
        .chain(&projected)
        .copied()
        .collect();
    chart.draw_series(LineSeries::new(fitted, ORANGE.stroke_width(2)))?;
    chart.draw_series(DashedLineSeries::new(
        projected,
        8,
        5,
        ORANGE.stroke_width(2),
    ))?;
    chart.draw_series(u.points.iter().map(|p| Circle::new(*p, 5, BLUE.filled())))?;
    Ok(())
}

/// `2.29e-2`, with the language's decimal separator.
fn scientific(v: f64, lang: Lang) -> String {
    let text = format!("{v:.2e}");
    match lang {
        Lang::Es => text.replace('.', ","),
        Lang::En => text,
    }
}

// ---------------------------------------------------------------------------------------
// The HDR spectrum.

/// Percentile p (0–100) on the spectrum's axis: 1 / (1 − p), as HdrHistogram's plots.
fn nines(p: f64) -> f64 {
    1.0 / (1.0 - (p / 100.0).min(0.99999))
}

/// A percentile as the language writes it: "99,9 %" in Spanish, "99.9%" in English.
fn percent(text: String, lang: Lang) -> String {
    match lang {
        Lang::Es => format!("{text} %"),
        Lang::En => format!("{text}%"),
    }
}

fn draw_spectrum<DB: DrawingBackend>(root: &Area<DB>, a: &Analysis, lang: Lang) -> DrawResult<DB> {
    let latencies = || a.spectra.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let top = latencies().fold(1.0, f64::max) * 1.5;
    let bottom = latencies()
        .filter(|v| *v > 0.0)
        .fold(top, f64::min)
        .max(0.01)
        / 1.5;
    // Past seven endpoints the colours repeat; those lines are dashed.
    let dashed = |i: usize| i >= PALETTE.len();
    let keys: Vec<Key> = a
        .spectra
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mark = if dashed(i) { Mark::Dashed } else { Mark::Line };
            key(s.endpoint.clone(), mark(series_color(i)))
        })
        .collect();
    let caption = lang.tr(
        "Latencia por percentil (espectro HDR), todas las corridas del escenario 1",
        "Latency by percentile (HDR spectrum), every scenario-1 run",
    );
    let body = root.titled(caption, caption_font())?;
    let body = with_legend(&body, &keys)?;
    let mut chart = ChartBuilder::on(&body)
        .margin(MARGIN)
        .margin_right(30)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d((1f64..200_000f64).log_scale(), (bottom..top).log_scale())?;
    let log = |v: &f64| log_tick(lang, *v);
    let percentile = |v: &f64| {
        // 1 / (1 − p): 10 is 90 %, 1000 is 99.9 %; one decimal per nine past 99.
        let p = (1.0 - 1.0 / v) * 100.0;
        let decimals = (v.log10().round() as usize).saturating_sub(2);
        percent(lang.decimal(p, decimals), lang)
    };
    house_style(&mut chart.configure_mesh())
        .x_desc(lang.tr("percentil", "percentile"))
        .y_desc(lang.tr("latencia, ms (log)", "latency, ms (log)"))
        .x_label_formatter(&percentile)
        .y_label_formatter(&log)
        .draw()?;
    for (i, s) in a.spectra.iter().enumerate() {
        let color = series_color(i);
        let line = s
            .points
            .iter()
            .filter(|(p, v)| *p < 100.0 && *v > 0.0)
            .map(|(p, v)| (nines(*p), *v));
        if dashed(i) {
            chart.draw_series(DashedLineSeries::new(line, 8, 5, color.stroke_width(2)))?;
        } else {
            chart.draw_series(LineSeries::new(line, color.stroke_width(2)))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Scenario 2: throughput per cell.

/// How a cell's bar shows its queue: a solid bar for a stable queue, an outlined one for a
/// growing queue (told apart without colour), grey outline when the trend is unknown.
fn verdict_mark(verdict: QueueVerdict) -> Mark {
    match verdict {
        QueueVerdict::Growing => Mark::HollowBar(VERMILLION),
        QueueVerdict::Unknown => Mark::HollowBar(GREY),
        QueueVerdict::Steady | QueueVerdict::Draining => Mark::Bar(BLUE),
    }
}

fn draw_workers<DB: DrawingBackend>(root: &Area<DB>, a: &Analysis, lang: Lang) -> DrawResult<DB> {
    let cells = a.workers.len().max(1);
    let pad = (3.0 - cells as f64).max(0.0) / 2.0;
    let top = a
        .workers
        .iter()
        .map(|w| {
            w.videos_per_minute_interval
                .as_ref()
                .and_then(|i| i.high)
                .unwrap_or(0.0)
                .max(w.videos_per_minute)
        })
        .fold(0.1, f64::max)
        * 1.2;
    let mut keys = Vec::new();
    if a.workers.iter().any(|w| {
        matches!(
            w.queue_verdict,
            QueueVerdict::Steady | QueueVerdict::Draining
        )
    }) {
        keys.push(key(
            lang.tr("cola estable", "queue stable"),
            Mark::Bar(BLUE),
        ));
    }
    if a.workers.iter().any(|w| w.queue_verdict.is_growing()) {
        keys.push(key(
            lang.tr("cola creciente (saturado)", "queue growing (saturated)"),
            verdict_mark(QueueVerdict::Growing),
        ));
    }
    if a.workers
        .iter()
        .any(|w| w.queue_verdict == QueueVerdict::Unknown)
    {
        keys.push(key(
            lang.tr("tendencia de la cola desconocida", "queue trend unknown"),
            verdict_mark(QueueVerdict::Unknown),
        ));
    }
    if a.workers
        .iter()
        .any(|w| w.videos_per_minute_interval.is_some())
    {
        keys.push(key(
            lang.tr("intervalo del 95 %", "95 % interval"),
            Mark::Line(BLACK),
        ));
    }
    let caption = lang.tr(
        "Escenario 2: throughput X (videos por minuto) por celda",
        "Scenario 2: throughput X (videos per minute) per cell",
    );
    let body = root.titled(caption, caption_font())?;
    let body = with_legend(&body, &keys)?;
    let mut chart = ChartBuilder::on(&body)
        .margin(MARGIN)
        .x_label_area_size(X_LABELS + 6)
        .y_label_area_size(Y_LABELS)
        // At least three bars' room, so a lone bar is not a wall.
        .build_cartesian_2d(-pad..cells as f64 + pad, 0f64..top)?;
    let tick = |v: &f64| lang.tick(*v);
    house_style(&mut chart.configure_mesh())
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(lang.tr("videos por minuto", "videos per minute"))
        .y_label_formatter(&tick)
        .draw()?;
    for (i, w) in a.workers.iter().enumerate() {
        draw_worker_bar(&mut chart, i as f64, w, top, lang)?;
    }
    Ok(())
}

fn draw_worker_bar<DB: DrawingBackend>(
    chart: &mut ChartContext<
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    x: f64,
    w: &WorkerCell,
    top: f64,
    lang: Lang,
) -> DrawResult<DB> {
    let bar = [(x + 0.2, 0.0), (x + 0.8, w.videos_per_minute)];
    match verdict_mark(w.queue_verdict) {
        Mark::HollowBar(c) => {
            chart.draw_series([Rectangle::new(bar, hollow_fill(c))])?;
            chart.draw_series([Rectangle::new(bar, c.stroke_width(3))])?;
        }
        _ => {
            chart.draw_series([Rectangle::new(bar, BLUE.filled())])?;
        }
    }
    let mut label_at = w.videos_per_minute;
    if let Some(interval) = &w.videos_per_minute_interval {
        let high = interval.high.unwrap_or(w.videos_per_minute);
        let whisker =
            |y: f64| PathElement::new(vec![(x + 0.45, y), (x + 0.55, y)], BLACK.stroke_width(2));
        chart.draw_series([
            PathElement::new(
                vec![(x + 0.5, interval.low), (x + 0.5, high)],
                BLACK.stroke_width(2),
            ),
            whisker(interval.low),
            whisker(high),
        ])?;
        label_at = label_at.max(high);
    }
    let centre = Pos::new(HPos::Center, VPos::Bottom);
    chart.draw_series([EmptyElement::at((x + 0.5, label_at + top * 0.01))
        + Text::new(
            lang.decimal(w.videos_per_minute, 2),
            (0, -2),
            font(15).pos(centre),
        )])?;
    // The cell's name under its bar, in two lines: what varied, then the mode.
    let below = Pos::new(HPos::Center, VPos::Top);
    chart.draw_series([EmptyElement::at((x + 0.5, 0.0))
        + Text::new(
            format!(
                "{} MB · c{}",
                lang.decimal(w.size_bytes as f64 / 1e6, 0),
                w.concurrency
            ),
            (0, 8),
            font(15).pos(below),
        )
        + Text::new(
            format!("{} · {}", mode_name(&w.mode, lang), short(&w.run_id)),
            (0, 28),
            font(14).pos(below),
        )])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_second_breaks_the_line_instead_of_dropping_to_zero() {
        let lines = pieces(
            [
                (0.0, Some(2.0)),
                (1.0, Some(2.0)),
                (2.0, None),
                (3.0, Some(3.0)),
                (4.0, None),
                (5.0, Some(1.0)),
                (6.0, Some(1.0)),
            ],
            0.4,
        );
        assert_eq!(
            lines,
            vec![
                vec![(0.0, 2.0), (1.0, 2.0)],
                vec![(2.6, 3.0), (3.4, 3.0)],
                vec![(5.0, 1.0), (6.0, 1.0)],
            ]
        );
        assert!(pieces([(0.0, None), (1.0, Some(f64::NAN))], 0.4).is_empty());
    }

    #[test]
    fn count_axes_leave_room_for_whole_ticks_only() {
        assert_eq!(
            count_axis(0.0),
            CountAxis {
                top: 1.0,
                labels: 2
            }
        );
        assert_eq!(
            count_axis(3.0),
            CountAxis {
                top: 4.0,
                labels: 5
            }
        );
        assert_eq!(
            count_axis(22.0),
            CountAxis {
                top: 25.0,
                labels: 11
            }
        );
        assert_eq!(count_tick(Lang::Es, 2.0), "2");
        assert_eq!(count_tick(Lang::Es, 2.5), "");
    }

    #[test]
    fn labels_that_would_overlap_go_to_another_row() {
        // Two scale-outs a second apart, a third far right: two rows, the third back in the
        // first.
        assert_eq!(
            stack_rows(&[(100, 180), (110, 190), (400, 480)]),
            vec![0, 1, 0]
        );
        assert_eq!(stack_rows(&[(0, 50), (60, 90)]), vec![0, 0]);
    }

    #[test]
    fn the_palette_has_no_black_and_no_repeats() {
        for (i, c) in PALETTE.iter().enumerate() {
            assert_ne!(*c, RGBColor(0, 0, 0));
            assert!(!PALETTE[i + 1..].contains(c));
        }
    }
}
