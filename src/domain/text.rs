//! Text that cannot lie about itself. Names and descriptions are shown to other people,
//! so characters that change how text *looks* without being seen are not allowed in
//! them: bidirectional overrides and isolates (`a\u{202E}gnp.exe.png` displays its
//! tail right to left, as a PNG name that is an `.exe`), zero-width and other invisible
//! format characters, line and paragraph separators, and tag characters (which can
//! smuggle a hidden ASCII message).
//!
//! The rule, one table for every field:
//! - **refused or removed**: general categories Cc (controls), Cf (format) and Zl/Zp
//!   (line and paragraph separators) — [`is_invisible`];
//! - **except** the zero-width joiner and non-joiner (U+200D, U+200C), which emoji
//!   sequences and Persian and Indic scripts need: they are kept inside text but do
//!   not count as visible, and are trimmed at the ends like whitespace.
//!
//! Item names and descriptions refuse such characters (a 422 naming the code point, so
//! a form can say what is wrong); file names, which a client rarely chooses on purpose,
//! have them removed. Either way, a name with nothing visible left is a 422.

/// U+200C ZERO WIDTH NON-JOINER.
pub const ZWNJ: char = '\u{200C}';
/// U+200D ZERO WIDTH JOINER.
pub const ZWJ: char = '\u{200D}';

