//! The HDR spectrum: latency by percentile.

use capacity_model::analysis::Analysis;
use plotters::prelude::*;

use crate::Lang;

use super::legend::{Key, Mark, key, with_legend};
use super::style::{PALETTE, caption_font, house_style, log_tick, series_color};
use super::timeline::{MARGIN, X_LABELS, Y_LABELS};
use super::{Area, DrawResult};

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

pub(super) fn draw_spectrum<DB: DrawingBackend>(
    root: &Area<DB>,
    a: &Analysis,
    lang: Lang,
) -> DrawResult<DB> {
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
