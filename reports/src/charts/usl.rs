//! The Universal Scalability Law's fit.

use capacity_model::analysis::{USL_POOR_FIT, UslSection};
use plotters::prelude::*;

use crate::Lang;

use super::legend::{Mark, key, with_legend};
use super::style::{BLUE, ORANGE, caption_font, house_style};
use super::timeline::{MARGIN, X_LABELS, Y_LABELS};
use super::{Area, DrawResult};

pub(super) fn draw_usl<DB: DrawingBackend>(
    root: &Area<DB>,
    u: &UslSection,
    lang: Lang,
) -> DrawResult<DB> {
    let f = &u.fit;
    let accepted = !u.fits_poorly();
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