/// The invisible characters: Cc, Cf, Zl and Zp of Unicode 16 (the joiners are Cf and
/// listed here; callers keep them where the rule allows). Ranges, inclusive.
const INVISIBLE: &[(char, char)] = &[
    ('\u{0000}', '\u{001F}'),
    ('\u{007F}', '\u{009F}'),
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{2028}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a control, format or separator character (joiners included).
pub fn is_invisible(c: char) -> bool {
    INVISIBLE
        .binary_search_by(|&(low, high)| {
            if high < c {
                std::cmp::Ordering::Less
            } else if low > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether `c` is one of the two joiners the rule keeps inside text.
pub fn is_joiner(c: char) -> bool {
    c == ZWJ || c == ZWNJ
}

/// Characters a name may start or end with: not whitespace, not invisible.
pub fn is_visible(c: char) -> bool {
    !c.is_whitespace() && !is_invisible(c)
}

/// `text` without whitespace and joiners at either end.
pub fn trim(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || is_joiner(c))
}

/// The first character the rule refuses in a single-line text (everything invisible
/// but the joiners), for the 422's message.
pub fn first_refused(text: &str) -> Option<char> {
    text.chars().find(|&c| is_invisible(c) && !is_joiner(c))
}

/// The first character the rule refuses in a multi-line text: as [`first_refused`],
/// but line feeds, carriage returns and tabs are text.
pub fn first_refused_multiline(text: &str) -> Option<char> {
    text.chars()
        .find(|&c| is_invisible(c) && !is_joiner(c) && !matches!(c, '\n' | '\r' | '\t'))
}

/// `text` with every refused character removed (joiners kept), trimmed.
pub fn strip_invisible(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|&c| !is_invisible(c) || is_joiner(c))
        .collect();
    trim(&kept).to_owned()
}

/// How a refused character is named in a message: `U+202E`.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// The JSON Schema pattern of a name that is 1..=`max` characters after trimming, as
/// [`crate::domain::ItemName::parse`] accepts: whitespace and joiners at the ends, then
/// a visible character, then up to `max - 2` characters that are not refused, then a
/// visible one. Written from the same table, so the document and the server agree on
/// every string (a unit test checks every code point).
pub fn name_pattern(max: usize) -> String {
    let mut refused = String::new();
    let mut visible_excluded = String::new();
    for &(low, high) in INVISIBLE {
        let range = class_range(low, high);
        visible_excluded.push_str(&range);
        // Joiners are allowed inside: split the range around them.
        if low <= ZWNJ && ZWJ <= high {
            if low < ZWNJ {
                refused.push_str(&class_range(low, prev(ZWNJ)));
            }
            if ZWJ < high {
                refused.push_str(&class_range(next(ZWJ), high));
            }
        } else {
            refused.push_str(&range);
        }
    }
    let whitespace = r"\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
    let edge = format!(r"[{whitespace}\u200C\u200D]*");
    let visible = format!("[^{whitespace}{visible_excluded}]");
    let inner = format!("[^{refused}]");
    format!(
        "^{edge}{visible}(?:{inner}{{0,{}}}{visible})?{edge}$",
        max.saturating_sub(2)
    )
}

/// The pattern of a multi-line text: anything but refused characters (line feeds,
/// carriage returns and tabs allowed).
pub fn multiline_pattern() -> String {
    let mut refused = String::new();
    for &(low, high) in INVISIBLE {
        for (a, b) in split_out(low, high, &['\t', '\n', '\r', ZWNJ, ZWJ]) {
            refused.push_str(&class_range(a, b));
        }
    }
    format!("^[^{refused}]*$")
}

/// `low..=high` without the characters of `holes`, as ranges.
fn split_out(low: char, high: char, holes: &[char]) -> Vec<(char, char)> {
    let mut out = Vec::new();
    let mut start = Some(low);
    let mut c = low;
    loop {
        if holes.contains(&c) {
            if let Some(s) = start.take()
                && s < c
            {
                out.push((s, prev(c)));
            }
        } else if start.is_none() {
            start = Some(c);
        }
        if c == high {
            break;
        }
        c = next(c);
    }
    if let Some(s) = start {
        out.push((s, high));
    }
    out
}

fn prev(c: char) -> char {
    char::from_u32(u32::from(c) - 1).expect("no surrogates near the table's ranges")
}

fn next(c: char) -> char {
    char::from_u32(u32::from(c) + 1).expect("no surrogates near the table's ranges")
}

/// One range of a character class. BMP characters as `\uXXXX` escapes; characters
/// beyond it as themselves, which JSON Schema regexes (ECMA-262 with `u`) and
/// Python's `re` both read as one code point (`\u{…}` and `\U…` they do not share).
fn class_range(low: char, high: char) -> String {
    let one = |c: char| {
        if u32::from(c) <= 0xFFFF {
            format!("\\u{:04X}", u32::from(c))
        } else {
            c.to_string()
        }
    };
    if low == high {
        one(low)
    } else {
        format!("{}-{}", one(low), one(high))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_disjoint() {
        for pair in INVISIBLE.windows(2) {
            assert!(pair[0].1 < pair[1].0, "{pair:?}");
        }
        for &(low, high) in INVISIBLE {
            assert!(low <= high);
        }
    }

    #[test]
    fn the_tricks_of_the_report_are_invisible() {
        for c in [
            '\u{202E}',
            '\u{202D}',
            '\u{2066}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{2028}',
            '\u{2029}',
            '\u{200B}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
            '\u{0000}',
            '\u{0085}',
        ] {
            assert!(is_invisible(c), "{}", code_point(c));
        }
        for c in ['a', 'é', ' ', '\u{3000}', '😀', '\u{FE0F}', 'ا'] {
            assert!(!is_invisible(c), "{}", code_point(c));
        }
        assert_eq!(first_refused("a\u{202E}gnp.exe.png"), Some('\u{202E}'));
        assert_eq!(first_refused("👩\u{200D}💻 laptop"), None);
        assert_eq!(
            strip_invisible("a\u{202E}gnp.exe.png\u{2028}"),
            "agnp.exe.png"
        );
        assert_eq!(
            strip_invisible("\u{200D} 👩\u{200D}💻 \u{200C}"),
            "👩\u{200D}💻"
        );
        assert_eq!(strip_invisible("\u{200B}"), "");
        assert_eq!(first_refused_multiline("line\r\nbreak\tand tab"), None);
        assert_eq!(first_refused_multiline("a\u{2029}b"), Some('\u{2029}'));
    }

    #[test]
    fn split_out_leaves_the_holes() {
        assert_eq!(
            split_out('\u{0000}', '\u{001F}', &['\t', '\n', '\r']),
            vec![
                ('\u{0000}', '\u{0008}'),
                ('\u{000B}', '\u{000C}'),
                ('\u{000E}', '\u{001F}')
            ]
        );
        assert_eq!(
            split_out('\u{200B}', '\u{200F}', &[ZWNJ, ZWJ]),
            vec![('\u{200B}', '\u{200B}'), ('\u{200E}', '\u{200F}')]
        );
    }
}
