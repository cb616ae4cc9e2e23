//! Hostile and worst-case images, made by the tests: the files of the decoder findings
//! (a JPEG whose header two parsers read differently, progressive and many-scan JPEGs,
//! a 16-bit PNG) and the largest images of each kind a decode budget admits, to measure
//! the decoder's real peak against the model. Pixels are generated row by row, so a
//! big image does not need a big buffer in the test process.

#![allow(dead_code)] // each test binary uses its own part

use jpeg_encoder::{ColorType, Encoder, ImageBuffer, JpegColorType, SamplingFactor};

/// A gradient with some texture, generated a row at a time for the encoder.
struct Gradient {
    width: u16,
    height: u16,
    grey: bool,
}

impl ImageBuffer for Gradient {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        if self.grey {
            JpegColorType::Luma
        } else {
            JpegColorType::Ycbcr
        }
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        for x in 0..self.width {
            let (x, y) = (u32::from(x), u32::from(y));
            let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) as u8 & 0x0F;
            let luma = ((x + y) as u8).wrapping_add(noise);
            buffers[0].push(luma);
            if !self.grey {
                let (_, cb, cr) = jpeg_encoder::rgb_to_ycbcr((x * 3) as u8, (y * 5) as u8, luma);
                buffers[1].push(cb);
                buffers[2].push(cr);
            }
        }
    }
}

/// How a test JPEG is coded.
#[derive(Debug, Clone, Copy)]
pub enum Jpeg {
    /// One component.
    Grey,
    /// YCbCr with this chroma sampling.
    Colour(SamplingFactor),
}

/// A real JPEG of `width`×`height`, progressive or baseline.
pub fn jpeg(width: u16, height: u16, kind: Jpeg, progressive: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, 85);
    encoder.set_progressive(progressive);
    if let Jpeg::Colour(sampling) = kind {
        encoder.set_sampling_factor(sampling);
    }
    encoder
        .encode_image(Gradient {
            width,
            height,
            grey: matches!(kind, Jpeg::Grey),
        })
        .expect("encoding to memory");
    out
}

/// A small real JPEG through jpeg-encoder's byte API (for the format's other paths).
pub fn small_jpeg(grey: bool) -> Vec<u8> {
    let (w, h) = (16u16, 16u16);
    let channels = if grey { 1 } else { 3 };
    let data: Vec<u8> = (0..usize::from(w) * usize::from(h) * channels)
        .map(|i| (i * 7) as u8)
        .collect();
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, 90);
    encoder.set_progressive(true);
    encoder
        .encode(
            &data,
            w,
            h,
            if grey {
                ColorType::Luma
            } else {
                ColorType::Rgb
            },
        )
        .expect("encoding to memory");
    out
}

/// The segments of a JPEG: (marker, whole segment bytes including `FF xx` and length),
/// with each scan's entropy-coded data appended to its SOS segment.
pub fn segments(jpeg: &[u8]) -> Vec<(u8, Vec<u8>)> {
    assert_eq!(&jpeg[..2], [0xFF, 0xD8]);
    let mut out = Vec::new();
    let mut at = 2;
    while at < jpeg.len() {
        assert_eq!(jpeg[at], 0xFF, "segment at {at}");
        let marker = jpeg[at + 1];
        if marker == 0xD9 {
            out.push((marker, vec![0xFF, 0xD9]));
            break;
        }
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let mut end = at + 2 + length;
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is not RSTn or a stuffed 0.
            while jpeg[end] != 0xFF || matches!(jpeg[end + 1], 0x00 | 0xD0..=0xD7) {
                end += 1;
            }
        }
        out.push((marker, jpeg[at..end].to_vec()));
        at = end;
    }
    out
}

/// Joins segments back into a file.
pub fn join(segments: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    for (_, bytes) in segments {
        out.extend_from_slice(bytes);
    }
    out
}

/// `jpeg` with its frame header claiming `width`×`height` (the scans are left as they
/// are: what matters is what a decoder allocates for when it reads the header).
pub fn claiming(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut parts = segments(jpeg);
    for (marker, bytes) in &mut parts {
        if matches!(marker, 0xC0..=0xC2) {
            bytes[5..7].copy_from_slice(&height.to_be_bytes());
            bytes[7..9].copy_from_slice(&width.to_be_bytes());
        }
    }
    join(&parts)
}

