//! A strict JPEG structure walker: every segment from SOI to EOI in order, fill bytes and
//! restart markers handled, exactly one frame, bounded scans. It exists because a
//! lenient header reader and the decoder can disagree: `FF D8 FF FF C2 …` is a fill byte
//! before a 16000×16000 progressive frame to a decoder, but a segment `FF FF` whose
//! length jumps into a comment holding a fake 1×1 frame to a naive reader. Anything a
//! strict reading cannot place (bytes between segments, a second frame, an unknown
//! marker) is refused, and the header that is accepted is then read again by the decoder
//! itself ([`agrees_with_decoder`]): the dimensions pier checks and reports are the ones
//! the decoder will use.

use super::{
    Dimensions, ImageInspector, ImageRejection, check_pixels,
    walk::{Walker, Want, be16},
};

/// Most scans (SOS segments) in one image. A progressive scan walks every coefficient
/// of its components, so scans multiply decoding time; real encoders write 1 (baseline)
/// to ~12 (libjpeg's progressive script), mozjpeg's optimised scripts up to ~20.
pub const MAX_SCANS: u32 = 64;

/// The frame header: what the decoder allocates for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegFrame {
    /// Width and height.
    pub dimensions: Dimensions,
    /// SOF2: coefficients for the whole image are kept until the last scan.
    pub progressive: bool,
    /// Number of components (1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK).
    pub components: u8,
    /// Horizontal and vertical sampling factor of each component.
    pub sampling: [(u8, u8); 4],
}

/// What the walk learned: the frame, how many scans, and whether the first scan holds
/// every component (if not, a sequential decoder keeps all coefficients too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegLayout {
    /// The one frame.
    pub frame: JpegFrame,
    /// SOS segments before EOI.
    pub scans: u32,
    /// The first scan interleaves every component.
    pub first_scan_complete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting `FF D8`.
    Soi,
    /// Expecting the `FF` that starts a marker (nothing else may stand between segments).
    Prefix,
    /// After `FF`: fill bytes (`FF`) or the marker code.
    Code,
    /// Expecting a segment's length, for this marker.
    Length(u8),
    /// Expecting a segment's payload, for this marker.
    Payload(u8),
    /// Inside entropy-coded data, `after_ff` when the last byte was `FF`.
    Entropy { after_ff: bool },
    /// After EOI: trailing data (thumbnails of the Multi-Picture Format, vendor
    /// trailers) is not part of this image and is ignored, as by every decoder.
    End,
}

/// The walker; see the module documentation.
#[derive(Debug)]
pub(super) struct JpegWalker {
    state: State,
    max_pixels: u64,
    frame: Option<JpegFrame>,
    scans: u32,
    first_scan_complete: bool,
    /// Every byte up to the end of the first scan header, for the decoder to read again
    /// (bounded by [`ImageInspector::MAX_HEADER`]); emptied once it has.
    header: Vec<u8>,
    header_done: bool,
}

fn malformed(reason: &str) -> ImageRejection {
    ImageRejection::Malformed(format!("the JPEG structure is invalid: {reason}"))
}

impl JpegWalker {
    pub(super) fn new(max_pixels: u64) -> (Self, Want) {
        (
            Self {
                state: State::Soi,
                max_pixels,
                frame: None,
                scans: 0,
                first_scan_complete: false,
                header: Vec::new(),
                header_done: false,
            },
            Want::Bytes(2),
        )
    }

    /// Width and height, once the frame header has been read.
    pub(super) fn dimensions(&self) -> Option<Dimensions> {
        self.frame.map(|f| f.dimensions)
    }

    /// The image's layout if the stream ended at EOI.
    pub(super) fn finish(&self) -> Result<JpegLayout, ImageRejection> {
        match (self.state, self.frame) {
            (State::End, Some(frame)) => Ok(JpegLayout {
                frame,
                scans: self.scans,
                first_scan_complete: self.first_scan_complete,
            }),
            _ => Err(ImageRejection::Truncated),
        }
    }

