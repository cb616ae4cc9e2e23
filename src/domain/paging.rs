//! Page sizes for keyset-paged lists.

use crate::domain::refusal::Refusal;

/// A page size in 1..=1000; 50 when the client does not ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u16);

impl PageLimit {
    /// Largest page a client may ask for: bounds the work and the response size.
    pub const MAX: u16 = 1000;
    /// Page size when `limit` is absent.
    pub const DEFAULT: u16 = 50;

    /// Parses the `limit` query parameter.
    pub fn parse(raw: Option<&str>) -> Result<Self, Refusal> {
        let Some(raw) = raw else {
            return Ok(Self(Self::DEFAULT));
        };
        match raw.parse::<u16>() {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(Refusal::field(
                "limit",
                format!("must be a whole number from 1 to {}", Self::MAX),
            )),
        }
    }

    /// The limit as a count.
    pub fn get(self) -> u16 {
        self.0
    }

    /// How many rows to fetch: one more than the page, to learn whether another follows.
    pub fn fetch(self) -> u16 {
        self.0 + 1
    }

    /// Cuts rows fetched with [`PageLimit::fetch`] to the page and returns the cursor of
    /// the next page (the last row's key), or `None` on the last page.
    pub fn cut<T, K>(self, rows: &mut Vec<T>, key: impl Fn(&T) -> K) -> Option<K> {
        if rows.len() <= usize::from(self.0) {
            return None;
        }
        rows.truncate(usize::from(self.0));
        rows.last().map(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_reports_a_next_page_only_when_there_is_one() {
        let limit = PageLimit::parse(Some("3")).unwrap();
        assert_eq!(limit.fetch(), 4);
        let mut full = vec![1, 2, 3, 4];
        assert_eq!(limit.cut(&mut full, |n| *n), Some(3));
        assert_eq!(full, [1, 2, 3]);
        let mut last = vec![1, 2, 3];
        assert_eq!(limit.cut(&mut last, |n| *n), None);
        assert_eq!(last, [1, 2, 3]);
    }

    #[test]
    fn limits() {
        assert_eq!(PageLimit::parse(None).unwrap().get(), 50);
        assert_eq!(PageLimit::parse(Some("1")).unwrap().get(), 1);
        assert_eq!(PageLimit::parse(Some("1000")).unwrap().get(), 1000);
        for bad in ["0", "1001", "-1", "abc", "", "1.5", "99999999999"] {
            assert!(PageLimit::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