/// `jpeg` (progressive) with its last scan repeated until it has `scans` scans.
pub fn with_scans(jpeg: &[u8], scans: usize) -> Vec<u8> {
    let mut parts = segments(jpeg);
    let end = parts.pop().expect("EOI");
    let last_scan = parts
        .iter()
        .rev()
        .find(|(m, _)| *m == 0xDA)
        .expect("a scan")
        .clone();
    while parts.iter().filter(|(m, _)| *m == 0xDA).count() < scans {
        parts.push(last_scan.clone());
    }
    parts.push(end);
    join(&parts)
}

/// The parser-differential JPEG of the hardening report: `FF D8`, one `FF` fill byte,
/// then the real progressive frame header of a 16000×16000 grey image. A reader that
/// takes `FF FF` for a segment reads its "length" from the frame marker and length
/// bytes (`C2 00` = 49664) and lands in a comment holding a fake 1×1 baseline frame
/// header; a decoder skips the fill byte and uses the real one.
pub fn fill_byte_differential() -> Vec<u8> {
    let small = segments(&small_jpeg(true));
    let component = small
        .iter()
        .find(|(m, _)| *m == 0xC2)
        .map(|(_, bytes)| bytes[10])
        .expect("the small file's frame");
    let mut out = vec![0xFF, 0xD8, 0xFF];
    // The real frame: SOF2, length 11, 8 bits, 16000×16000, one component (with the id
    // the scans below name).
    out.extend_from_slice(&[
        0xFF, 0xC2, 0x00, 0x0B, 0x08, 0x3E, 0x80, 0x3E, 0x80, 0x01, component, 0x11, 0x00,
    ]);
    for (marker, bytes) in &small {
        if matches!(marker, 0xDB | 0xC4) {
            out.extend_from_slice(bytes);
        }
    }
    // Where the misreading lands: 4 (after `FF FF`) + 0xC200.
    let landing = 4 + 0xC200;
    let comment_start = out.len();
    let fake_sof = [
        0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01, 0x11, 0x00,
    ];
    let comment_length = landing - comment_start - 4 + fake_sof.len() + 16;
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&u16::try_from(comment_length + 2).unwrap().to_be_bytes());
    out.resize(landing, b' ');
    out.extend_from_slice(&fake_sof);
    out.resize(comment_start + 4 + comment_length, b' ');
    for (marker, bytes) in &small {
        if matches!(marker, 0xDA | 0xD9) {
            out.extend_from_slice(bytes);
        }
    }
    out
}

/// A `width`×`height` 16-bit RGBA PNG, streamed through the compressor a row at a time
/// (rows after the first repeat it, filtered "up": all zeros), so even 6000×6000 costs
/// the test no 288 MB buffer.
pub fn png_rgba16(width: u32, height: u32) -> Vec<u8> {
    use std::io::Write;
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[16, 6, 0, 0, 0]);
    let row_bytes = width as usize * 8;
    let mut first = vec![0u8; row_bytes + 1];
    for (i, byte) in first[1..].iter_mut().enumerate() {
        *byte = (i * 31 % 251) as u8;
    }
    let up = {
        let mut row = vec![0u8; row_bytes + 1];
        row[0] = 2;
        row
    };
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&first).unwrap();
    for _ in 1..height {
        encoder.write_all(&up).unwrap();
    }
    let idat = encoder.finish().unwrap();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut out, b"IHDR", &ihdr);
    for part in idat.chunks(1 << 20) {
        png_chunk(&mut out, b"IDAT", part);
    }
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// Appends a PNG chunk with its CRC.
pub fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A `width`×`height` GIF of one frame covering the screen, indexed pixels through the
/// gif encoder (no quantising of an RGB image).
pub fn gif(width: u16, height: u16) -> Vec<u8> {
    let palette: Vec<u8> = (0..=255u8).flat_map(|i| [i, 255 - i, i / 2]).collect();
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, width, height, &palette).unwrap();
        let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height))
            .map(|i| ((i % usize::from(width)) / 8) as u8)
            .collect();
        let frame = gif::Frame::from_indexed_pixels(width, height, pixels, None);
        encoder.write_frame(&frame).unwrap();
    }
    out
}

