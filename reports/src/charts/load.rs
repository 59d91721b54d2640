//! Load → latency and errors.

use capacity_model::analysis::{Analysis, LoadKind, LoadPoint};
use plotters::prelude::*;

use crate::Lang;

use super::legend::{Mark, key, with_legend};
use super::style::{
    BLUE, ORANGE, VERMILLION, caption_font, draw_pieces, font, house_style, log_tick, pieces,
};
use super::timeline::{MARGIN, X_LABELS, Y_LABELS};
use super::{Area, DrawResult};

pub(super) fn draw_users_latency<DB: DrawingBackend>(
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