    /// A marker code after `FF` (and any fill bytes).
    fn on_code(&mut self, code: u8) -> Result<Want, ImageRejection> {
        let in_scan_data = self.scans > 0;
        match code {
            0x00 => Err(malformed("a stuffed zero byte outside entropy-coded data")),
            0xD8 => Err(malformed("a second start-of-image marker")),
            0xD9 if !in_scan_data => Err(malformed("the image ends before any scan")),
            0xD9 => {
                self.state = State::End;
                Ok(Want::Stream)
            }
            0xD0..=0xD7 if in_scan_data => {
                self.state = State::Entropy { after_ff: false };
                Ok(Want::Stream)
            }
            0xD0..=0xD7 => Err(malformed("a restart marker outside entropy-coded data")),
            0x01 => {
                self.state = State::Prefix;
                Ok(Want::Bytes(1))
            }
            // Hierarchical and lossless frames, arithmetic coding, 12-bit precision and
            // DNL-defined heights are refused below; every other known marker has a length.
            0xC0..=0xFE => {
                self.state = State::Length(code);
                Ok(Want::Bytes(2))
            }
            _ => Err(malformed(&format!("unknown marker FF{code:02X}"))),
        }
    }

    fn on_length(&mut self, marker: u8, length: u16) -> Result<Want, ImageRejection> {
        if length < 2 {
            return Err(malformed(&format!(
                "segment FF{marker:02X} has length {length}"
            )));
        }
        let payload = usize::from(length - 2);
        match marker {
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                if self.frame.is_some() {
                    return Err(malformed("more than one frame header"));
                }
                if !matches!(marker, 0xC0..=0xC2) {
                    return Err(ImageRejection::Unsupported(format!(
                        "JPEG frame type SOF{} (lossless, hierarchical or arithmetic-coded); only baseline, extended and progressive Huffman JPEGs are accepted",
                        marker - 0xC0
                    )));
                }
                self.state = State::Payload(marker);
                Ok(Want::Bytes(payload))
            }
            0xDA | 0xDD => {
                self.state = State::Payload(marker);
                Ok(Want::Bytes(payload))
            }
            0xCC => Err(ImageRejection::Unsupported(
                "arithmetic-coded JPEG (DAC segment)".into(),
            )),
            0xDC => Err(ImageRejection::Unsupported(
                "a JPEG whose height is defined after its first scan (DNL segment)".into(),
            )),
            0xDE | 0xDF => Err(ImageRejection::Unsupported(
                "hierarchical JPEG (DHP or EXP segment)".into(),
            )),
            // DHT, DQT, COM, APPn, JPGn: their content does not change the layout, but
            // the decoder reads the header's again, so it is kept until the first scan.
            _ => {
                self.state = State::Payload(marker);
                if self.header_done {
                    Ok(Want::Skip(payload as u64))
                } else {
                    Ok(Want::Bytes(payload))
                }
            }
        }
    }

    fn on_frame(&mut self, marker: u8, payload: &[u8]) -> Result<Want, ImageRejection> {
        if payload.len() < 6 {
            return Err(malformed("short frame header"));
        }
        let (precision, height, width, count) =
            (payload[0], be16(payload, 1), be16(payload, 3), payload[5]);
        if precision != 8 {
            return Err(ImageRejection::Unsupported(format!(
                "{precision}-bit JPEG samples; only 8-bit JPEGs are accepted"
            )));
        }
        if height == 0 || width == 0 {
            return Err(ImageRejection::UnreadableHeader);
        }
        if !matches!(count, 1 | 3 | 4) {
            return Err(ImageRejection::Unsupported(format!(
                "a JPEG with {count} components"
            )));
        }
        if payload.len() != 6 + 3 * usize::from(count) {
            return Err(malformed(
                "frame header length does not match its components",
            ));
        }
        let mut sampling = [(0u8, 0u8); 4];
        for (i, slot) in sampling.iter_mut().take(usize::from(count)).enumerate() {
            let factors = payload[6 + 3 * i + 1];
            let (h, v) = (factors >> 4, factors & 0x0F);
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
                return Err(malformed("a sampling factor outside 1..=4"));
            }
            *slot = (h, v);
        }
        let dimensions = Dimensions {
            width: u32::from(width),
            height: u32::from(height),
        };
        check_pixels(dimensions, self.max_pixels)?;
        self.frame = Some(JpegFrame {
            dimensions,
            progressive: marker == 0xC2,
            components: count,
            sampling,
        });
        self.state = State::Prefix;
        Ok(Want::Bytes(1))
    }

    fn on_scan(&mut self, payload: &[u8]) -> Result<Want, ImageRejection> {
        let Some(frame) = self.frame else {
            return Err(malformed("a scan before the frame header"));
        };
        let count = payload.first().copied().unwrap_or(0);
        if count == 0 || count > frame.components || payload.len() != 4 + 2 * usize::from(count) {
            return Err(malformed("scan header does not match the frame"));
        }
        self.scans += 1;
        if self.scans > MAX_SCANS {
            return Err(ImageRejection::OverLimit(format!(
                "the JPEG has more than {MAX_SCANS} scans"
            )));
        }
        if self.scans == 1 {
            self.first_scan_complete = count == frame.components;
            agrees_with_decoder(&self.header, &frame)?;
            self.header = Vec::new();
            self.header_done = true;
        }
        self.state = State::Entropy { after_ff: false };
        Ok(Want::Stream)
    }
}