/// A lossless WebP of `width`×`height` with alpha (what `image` writes).
pub fn webp_lossless(width: u32, height: u32) -> Vec<u8> {
    let rgba = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x / 4) as u8, (y / 4) as u8, 7, 200])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    rgba.write_to(&mut out, image::ImageFormat::WebP).unwrap();
    out.into_inner()
}

/// A PNG whose IHDR claims a `width`×`height` 16-bit RGBA image, with a token IDAT: what
/// the structure walker and the cost model see of a big 16-bit file, without making one.
pub fn png_header_claiming_rgba16(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[16, 6, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// The Python with Pillow in it: `PIER_TEST_PYTHON`, or the venv `scripts/test.sh` makes.
pub fn python() -> std::path::PathBuf {
    std::env::var_os("PIER_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python")
        })
}

/// An image Pillow writes (for what no Rust encoder here writes: lossy WebP, lossy WebP
/// with alpha, animated WebP): `code` is Python that binds `image` (and optionally
/// `save`, the keyword arguments of `Image.save`) with `Image` imported.
pub fn pillow(code: &str) -> Vec<u8> {
    let script = format!(
        "import io, sys\nfrom PIL import Image\nsave = {{}}\n{code}\nout = io.BytesIO()\nimage.save(out, **save)\nsys.stdout.buffer.write(out.getvalue())\n"
    );
    run_python(&["-c", &script])
}

/// Runs the Python with Pillow in it with `args` and returns its stdout, failing the
/// test (with how to get that Python) when it cannot run or does not succeed.
pub fn run_python(args: &[&str]) -> Vec<u8> {
    let python = python();
    let output = std::process::Command::new(&python)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run scripts/test.sh, which installs Pillow into target/test-venv, or set PIER_TEST_PYTHON",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "Python {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A lossy WebP of `width`×`height`, with an alpha channel or without.
pub fn webp_lossy(width: u32, height: u32, alpha: bool) -> Vec<u8> {
    let alpha = if alpha {
        "image.putalpha(Image.linear_gradient('L').rotate(90).resize(image.size))\n"
    } else {
        ""
    };
    pillow(&format!(
        "image = Image.linear_gradient('L').resize(({width}, {height})).convert('RGB')\n\
         {alpha}save = dict(format='WEBP', quality=80)"
    ))
}

/// An animated lossy WebP of `frames` frames of `width`×`height`.
pub fn webp_animated(width: u32, height: u32, frames: u32) -> Vec<u8> {
    pillow(&format!(
        "frames = [Image.new('RGB', ({width}, {height}), (i * 40, 90, 200)) for i in range({frames})]\n\
         image = frames[0]\n\
         save = dict(format='WEBP', save_all=True, append_images=frames[1:], duration=100, quality=80)"
    ))
}

/// A PNG of the given chunks (signature and CRCs added).
pub fn png_with(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in chunks {
        png_chunk(&mut out, kind, data);
    }
    out
}

/// The data of an IHDR chunk.
pub fn ihdr(width: u32, height: u32, depth: u8, color: u8) -> Vec<u8> {
    let mut data = Vec::new();
    data.extend_from_slice(&width.to_be_bytes());
    data.extend_from_slice(&height.to_be_bytes());
    data.extend_from_slice(&[depth, color, 0, 0, 0]);
    data
}

/// The data of an APNG frame control chunk.
pub fn fctl(width: u32, height: u32, x: u32, y: u32) -> Vec<u8> {
    let mut data = vec![0, 0, 0, 0];
    for value in [width, height, x, y] {
        data.extend_from_slice(&value.to_be_bytes());
    }
    data.extend_from_slice(&[0, 1, 0, 10, 0, 0]);
    data
}

/// A GIF with a two-colour global table and these frames (left, top, width, height),
/// each with a token LZW stream.
pub fn gif_with(screen: (u16, u16), frames: &[(u16, u16, u16, u16)]) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&screen.0.to_le_bytes());
    out.extend_from_slice(&screen.1.to_le_bytes());
    out.extend_from_slice(&[0x80, 0, 0]);
    out.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    for &(left, top, width, height) in frames {
        out.push(0x2C);
        for value in [left, top, width, height] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.push(0);
        out.extend_from_slice(&[2, 2, 0x4C, 0x01, 0]);
    }
    out.push(0x3B);
    out
}
