//! CPU and queue: one chart per scenario-1 run, one panel per scenario-2 run.

use capacity_model::analysis::{Analysis, RunTimeline, WorkerCell};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::Lang;
use rundir::short_run_id as short;

use super::legend::{Key, Mark, key, with_legend};
use super::style::{
    BLUE, CountAxis, caption_font, count_axis, count_tick, draw_pieces, font, group_color,
    house_style, per_second, run_caption, seconds_labels,
};
use super::timeline::{MARGIN, X_LABELS, Y_LABELS, run_groups};
use super::{Area, DrawResult};

/// A saturation step on a run's timeline, seconds since its start.
#[derive(Debug, Clone, PartialEq)]
struct StepMark {
    pub(super) from: f64,
    pub(super) to: f64,
    pub(super) rate_per_minute: f64,
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
    pub(super) t: &'a RunTimeline,
    pub(super) steps: Vec<StepMark>,
    /// Shared by every panel of a chart, so that panels compare at a glance.
    pub(super) queue: CountAxis,
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

pub(super) fn draw_resources<DB: DrawingBackend>(
    root: &Area<DB>,
    a: &Analysis,
    t: &RunTimeline,
    all_groups: &[String],
    lang: Lang,
) -> DrawResult<DB> {
    let groups = run_groups(t, |s| s.cpu_percent.keys().collect());
    let caption = run_caption(
        lang,
        (
            "CPU por grupo y profundidad de la cola",
            "CPU per group and queue depth",
        ),
        &t.run_id,
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
pub(super) struct Grid {
    pub(super) cols: usize,
    pub(super) grid_rows: usize,
    pub(super) wide_rows: usize,
}

impl Grid {
    pub(super) fn of(runs: &[(&RunTimeline, Option<&WorkerCell>)]) -> Grid {
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

    pub(super) fn size(self) -> (u32, u32) {
        let width = if self.cols > 2 { 1300 } else { 1000 };
        let rows = (self.grid_rows + self.wide_rows) as u32;
        (width, 100 + rows * 300)
    }
}

pub(super) fn draw_worker_resources<DB: DrawingBackend>(
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

pub(super) fn mode_name(mode: &str, lang: Lang) -> String {
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
