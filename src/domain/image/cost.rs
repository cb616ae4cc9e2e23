//! What decoding an image costs in memory, from its header alone: the decoded pixels
//! and the decoder's own working buffers, per decoder pier uses (zune-jpeg, png, gif
//! through `image`, image-webp). The figures follow each decoder's allocations (cited
//! per format below) rounded up, and `tests/decode_memory.rs` checks them against the
//! peak resident memory of a real decode of each kind at its worst.

use super::{GifLayout, JpegLayout, Layout, PngLayout, WebpLayout};

/// Fixed overhead of any decode: decoder state, Huffman and quantisation tables,
/// inflate windows, the small thumbnail being written.
const FIXED: u64 = 4 << 20;

/// See the module documentation; `image` excludes the encoded input.
pub fn decode_bytes(layout: &Layout) -> u64 {
    FIXED
        + match layout {
            Layout::Jpeg(l) => jpeg(l),
            Layout::Png(l) => png(l),
            Layout::Gif(l) => gif(l),
            Layout::Webp(l) => webp(l),
        }
}

fn area(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height)
}

/// zune-jpeg: the output (1 byte per pixel for grey, 3 for colour), plus, when
/// coefficients must wait for later scans (progressive, or a sequential file whose
/// first scan lacks components), 2 bytes per coefficient of every component over the
/// whole image padded to MCUs (`mcu_prog.rs`, `mcu.rs`), plus MCU-row buffers for
/// upsampling.
fn jpeg(l: &JpegLayout) -> u64 {
    let frame = &l.frame;
    let (w, h) = (
        u64::from(frame.dimensions.width),
        u64::from(frame.dimensions.height),
    );
    let components = usize::from(frame.components);
    let factors = &frame.sampling[..components];
    // zune treats a single component as unsampled.
    let (h_max, v_max, units) = if components == 1 {
        (1, 1, 1)
    } else {
        (
            u64::from(factors.iter().map(|f| f.0).max().unwrap_or(1)),
            u64::from(factors.iter().map(|f| f.1).max().unwrap_or(1)),
            factors
                .iter()
                .map(|(h, v)| u64::from(*h) * u64::from(*v))
                .sum(),
        )
    };
    let mcus_x = w.div_ceil(8 * h_max);
    let mcus_y = h.div_ceil(8 * v_max);
    let output = w * h * if components == 1 { 1 } else { 3 };
    let coefficients = if frame.progressive || !l.first_scan_complete {
        mcus_x * mcus_y * 64 * units * 2
    } else {
        0
    };
    // One MCU row per component at 16 bits, upsampled, twice over.
    let rows = mcus_x * 8 * h_max * 8 * v_max * components as u64 * 2 * 4;
    output + coefficients + rows
}

/// png with `EXPAND | STRIP_16`: the 8-bit output, the current and previous rows as
/// stored (up to 16 bits per sample), and for Adam7 a row buffer per pass.
fn png(l: &PngLayout) -> u64 {
    let output = area(l.dimensions.width, l.dimensions.height) * u64::from(l.channels());
    output + 4 * l.stored_row_bytes() + 8 * u64::from(l.dimensions.width)
}

/// image's GIF decoder: the RGBA canvas the first frame is drawn on, the frame's
/// palette indices, and the frame again as RGBA when it does not cover the canvas
/// (`codecs/gif.rs`).
fn gif(l: &GifLayout) -> u64 {
    let canvas = area(l.dimensions.width, l.dimensions.height);
    let frame = area(l.first_frame.width, l.first_frame.height);
    let separate = if frame < canvas { frame * 4 } else { 0 };
    canvas * 4 + frame + separate
}

/// image-webp (`decoder.rs`, `vp8.rs`): a lossy frame keeps its Y, U and V planes padded
/// to 16-pixel macroblocks beside the RGB(A) output, and an alpha plane is decoded
/// losslessly (32 bits a pixel) beside; a lossless frame decodes 32-bit pixels (into
/// the output when it has alpha, else into a buffer of its own); an animation's first
/// frame is decoded on its own and composed on an RGBA canvas.
fn webp(l: &WebpLayout) -> u64 {
    let (w, h) = (
        u64::from(l.dimensions.width),
        u64::from(l.dimensions.height),
    );
    let pixels = w * h;
    let padded = w.div_ceil(16) * 16 * h.div_ceil(16) * 16;
    let output = pixels * if l.alpha { 4 } else { 3 };
    let frame = if l.lossless {
        // Transform images and the colour cache, plus the 32-bit buffer without alpha.
        pixels + if l.alpha { 0 } else { pixels * 4 }
    } else {
        padded * 3 / 2 + if l.alpha { pixels * 5 } else { 0 }
    };
    let animation = if l.frames > 0 { pixels * 8 } else { 0 };
    output + frame + animation
}
