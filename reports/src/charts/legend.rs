//! The legend: a band under the plot.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::font;
use super::{Area, DrawError, DrawResult};

/// How a legend entry shows its series.
#[derive(Debug, Clone, Copy)]
pub(super) enum Mark {
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

pub(super) struct Key {
    pub(super) label: String,
    pub(super) mark: Mark,
}

pub(super) fn key(label: impl Into<String>, mark: Mark) -> Key {
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
pub(super) fn with_legend<DB: DrawingBackend>(
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
pub(super) fn hollow_fill(c: RGBColor) -> ShapeStyle {
    c.mix(0.18).filled()
}
