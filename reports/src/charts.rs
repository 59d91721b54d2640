//! The report's charts, drawn with plotters as PNG (embedded in the markdown) and SVG (for
//! print), from the analysis alone. Text uses the embedded DejaVu Sans, so a chart looks
//! the same on a machine without fonts.

use std::path::{Path, PathBuf};

use capacity_model::analysis::{Analysis, LoadPoint, RunTimeline, Section};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

const SIZE: (u32, u32) = (1000, 500);
const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

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
    /// CPU per group and queue depth per second: one per run with server metrics.
    pub resources: Vec<RunChart>,
    /// Load → worst p95 and error %, with the SLO.
    pub users_latency: Option<String>,
    /// Throughput against concurrency with the fitted USL curve.
    pub usl: Option<String>,
    /// Latency by percentile, one line per endpoint.
    pub spectrum: Option<String>,
    /// Scenario 2: throughput X per cell, coloured by queue verdict.
    pub workers: Option<String>,
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

fn short(id: &str) -> &str {
    id.split('-').nth(2).unwrap_or(id)
}

/// Draws one chart as `STEM.png` and `STEM.svg` in `$dir`; evaluates to the PNG's path
/// relative to the markdown. A macro because the drawing code is generic over the backend.
macro_rules! save {
    ($dir:expr, $stem:expr, $draw:expr) => {{
        let stem: String = $stem;
        let png = $dir.join(format!("{stem}.png"));
        {
            let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
            root.fill(&WHITE).map_err(fail)?;
            $draw(&root).map_err(fail)?;
            root.present().map_err(fail)?;
        }
        let svg = $dir.join(format!("{stem}.svg"));
        {
            let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
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

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Draws every chart the analysis has data for into `dir`.
pub fn draw_all(a: &Analysis, dir: &Path) -> anyhow::Result<Charts> {
    register_font();
    let mut charts = Charts::default();
    let slo = a.settings.slo.p95_ms;
    for t in &a.timelines {
        let scenario1 = a
            .runs
            .iter()
            .any(|r| r.run_id == t.run_id && r.scenario != "scenario2");
        if scenario1 && t.seconds.iter().any(|s| s.p95_ms.is_some()) {
            let file = save!(dir, format!("latency-{}", short(&t.run_id)), |root| {
                draw_latency(root, a, t, slo)
            });
            charts.latency.push(RunChart {
                run_id: t.run_id.clone(),
                file,
            });
        }
        if t.seconds
            .iter()
            .any(|s| !s.cpu_percent.is_empty() || s.queue_visible.is_some())
        {
            let file = save!(dir, format!("resources-{}", short(&t.run_id)), |root| {
                draw_resources(root, t)
            });
            charts.resources.push(RunChart {
                run_id: t.run_id.clone(),
                file,
            });
        }
    }
    if !a.stages.is_empty() {
        charts.users_latency = Some(save!(dir, "users-latency".to_string(), |root| {
            draw_users_latency(root, a)
        }));
    }
    if let Section::Available(_) = &a.usl {
        charts.usl = Some(save!(dir, "usl".to_string(), |root| draw_usl(root, a)));
    }
    if !a.spectra.is_empty() {
        charts.spectrum = Some(save!(dir, "spectrum".to_string(), |root| {
            draw_spectrum(root, a)
        }));
    }
    if !a.workers.is_empty() {
        charts.workers = Some(save!(dir, "workers".to_string(), |root| {
            draw_workers(root, a)
        }));
    }
    Ok(charts)
}

fn series_color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    COLORS[i % COLORS.len()]
}

/// The legend, the same on every chart (a macro: single- and dual-axis charts differ in type).
macro_rules! legend {
    ($chart:expr) => {
        legend!($chart, SeriesLabelPosition::UpperLeft)
    };
    ($chart:expr, $position:expr) => {
        $chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position($position)
            .label_font(("sans-serif", 14))
            .draw()
    };
}

/// Axis numbers without a useless ".0".
fn number(v: &f64) -> String {
    if v.abs() >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn draw_latency<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    a: &Analysis,
    t: &RunTimeline,
    slo_ms: f64,
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
    let (upper, lower) = root.split_vertically(root.dim_in_pixel().1 * 68 / 100);
    let mut chart = ChartBuilder::on(&upper)
        .caption(
            format!("Latency per second, all endpoints — run {}", t.run_id),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n, (bottom..top).log_scale())?;
    chart
        .configure_mesh()
        .y_desc("latency, ms (log)")
        .y_label_formatter(&number)
        .x_label_formatter(&number)
        .label_style(("sans-serif", 13))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;
    type Pick = fn(&capacity_model::analysis::Second) -> Option<f64>;
    let picks: [(&str, Pick); 3] = [
        ("p50", |s| s.p50_ms),
        ("p95", |s| s.p95_ms),
        ("p99", |s| s.p99_ms),
    ];
    for (i, (name, pick)) in picks.into_iter().enumerate() {
        let color = series_color(i);
        chart
            .draw_series(LineSeries::new(
                t.seconds
                    .iter()
                    .enumerate()
                    .filter_map(|(x, s)| pick(s).filter(|v| *v > 0.0).map(|v| (x as f64, v))),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .draw_series(DashedLineSeries::new(
            [(0.0, slo_ms), (n, slo_ms)],
            6,
            4,
            BLACK.mix(0.6).stroke_width(1),
        ))?
        .label(format!("SLO p95 {slo_ms:.0} ms"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.6)));
    let scale_outs: Vec<_> = a
        .scale_outs
        .iter()
        .filter(|s| s.run_id == t.run_id)
        .map(|s| ((s.activity_at.unix_timestamp() - t.start) as f64, s))
        .collect();
    for (i, (x, s)) in scale_outs.iter().enumerate() {
        chart.draw_series(DashedLineSeries::new(
            [(*x, bottom), (*x, top)],
            3,
            3,
            series_color(3).stroke_width(1),
        ))?;
        // Labels of nearby activities are staggered so that they do not overlap.
        chart.draw_series(std::iter::once(Text::new(
            format!(" {} {}→{}", s.group, s.from_capacity, s.to_capacity),
            (*x, bottom * 1.3 * 2f64.powi(i as i32 % 3)),
            ("sans-serif", 12),
        )))?;
    }
    legend!(chart, SeriesLabelPosition::UpperRight)?;

    let mut groups: Vec<String> = t
        .seconds
        .iter()
        .flat_map(|s| s.in_service.keys().cloned())
        .collect();
    groups.sort();
    groups.dedup();
    if groups.is_empty() {
        // Missing is not zero: an empty axis would read as no instance serving the traffic.
        lower.draw(&Text::new(
            "no instance metrics for this run (no stack telemetry): no data, not zero",
            (60, 40),
            ("sans-serif", 16),
        ))?;
        return Ok(());
    }
    let max_instances = t
        .seconds
        .iter()
        .flat_map(|s| s.in_service.values().copied())
        .fold(1.0, f64::max)
        + 0.5;
    let mut chart = ChartBuilder::on(&lower)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n, 0f64..max_instances)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the run started; dashed: scale-out activities")
        .y_desc("in service")
        .y_label_formatter(&number)
        .x_label_formatter(&number)
        .label_style(("sans-serif", 13))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;
    for (i, group) in groups.iter().enumerate() {
        let color = series_color(i + 4);
        chart
            .draw_series(LineSeries::new(
                t.seconds
                    .iter()
                    .enumerate()
                    .filter_map(|(x, s)| s.in_service.get(group).map(|v| (x as f64, *v))),
                color.stroke_width(2),
            ))?
            .label(format!("instances in service: {group}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    for (x, _) in &scale_outs {
        chart.draw_series(DashedLineSeries::new(
            [(*x, 0.0), (*x, max_instances)],
            3,
            3,
            series_color(3).stroke_width(1),
        ))?;
    }
    legend!(chart, SeriesLabelPosition::LowerRight)
}

fn draw_resources<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    t: &RunTimeline,
) -> DrawResult<DB> {
    let n = t.seconds.len().max(1) as f64;
    let queue_top = t
        .seconds
        .iter()
        .filter_map(|s| s.queue_visible)
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("CPU per group and queue depth — run {}", t.run_id),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0f64..n, 0f64..100f64)?
        .set_secondary_coord(0f64..n, 0f64..queue_top);
    chart
        .configure_mesh()
        .x_desc("seconds since the run started")
        .y_desc("CPU, % (group average)")
        .y_label_formatter(&number)
        .x_label_formatter(&number)
        .label_style(("sans-serif", 13))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("messages visible in the queue")
        .y_label_formatter(&number)
        .label_style(("sans-serif", 13))
        .draw()?;
    let mut groups: Vec<String> = t
        .seconds
        .iter()
        .flat_map(|s| s.cpu_percent.keys().cloned())
        .collect();
    groups.sort();
    groups.dedup();
    for (i, group) in groups.iter().enumerate() {
        let color = series_color(i);
        chart
            .draw_series(LineSeries::new(
                t.seconds.iter().enumerate().filter_map(|(x, s)| {
                    s.cpu_percent.get(group).map(|v| (x as f64, v.min(100.0)))
                }),
                color.stroke_width(2),
            ))?
            .label(format!("CPU {group}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    let color = series_color(4);
    chart
        .draw_secondary_series(LineSeries::new(
            t.seconds
                .iter()
                .enumerate()
                .filter_map(|(x, s)| s.queue_visible.map(|v| (x as f64, v))),
            color.stroke_width(2),
        ))?
        .label("queue depth (right axis)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    legend!(chart)
}

fn draw_users_latency<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    a: &Analysis,
) -> DrawResult<DB> {
    let slo = &a.settings.slo;
    let mut points: Vec<_> = a.stages.iter().collect();
    points.sort_by(|x, y| x.load.total_cmp(&y.load));
    let max_load = points.iter().map(|p| p.load).fold(1.0, f64::max) * 1.05;
    // Points without a latency are left out of the latency line (no data is not 0 ms).
    let measured: Vec<(&LoadPoint, f64)> = points
        .iter()
        .filter_map(|p| Some((*p, p.worst_p95_ms.filter(|v| *v > 0.0)?)))
        .collect();
    let top = measured
        .iter()
        .map(|(_, p95)| *p95)
        .fold(slo.p95_ms, f64::max)
        * 1.5;
    let bottom = measured
        .iter()
        .map(|(_, p95)| *p95)
        .fold(top, f64::min)
        .max(0.01)
        / 1.5;
    let err_top = points
        .iter()
        .map(|p| p.total.error_ratio * 100.0)
        .fold(slo.max_error_ratio * 100.0, f64::max)
        * 1.3;
    let unit = match points.first().map(|p| p.load_kind) {
        Some(capacity_model::analysis::LoadKind::Rate) => "arrivals per second",
        _ => "concurrent users",
    };
    let mut chart = ChartBuilder::on(root)
        .caption(
            "Load → p95 (worst endpoint) and errors, with the SLO",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .right_y_label_area_size(50)
        .build_cartesian_2d(0f64..max_load, (bottom..top).log_scale())?
        .set_secondary_coord(0f64..max_load, 0f64..err_top);
    chart
        .configure_mesh()
        .x_desc(unit)
        .y_desc("p95, ms (log)")
        .y_label_formatter(&number)
        .x_label_formatter(&number)
        .label_style(("sans-serif", 13))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("errors, %")
        .y_label_formatter(&number)
        .label_style(("sans-serif", 13))
        .draw()?;
    let blue = series_color(0);
    chart
        .draw_series(LineSeries::new(
            measured.iter().map(|(p, p95)| (p.load, *p95)),
            blue.stroke_width(2),
        ))?
        .label("p95 of the worst endpoint")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue));
    chart.draw_series(measured.iter().map(|(p, p95)| {
        let within = *p95 <= slo.p95_ms && p.total.error_ratio <= slo.max_error_ratio;
        let style = if within {
            blue.filled()
        } else {
            series_color(2).filled()
        };
        Circle::new((p.load, *p95), 4, style)
    }))?;
    let red = series_color(2);
    chart
        .draw_secondary_series(LineSeries::new(
            points.iter().map(|p| (p.load, p.total.error_ratio * 100.0)),
            red.stroke_width(1),
        ))?
        .label("errors % (right axis)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red));
    chart
        .draw_series(DashedLineSeries::new(
            [(0.0, slo.p95_ms), (max_load, slo.p95_ms)],
            6,
            4,
            BLACK.mix(0.6).stroke_width(1),
        ))?
        .label(format!("SLO p95 {:.0} ms", slo.p95_ms))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.6)));
    legend!(chart)
}

fn draw_usl<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, a: &Analysis) -> DrawResult<DB> {
    let Section::Available(u) = &a.usl else {
        return Ok(());
    };
    let f = &u.fit;
    let model = |n: f64| f.lambda * n / (1.0 + f.sigma * (n - 1.0) + f.kappa * n * (n - 1.0));
    let max_n = u.points.iter().map(|p| p.0).fold(1.0, f64::max) * 1.5;
    let top = u
        .points
        .iter()
        .map(|p| p.1)
        .chain((0..=100).map(|i| model(max_n * f64::from(i) / 100.0)))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "Throughput against concurrency, USL fit (σ {:.4}, κ {:.2e}, R² {:.3}{})",
                f.sigma,
                f.kappa,
                f.r_squared,
                if f.r_squared < capacity_model::analysis::USL_POOR_FIT {
                    ": a poor fit, no projection"
                } else {
                    ""
                }
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_n, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc(if u.concurrency_from == "users" {
            "concurrency N (users)"
        } else {
            "concurrency N = X·R (Little's law)"
        })
        .y_desc("throughput X, req/s")
        .y_label_formatter(&number)
        .x_label_formatter(&number)
        .label_style(("sans-serif", 13))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;
    let blue = series_color(0);
    chart
        .draw_series(u.points.iter().map(|p| Circle::new(*p, 4, blue.filled())))?
        .label("measured")
        .legend(move |(x, y)| Circle::new((x + 10, y), 4, blue.filled()));
    let orange = series_color(1);
    chart
        .draw_series(LineSeries::new(
            (1..=200).map(|i| {
                let n = max_n * f64::from(i) / 200.0;
                (n, model(n))
            }),
            orange.stroke_width(2),
        ))?
        .label("USL fit (beyond the last point: a projection)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], orange));
    legend!(chart)
}

/// Percentile p (0–100) on the spectrum's axis: 1 / (1 − p), as HdrHistogram's plots.
fn nines(p: f64) -> f64 {
    1.0 / (1.0 - (p / 100.0).min(0.99999))
}

fn draw_spectrum<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    a: &Analysis,
) -> DrawResult<DB> {
    let top = a
        .spectra
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.5;
    let bottom = a
        .spectra
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| *v > 0.0)
        .fold(top, f64::min)
        .max(0.01)
        / 1.5;
    let mut chart = ChartBuilder::on(root)
        .caption(
            "Latency by percentile (HDR spectrum), every scenario-1 run",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((1f64..200_000f64).log_scale(), (bottom..top).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency, ms (log)")
        .x_label_formatter(&|v| {
            // 1 / (1 − p): 10 is 90 %, 1000 is 99.9 %; one decimal per nine past 99.
            let p = (1.0 - 1.0 / v) * 100.0;
            let decimals = (v.log10().round() as usize).saturating_sub(2);
            format!("{p:.decimals$}%")
        })
        .y_label_formatter(&number)
        .label_style(("sans-serif", 13))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;
    for (i, s) in a.spectra.iter().enumerate() {
        let color = series_color(i);
        chart
            .draw_series(LineSeries::new(
                s.points
                    .iter()
                    .filter(|(p, v)| *p < 100.0 && *v > 0.0)
                    .map(|(p, v)| (nines(*p), *v)),
                color.stroke_width(2),
            ))?
            .label(s.endpoint.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    legend!(chart, SeriesLabelPosition::LowerRight)
}

fn draw_workers<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, a: &Analysis) -> DrawResult<DB> {
    let cells = a.workers.len().max(1);
    let top = a
        .workers
        .iter()
        .map(|w| w.videos_per_minute)
        .fold(0.1, f64::max)
        * 1.25;
    let mut chart = ChartBuilder::on(root)
        .caption(
            "Scenario 2: throughput X (videos per minute) per cell",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..cells as f64, 0f64..top)?;
    let label = |i: usize| {
        a.workers.get(i).map_or(String::new(), |w| {
            format!(
                "{:.0} MB c{} {}",
                w.size_bytes as f64 / 1e6,
                w.concurrency,
                &w.mode[..4.min(w.mode.len())]
            )
        })
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(cells * 2 + 1)
        .x_label_formatter(&|x| {
            // Labels sit at the bars' centres (i + 0.5).
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 1e-6 {
                label(i)
            } else {
                String::new()
            }
        })
        .y_desc("videos per minute")
        .y_label_formatter(&number)
        .label_style(("sans-serif", 12))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;
    for (i, w) in a.workers.iter().enumerate() {
        let color = if w.queue_verdict == "growing" {
            series_color(2)
        } else {
            series_color(0)
        };
        let x = i as f64;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x + 0.15, 0.0), (x + 0.85, w.videos_per_minute)],
            color.mix(0.8).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{:.2}", w.videos_per_minute),
            (x + 0.3, w.videos_per_minute + top * 0.02),
            ("sans-serif", 13),
        )))?;
    }
    let (blue, red) = (series_color(0), series_color(2));
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), u32>>())?
        .label("queue stable")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], blue.filled()));
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), u32>>())?
        .label("queue growing (saturated)")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], red.filled()));
    legend!(chart, SeriesLabelPosition::UpperRight)
}
