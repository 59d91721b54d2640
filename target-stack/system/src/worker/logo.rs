//! The ANB logo the worker draws on bumpers and as a watermark, generated in code (no asset
//! files, no fonts): "ANB" in a 5×7 bitmap font on a translucent plate, written as a PAM
//! image (RGBA), which ffmpeg reads natively.

const GLYPHS: [[&str; 7]; 3] = [
    [
        ".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#",
    ],
    [
        "#...#", "##..#", "##..#", "#.#.#", "#..##", "#..##", "#...#",
    ],
    [
        "####.", "#...#", "#...#", "####.", "#...#", "#...#", "####.",
    ],
];
/// Pixels per font cell.
const CELL: usize = 6;
/// Cells of plate around the text.
const MARGIN: usize = 2;

const PLATE: [u8; 4] = [16, 28, 61, 170];
const INK: [u8; 4] = [255, 255, 255, 235];

/// Width and height in pixels.
pub fn size() -> (usize, usize) {
    let cols = MARGIN * 2 + GLYPHS.len() * 6 - 1;
    let rows = MARGIN * 2 + 7;
    (cols * CELL, rows * CELL)
}

fn ink_at(col: usize, row: usize) -> bool {
    if row < MARGIN || col < MARGIN || row >= MARGIN + 7 {
        return false;
    }
    let (col, row) = (col - MARGIN, row - MARGIN);
    let (glyph, x) = (col / 6, col % 6);
    glyph < GLYPHS.len() && x < 5 && GLYPHS[glyph][row].as_bytes()[x] == b'#'
}

/// The logo as a PAM file.
pub fn pam() -> Vec<u8> {
    let (width, height) = size();
    let mut out = format!(
        "P7\nWIDTH {width}\nHEIGHT {height}\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n"
    )
    .into_bytes();
    for y in 0..height {
        for x in 0..width {
            let pixel = if ink_at(x / CELL, y / CELL) {
                INK
            } else {
                PLATE
            };
            out.extend_from_slice(&pixel);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pam_holds_exactly_width_times_height_rgba_pixels() {
        let (w, h) = size();
        let pam = pam();
        let header_end = pam.windows(7).position(|w| w == b"ENDHDR\n").unwrap() + 7;
        assert_eq!(pam.len() - header_end, w * h * 4);
        assert_eq!((w, h), (126, 66));
    }

    #[test]
    fn the_letters_are_drawn() {
        // Top-left of "A" is blank, the second column of its top row is ink.
        assert!(!ink_at(MARGIN, MARGIN));
        assert!(ink_at(MARGIN + 1, MARGIN));
        assert!(!ink_at(0, 0));
    }
}
