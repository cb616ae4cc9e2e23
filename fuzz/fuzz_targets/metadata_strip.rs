//! The metadata stripper on arbitrary bytes, fed in arbitrary chunks, under every policy.
//!
//! Properties: no panic; the output does not depend on how the stream was chunked;
//! stripping twice is stripping once; what the inspector accepts after stripping is the
//! kind the input was sniffed as; and an input the inspector accepts is still accepted
//! once stripped, at the same size and kind, and is never one the stripper could not
//! frame (the filters frame the bytes as the strict walkers do, so stripping never turns
//! a good upload into a refused one).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pier::domain::{
    ImageInspector, ImageKind,
    image::{ImageRejection, InspectedImage, MetadataPolicy, MetadataStripper, metadata::Output},
};

const POLICIES: [MetadataPolicy; 3] = [
    MetadataPolicy::StripPrivate,
    MetadataPolicy::StripAll,
    MetadataPolicy::Keep,
];

fuzz_target!(|data: &[u8]| {
    let Some((&split, file)) = data.split_first() else {
        return;
    };
    let policy = POLICIES[usize::from(split >> 6) % 3];
    let (whole, failed) = strip(file, policy, file.len().max(1));
    let chunked = strip(file, policy, usize::from(split % 64) + 1);
    assert_eq!(
        (&whole, failed),
        (&chunked.0, chunked.1),
        "the output depends on the chunking"
    );
    assert_eq!(
        strip(&whole, policy, whole.len().max(1)).0,
        whole,
        "not idempotent"
    );
    let after = inspect(&whole);
    if after.is_ok() {
        assert_eq!(ImageKind::sniff(&whole), ImageKind::sniff(file));
    }
    if let Ok(before) = inspect(file) {
        assert!(
            !failed,
            "accepted by the inspector, not framed by the stripper"
        );
        let after = after.unwrap_or_else(|e| panic!("accepted, then refused once stripped: {e}"));
        assert_eq!(after.kind, before.kind);
        assert_eq!(after.dimensions, before.dimensions);
    }
});

/// The kept bytes, and whether the stripper could not frame the input.
fn strip(file: &[u8], policy: MetadataPolicy, chunk: usize) -> (Vec<u8>, bool) {
    let mut stripper = MetadataStripper::new(policy);
    let mut out = Output::default();
    let mut kept = Vec::new();
    for piece in file.chunks(chunk) {
        stripper.feed(Bytes::copy_from_slice(piece), &mut out);
        kept.extend(out.take().concat());
    }
    stripper.finish(&mut out);
    kept.extend(out.take().concat());
    (kept, stripper.failure().is_some())
}

fn inspect(file: &[u8]) -> Result<InspectedImage, ImageRejection> {
    let mut inspector = ImageInspector::new(1 << 24, 256 << 20);
    inspector.feed(file)?;
    inspector.finish()
}