impl Walker for JpegWalker {
    fn on_bytes(&mut self, bytes: &[u8], _end: u64) -> Result<Want, ImageRejection> {
        if !self.header_done {
            if self.header.len() + bytes.len() > ImageInspector::MAX_HEADER {
                return Err(ImageRejection::HeaderTooLarge(ImageInspector::MAX_HEADER));
            }
            self.header.extend_from_slice(bytes);
        }
        match self.state {
            State::Soi => {
                if bytes != [0xFF, 0xD8] {
                    return Err(ImageRejection::NotAnImage);
                }
                self.state = State::Prefix;
                Ok(Want::Bytes(1))
            }
            State::Prefix => {
                if bytes[0] != 0xFF {
                    return Err(malformed("bytes between segments"));
                }
                self.state = State::Code;
                Ok(Want::Bytes(1))
            }
            State::Code => match bytes[0] {
                0xFF => Ok(Want::Bytes(1)),
                code => self.on_code(code),
            },
            State::Length(marker) => self.on_length(marker, be16(bytes, 0)),
            State::Payload(0xDA) => self.on_scan(bytes),
            State::Payload(0xDD) => {
                if bytes.len() != 2 {
                    return Err(malformed("restart interval segment of the wrong length"));
                }
                self.state = State::Prefix;
                Ok(Want::Bytes(1))
            }
            State::Payload(marker @ 0xC0..=0xC2) => self.on_frame(marker, bytes),
            State::Payload(_) => self.on_skipped(0),
            State::Entropy { .. } | State::End => unreachable!("streamed states"),
        }
    }

    fn on_skipped(&mut self, _end: u64) -> Result<Want, ImageRejection> {
        self.state = State::Prefix;
        Ok(Want::Bytes(1))
    }

    fn on_stream(&mut self, bytes: &[u8], _start: u64) -> Result<(usize, Want), ImageRejection> {
        let State::Entropy { mut after_ff } = self.state else {
            // After EOI everything is ignored.
            return Ok((bytes.len(), Want::Stream));
        };
        let mut at = 0;
        while at < bytes.len() {
            if !after_ff {
                match memchr::memchr(0xFF, &bytes[at..]) {
                    Some(found) => {
                        at += found + 1;
                        after_ff = true;
                    }
                    None => {
                        at = bytes.len();
                    }
                }
                continue;
            }
            let code = bytes[at];
            at += 1;
            match code {
                // A stuffed data byte, a restart marker: still entropy-coded data.
                0x00 | 0xD0..=0xD7 => after_ff = false,
                // Fill bytes before a marker.
                0xFF => {}
                _ => {
                    let want = self.on_code(code)?;
                    return Ok((at, want));
                }
            }
        }
        self.state = State::Entropy { after_ff };
        Ok((bytes.len(), Want::Stream))
    }
}

/// Reads the header again with the decoder pier thumbnails with (zune-jpeg) and checks
/// it sees the same frame: same size, same component count, same coding. Called with
/// the bytes up to the end of the first scan header.
pub fn agrees_with_decoder(header: &[u8], frame: &JpegFrame) -> Result<(), ImageRejection> {
    use zune_core::options::DecoderOptions;
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX));
    // The same reader type as the thumbnail decode: one copy of the decoder in the binary.
    let far = std::time::Instant::now() + std::time::Duration::from_secs(3600);
    let reader = super::deadline::DeadlineReader::new(header, far);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(reader, options);
    let disagree = |what: &str| {
        ImageRejection::Malformed(format!(
            "the JPEG header is ambiguous: the decoder reads {what} differently"
        ))
    };
    decoder
        .decode_headers()
        .map_err(|e| ImageRejection::Malformed(format!("the JPEG header is invalid: {e}")))?;
    let info = decoder.info().ok_or_else(|| disagree("the frame"))?;
    if (u32::from(info.width), u32::from(info.height))
        != (frame.dimensions.width, frame.dimensions.height)
    {
        return Err(disagree("the dimensions"));
    }
    if usize::from(info.components) != usize::from(frame.components) {
        return Err(disagree("the components"));
    }
    if info.sof.is_progressive() != frame.progressive {
        return Err(disagree("the coding"));
    }
    Ok(())
}
