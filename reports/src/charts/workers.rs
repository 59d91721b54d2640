//! Scenario 2: throughput per cell.

use capacity_model::QueueVerdict;
use capacity_model::analysis::{Analysis, WorkerCell};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::Lang;
use rundir::short_run_id as short;

use super::legend::{Mark, hollow_fill, key, with_legend};
use super::resources::mode_name;
use super::style::{BLUE, GREY, VERMILLION, caption_font, font, house_style};
use super::timeline::{MARGIN, X_LABELS, Y_LABELS};
use super::{Area, DrawResult};

/// How a cell's bar shows its queue: a solid bar for a stable queue, an outlined one for a
/// growing queue (told apart without colour), grey outline when the trend is unknown.
fn verdict_mark(verdict: QueueVerdict) -> Mark {
    match verdict {
        QueueVerdict::Growing => Mark::HollowBar(VERMILLION),
        QueueVerdict::Unknown => Mark::HollowBar(GREY),
        QueueVerdict::Steady | QueueVerdict::Draining => Mark::Bar(BLUE),
    }
}

pub(super) fn draw_workers<DB: DrawingBackend>(
    root: &Area<DB>,
    a: &Analysis,
    lang: Lang,
) -> DrawResult<DB> {
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
