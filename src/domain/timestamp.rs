//! RFC 3339 timestamps as the API writes them: UTC, microseconds, `Z`
//! (`2026-11-22T01:02:03.456789Z`). Written into a stack buffer: a page of 50 items has
//! 100 of them, and the general-purpose formatter allocated a string for each.

use serde::Serializer;
use time::OffsetDateTime;

/// Formats `at` (converted to UTC) as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format(at: OffsetDateTime) -> ([u8; 27], usize) {
    let at = at.to_offset(time::UtcOffset::UTC);
    let mut out = [0u8; 27];
    let mut put = |position: usize, value: u32, digits: usize| {
        let mut value = value;
        for i in (0..digits).rev() {
            out[position + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, at.year().clamp(0, 9999) as u32, 4);
    put(5, u32::from(u8::from(at.month())), 2);
    put(8, u32::from(at.day()), 2);
    put(11, u32::from(at.hour()), 2);
    put(14, u32::from(at.minute()), 2);
    put(17, u32::from(at.second()), 2);
    put(20, at.microsecond(), 6);
    for (position, byte) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        out[position] = byte;
    }
    (out, 27)
}

/// `serialize_with` helper for timestamp fields.
pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    let (bytes, len) = format(*at);
    // Only ASCII digits and separators were written.
    serializer.serialize_str(std::str::from_utf8(&bytes[..len]).map_err(serde::ser::Error::custom)?)
}

#[cfg(test)]
mod tests {
    use time::format_description::well_known::Rfc3339;

    use super::*;

    #[test]
    fn matches_the_general_formatter_and_parses_back() {
        for nanos in [
            0i128,
            1_700_000_000_123_456_000,
            1_764_000_000_000_001_000,
            253_402_300_799_999_999_000,
        ] {
            let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            let (bytes, len) = format(at);
            let text = std::str::from_utf8(&bytes[..len]).unwrap();
            let parsed = OffsetDateTime::parse(text, &Rfc3339).unwrap();
            assert_eq!(parsed.unix_timestamp_nanos() / 1000, nanos / 1000, "{text}");
            assert!(text.ends_with('Z') && text.len() == 27, "{text}");
        }
        let offset = OffsetDateTime::from_unix_timestamp(0)
            .unwrap()
            .to_offset(time::macros::offset!(+2));
        assert_eq!(&format(offset).0[..], b"1970-01-01T00:00:00.000000Z");
    }
}
