//! The sizes pier makes of an image, named by their long side.

use std::fmt;

/// One rung of the size ladder: a variant's longest side in pixels. The ladder is
/// fixed, so each variant is made once and kept, and no request can ask for unbounded
/// resizing; a variant is never larger than its original (a smaller original is
/// re-encoded at its own size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VariantSize(u32);

impl VariantSize {
    /// Every size, smallest first.
    pub const LADDER: [u32; 4] = [256, 512, 1024, 2048];

    /// The thumbnail: the smallest rung, and the default of `/image/{id}/thumbnail`.
    pub const THUMBNAIL: Self = Self(256);

    /// A size from a request; the reason (for a 422) when it is not on the ladder.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.parse::<u32>()
            .ok()
            .filter(|size| Self::LADDER.contains(size))
            .map(Self)
            .ok_or_else(|| {
                format!(
                    "must be one of {}",
                    Self::LADDER.map(|s| s.to_string()).join(", ")
                )
            })
    }

    /// Every rung, smallest first.
    pub fn ladder() -> impl Iterator<Item = Self> {
        Self::LADDER.into_iter().map(Self)
    }

    /// The longest side, in pixels.
    pub fn long_side(self) -> u32 {
        self.0
    }
}

impl fmt::Display for VariantSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_ladder_parses() {
        for size in VariantSize::LADDER {
            assert_eq!(
                VariantSize::parse(&size.to_string()).unwrap().long_side(),
                size
            );
        }
        for bad in [
            "",
            "0",
            "255",
            "257",
            "4096",
            "-256",
            "256.0",
            " 256",
            "99999999999",
        ] {
            assert!(VariantSize::parse(bad).is_err(), "{bad}");
        }
    }
}
