//! The report's charts, drawn with plotters as PNG (embedded in the markdown) and SVG (for
//! print), from the analysis alone and in the report's language. Text uses the embedded
//! DejaVu Sans, so a chart looks the same on a machine without fonts.
//!
//! What every chart keeps to (issue 16): the Okabe–Ito palette, so that colour-blind readers
//! tell the series apart, and a dash or a marker shape besides colour for whatever is judged
//! (the SLO, a breach); the legend in a band under the plot, never over the data; counts on
//! axes with whole-number ticks; a second without data is a gap in its line, never a 0.

use std::path::{Path, PathBuf};

use capacity_model::analysis::{Analysis, RunTimeline, Section, WorkerCell};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

use crate::Lang;
use rundir::short_run_id as short;

mod legend;
mod load;
mod resources;
mod spectrum;
mod style;
mod timeline;
mod usl;
mod workers;

use load::draw_users_latency;
use resources::{Grid, draw_resources, draw_worker_resources};
use spectrum::draw_spectrum;
use style::groups_of;
use timeline::draw_latency;
use usl::draw_usl;
use workers::draw_workers;

const FONT: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
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

pub(super) type Area<DB> = DrawingArea<DB, Shift>;
pub(super) type DrawError<DB> = DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>;
pub(super) type DrawResult<DB> = Result<(), DrawError<DB>>;

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

#[cfg(test)]
mod tests {
    use super::style::{CountAxis, PALETTE, count_axis, count_tick, pieces, stack_rows};
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
