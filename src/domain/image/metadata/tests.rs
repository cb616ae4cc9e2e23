use proptest::prelude::*;

use super::*;
use crate::{
    domain::image::{ImageInspector, ImageRejection, InspectedImage},
    test_support::{Format, camera_exif, encode, phone_jpeg},
};

const POLICIES: [MetadataPolicy; 3] = [
    MetadataPolicy::StripPrivate,
    MetadataPolicy::StripAll,
    MetadataPolicy::Keep,
];

fn strip_chunked(bytes: &[u8], policy: MetadataPolicy, chunk: usize) -> (Vec<u8>, Orientation) {
    strip_checked(bytes, policy, chunk).0
}

/// The kept bytes and orientation, and whether the stripper could not frame the input.
fn strip_checked(
    bytes: &[u8],
    policy: MetadataPolicy,
    chunk: usize,
) -> ((Vec<u8>, Orientation), bool) {
    let mut stripper = MetadataStripper::new(policy);
    let mut out = Output::default();
    let mut kept = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        stripper.feed(Bytes::copy_from_slice(piece), &mut out);
        kept.extend(out.take().concat());
    }
    stripper.finish(&mut out);
    kept.extend(out.take().concat());
    ((kept, stripper.orientation()), stripper.failure().is_some())
}

fn inspect(bytes: &[u8]) -> Result<InspectedImage, ImageRejection> {
    let mut inspector = ImageInspector::new(50_000_000, 256 << 20);
    inspector.feed(bytes)?;
    inspector.finish()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn pixels(bytes: &[u8]) -> Vec<u8> {
    image::load_from_memory(bytes)
        .expect("decodable")
        .to_rgba8()
        .into_raw()
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// A PNG with EXIF, text (a comment, a copyright, XMP), a time stamp and an unknown
/// chunk between its header and its data.
fn phone_png(orientation: u16) -> Vec<u8> {
    let plain = encode(Format::Png, 24, 16);
    let mut out = plain[..33].to_vec();
    png_chunk(&mut out, b"eXIf", &camera_exif(orientation));
    png_chunk(&mut out, b"tEXt", b"Comment\0PRIVATE-COMMENT");
    png_chunk(&mut out, b"tEXt", b"Copyright\0(c) Ada Photographer");
    png_chunk(
        &mut out,
        b"iTXt",
        b"XML:com.adobe.xmp\0\0\0\0\0<gps>PRIVATE-XMP</gps>",
    );
    png_chunk(&mut out, b"tIME", &[7, 234, 12, 4, 10, 0, 0]);
    png_chunk(&mut out, b"prVt", b"PRIVATE-UNKNOWN");
    out.extend_from_slice(&plain[33..]);
    out
}

fn riff_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(kind);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

/// An extended WebP: VP8X, the image, EXIF, XMP and an unknown chunk.
fn phone_webp(orientation: u16) -> Vec<u8> {
    let (width, height) = (24u32, 16u32);
    let simple = encode(Format::Webp, width, height);
    let mut vp8x = vec![0x08 | 0x04, 0, 0, 0];
    vp8x.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    riff_chunk(&mut body, b"VP8X", &vp8x);
    body.extend_from_slice(&simple[12..]);
    riff_chunk(&mut body, b"EXIF", &camera_exif(orientation));
    riff_chunk(&mut body, b"XMP ", b"<x:xmpmeta>PRIVATE-XMP</x:xmpmeta>");
    riff_chunk(&mut body, b"prVt", b"PRIVATE-UNKNOWN");
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// A GIF with a comment and an XMP application extension before its trailer.
fn phone_gif() -> Vec<u8> {
    let plain = encode(Format::Gif, 24, 16);
    let mut out = plain[..plain.len() - 1].to_vec();
    out.extend_from_slice(&[0x21, 0xFE, 15]);
    out.extend_from_slice(b"PRIVATE-COMMENT");
    out.push(0);
    out.extend_from_slice(&[0x21, 0xFF, 11]);
    out.extend_from_slice(b"XMP DataXMP");
    out.push(11);
    out.extend_from_slice(b"PRIVATE-XMP");
    out.push(0);
    out.push(0x3B);
    out
}

fn samples() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("jpeg", phone_jpeg(24, 16, 6)),
        ("png", phone_png(8)),
        ("webp", phone_webp(3)),
        ("gif", phone_gif()),
    ]
}

#[test]
fn the_default_policy_removes_what_is_private_and_keeps_credits_orientation_and_colour() {
    for (name, input) in samples() {
        inspect(&input).unwrap_or_else(|e| panic!("{name}: the sample is invalid: {e}"));
        assert!(
            contains(&input, b"PRIVATE"),
            "{name}: the sample has private data"
        );
        let (kept, _) = strip(&input, MetadataPolicy::StripPrivate);
        assert!(!contains(&kept, b"PRIVATE"), "{name}: private data left");
        assert!(!contains(&kept, b"PhoneCo"), "{name}: the camera make left");
        inspect(&kept).unwrap_or_else(|e| panic!("{name}: the stripped file is refused: {e}"));
        assert_eq!(pixels(&kept), pixels(&input), "{name}: pixels changed");
        if name != "gif" {
            assert!(contains(&kept, b"Ada Photographer"), "{name}: credit lost");
        }
    }
    let (kept, _) = strip(&phone_jpeg(24, 16, 6), MetadataPolicy::StripPrivate);
    assert!(
        contains(&kept, b"FAKE-ICC-PROFILE"),
        "the colour profile is kept"
    );
}

#[test]
fn exif_keeps_only_orientation_and_credits() {
    let (kept, orientation) = strip(&phone_jpeg(24, 16, 6), MetadataPolicy::StripPrivate);
    assert_eq!(orientation, Orientation::from_exif(6).unwrap());
    let exif = ::exif::Reader::new()
        .read_from_container(&mut std::io::Cursor::new(&kept))
        .expect("the EXIF is still readable");
    let mut tags: Vec<String> = exif.fields().map(|f| f.tag.to_string()).collect();
    tags.sort();
    assert_eq!(tags, ["Artist", "Copyright", "Orientation"]);
    let (kept, _) = strip(&phone_jpeg(24, 16, 6), MetadataPolicy::StripAll);
    let exif = ::exif::Reader::new()
        .read_from_container(&mut std::io::Cursor::new(&kept))
        .unwrap();
    let tags: Vec<String> = exif.fields().map(|f| f.tag.to_string()).collect();
    assert_eq!(tags, ["Orientation"]);
}

#[test]
fn strip_all_keeps_only_what_displays() {
    for (name, input) in samples() {
        let (kept, _) = strip(&input, MetadataPolicy::StripAll);
        assert!(!contains(&kept, b"PRIVATE"), "{name}");
        assert!(!contains(&kept, b"Ada Photographer"), "{name}");
        inspect(&kept).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let (kept, _) = strip(&phone_jpeg(24, 16, 6), MetadataPolicy::StripAll);
    assert!(contains(&kept, b"FAKE-ICC-PROFILE"));
}

#[test]
fn keep_stores_the_bytes_as_uploaded_and_still_reads_the_orientation() {
    for (name, input) in samples() {
        let (kept, _) = strip(&input, MetadataPolicy::Keep);
        assert_eq!(kept, input, "{name}");
    }
    assert_eq!(
        strip(&phone_jpeg(8, 8, 5), MetadataPolicy::Keep)
            .1
            .exif_value(),
        5
    );
    assert_eq!(strip(&phone_png(7), MetadataPolicy::Keep).1.exif_value(), 7);
    assert_eq!(
        strip(&phone_webp(2), MetadataPolicy::Keep).1.exif_value(),
        2
    );
}

#[test]
fn every_orientation_is_read() {
    for value in 1..=8u16 {
        for input in [phone_jpeg(8, 8, value), phone_png(value), phone_webp(value)] {
            let (_, orientation) = strip(&input, MetadataPolicy::StripPrivate);
            assert_eq!(u16::from(orientation.exif_value()), value);
        }
    }
    let plain = encode(Format::Jpeg, 8, 8);
    assert_eq!(
        strip(&plain, MetadataPolicy::StripPrivate).1,
        Orientation::UPRIGHT
    );
}

#[test]
fn webp_keeps_its_length_and_clears_the_xmp_flag() {
    let input = phone_webp(6);
    let (kept, orientation) = strip(&input, MetadataPolicy::StripPrivate);
    assert_eq!(kept.len(), input.len());
    assert_eq!(orientation.exif_value(), 6);
    assert_eq!(kept[20] & 0x04, 0, "XMP flag cleared");
    assert_eq!(kept[20] & 0x08, 0x08, "EXIF flag kept: the chunk is");
    assert!(contains(&kept, b"JUNK"));
}

#[test]
fn plain_files_pass_unchanged() {
    for format in [Format::Png, Format::Jpeg, Format::Gif, Format::Webp] {
        let input = encode(format, 33, 17);
        for policy in POLICIES {
            assert_eq!(strip(&input, policy).0, input, "{format:?} {policy:?}");
        }
    }
    let text = b"hello, this is text pretending to be a png".to_vec();
    assert_eq!(strip(&text, MetadataPolicy::StripPrivate).0, text);
    assert_eq!(
        strip(b"\xFF\xD8", MetadataPolicy::StripPrivate).0,
        b"\xFF\xD8"
    );
}

#[test]
fn the_output_does_not_depend_on_the_chunking() {
    for (name, input) in samples() {
        for policy in POLICIES {
            let whole = strip(&input, policy);
            for chunk in [1, 2, 3, 7, 64, 1000] {
                assert_eq!(
                    strip_chunked(&input, policy, chunk),
                    whole,
                    "{name} {policy:?} {chunk}"
                );
            }
        }
    }
}

#[test]
fn jpeg_entropy_data_with_markers_split_across_chunks_is_kept_exactly() {
    // Progressive, restart markers, FF00 stuffing: split at every offset.
    let mut encoder_out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut encoder_out, 90);
    encoder.set_progressive(true);
    encoder.set_restart_interval(2);
    let pixels: Vec<u8> = (0..40 * 24 * 3).map(|i| (i * 37 % 251) as u8).collect();
    encoder
        .encode(&pixels, 40, 24, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    for chunk in 1..=5 {
        assert_eq!(
            strip_chunked(&encoder_out, MetadataPolicy::StripAll, chunk).0,
            encoder_out
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_input_never_panics_strips_idempotently_and_chunk_independently(
        sample in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        chunk in 1usize..300,
        policy in 0usize..3,
    ) {
        let (_, mut input) = samples().swap_remove(sample);
        for (at, byte) in edits {
            let at = at.index(input.len());
            input[at] = byte;
        }
        input.truncate(cut.index(input.len() + 1));
        let policy = POLICIES[policy];
        let once = strip(&input, policy);
        prop_assert_eq!(&strip_chunked(&input, policy, chunk), &once);
        prop_assert_eq!(strip(&once.0, policy).0, once.0.clone());
        let after = inspect(&once.0);
        if after.is_ok() {
            // What is stored is an image of the same kind.
            prop_assert_eq!(ImageKind::sniff(&once.0), ImageKind::sniff(&input));
        }
        if let Ok(before) = inspect(&input) {
            // Stripping never turns an accepted upload into a refused one.
            prop_assert!(!strip_checked(&input, policy, chunk).1, "not framed");
            let after = after.expect("accepted, then refused once stripped");
            prop_assert_eq!((after.kind, after.dimensions), (before.kind, before.dimensions));
        }
    }
}

/// The fuzz target's properties on one of its inputs (first byte: policy and chunk size).
fn fuzz_properties(data: &[u8]) {
    let (&split, file) = data.split_first().unwrap();
    let policy = POLICIES[usize::from(split >> 6) % 3];
    let (whole, _) = strip(file, policy);
    let (chunked, _) = strip_chunked(file, policy, usize::from(split % 64) + 1);
    assert_eq!(whole, chunked, "the output depends on the chunking");
    assert_eq!(strip(&whole, policy).0, whole, "not idempotent");
    let after = inspect(&whole);
    if after.is_ok() {
        assert_eq!(ImageKind::sniff(&whole), ImageKind::sniff(file));
    }
    if let Ok(before) = inspect(file) {
        assert!(
            !strip_checked(file, policy, 1).1,
            "accepted, yet not framed"
        );
        let after = after.unwrap_or_else(|e| panic!("accepted, then refused once stripped: {e}"));
        assert_eq!(
            (after.kind, after.dimensions),
            (before.kind, before.dimensions)
        );
    }
}

#[test]
fn fuzz_findings_stay_fixed() {
    // An unframeable JPEG whose output was not a fixpoint while unframeable bytes were
    // passed through.
    fuzz_properties(include_bytes!("regressions/jpeg-fill-before-app0.bin"));
}
