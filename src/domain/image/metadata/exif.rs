//! The one block the filters edit: an EXIF directory (TIFF structure), read with
//! `kamadak-exif` and written again with only the fields the policy keeps. Everything
//! else — GPS, the Exif sub-directory (serial numbers, maker notes, dates, camera
//! settings), the embedded thumbnail — is simply not written.

use std::io::Cursor;

use exif::{Field, In, Tag};

use super::{MetadataPolicy, Orientation};

/// What became of one EXIF directory.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Rewritten {
    /// The orientation it holds, if a valid one.
    pub orientation: Option<Orientation>,
    /// The directory to store; `None` when nothing of it is kept (or it cannot be read,
    /// so nothing of it can be vouched for).
    pub tiff: Option<Vec<u8>>,
}

/// Reads `tiff` and writes back what `policy` keeps of it.
pub(super) fn rewrite(tiff: &[u8], policy: MetadataPolicy) -> Rewritten {
    let Ok(exif) = exif::Reader::new().read_raw(tiff.to_vec()) else {
        return Rewritten {
            orientation: None,
            tiff: (policy == MetadataPolicy::Keep).then(|| tiff.to_vec()),
        };
    };
    let orientation_field = exif
        .get_field(Tag::Orientation, In::PRIMARY)
        .filter(|field| {
            field
                .value
                .get_uint(0)
                .and_then(Orientation::from_exif)
                .is_some()
        });
    let orientation = orientation_field
        .and_then(|field| field.value.get_uint(0))
        .and_then(Orientation::from_exif);
    if policy == MetadataPolicy::Keep {
        return Rewritten {
            orientation,
            tiff: Some(tiff.to_vec()),
        };
    }
    let credits = [Tag::Copyright, Tag::Artist]
        .into_iter()
        .filter(|_| policy.keeps(super::Block::Credit))
        .filter_map(|tag| exif.get_field(tag, In::PRIMARY));
    let kept: Vec<&Field> = orientation_field.into_iter().chain(credits).collect();
    if kept.is_empty() {
        return Rewritten {
            orientation,
            tiff: None,
        };
    }
    let mut writer = exif::experimental::Writer::new();
    for field in &kept {
        writer.push_field(field);
    }
    let mut written = Cursor::new(Vec::new());
    let tiff = writer
        .write(&mut written, exif.little_endian())
        .ok()
        .map(|()| written.into_inner());
    Rewritten { orientation, tiff }
}

/// A valid EXIF directory with no fields (an IFD of zero entries), little-endian: what a
/// WebP EXIF chunk holds when nothing of it is kept, since the chunk keeps its length.
pub(super) const EMPTY_TIFF: [u8; 14] = [
    b'I', b'I', 42, 0, 8, 0, 0, 0, // header, first IFD at 8
    0, 0, // no entries
    0, 0, 0, 0, // no next IFD
];
