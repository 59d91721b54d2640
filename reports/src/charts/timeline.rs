//! Latency per second, instances in service and scale-outs (scenario 1).

use capacity_model::analysis::{Analysis, RunTimeline, Second};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::Lang;

use super::legend::{Mark, key, with_legend};
use super::style::{
    BLUE, GREY, PURPLE, SKY_BLUE, caption_font, count_axis, count_tick, draw_pieces, font,
    group_color, house_style, log_tick, per_second, run_caption, seconds_labels, stack_rows,
};
use super::{Area, DrawError, DrawResult};

/// A scale-out on a run's timeline.
struct ScaleMark {
    pub(super) x: f64,
    pub(super) label: String,
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

pub(super) fn run_groups(t: &RunTimeline, pick: impl Fn(&Second) -> Vec<&String>) -> Vec<String> {
    let mut groups: Vec<String> = t.seconds.iter().flat_map(&pick).cloned().collect();
    groups.sort();
    groups.dedup();
    groups
}

/// The plot's layout in pixels, fixed so that annotations can be placed before drawing.
pub(super) const MARGIN: i32 = 12;
pub(super) const Y_LABELS: i32 = 70;
pub(super) const X_LABELS: i32 = 46;

pub(super) fn draw_latency<DB: DrawingBackend>(
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
    let caption = run_caption(
        lang,
        (
            "Latencia por segundo, todos los endpoints",
            "Latency per second, all endpoints",
        ),
        &t.run_id,
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
