//! VADER (Hutto & Gilbert, 2014), ported rule for rule from the reference Python package
//! `vaderSentiment` 3.3.2 (MIT; its lexicons are vendored beside this file), including
//! its quirks, so that scores match the reference to the last rounded digit. Where
//! Python's string semantics matter (`str.split`, `str.strip`, `str.isupper`,
//! `string.punctuation`, `round`) they are reproduced exactly; a differential test
//! (`tests/sentiment.rs`) compares thousands of generated texts with the reference.

use std::{borrow::Cow, sync::LazyLock};

use rustc_hash::FxHashMap as HashMap;

use super::{Label, ModelInfo, Scores, SentimentModel};

mod words;

use words::*;

/// The VADER model with its lexicons loaded.
///
/// The tables hash with FxHash, not SipHash: they are fixed at start-up (a client's words
/// are only looked up, never inserted), so flooding resistance buys nothing, and SipHash
/// was a quarter of the instructions of scoring a 20-word text (callgrind).
pub struct Vader {
    lexicon: HashMap<String, f64>,
    emojis: HashMap<char, String>,
    boosters: HashMap<&'static str, f64>,
    /// SPECIAL_CASES as word lists, compared without building strings.
    special_cases: Vec<(Vec<&'static str>, f64)>,
    /// The boosters of more than one word ("kind of"…), the only ones an n-gram can match.
    phrase_boosters: Vec<(Vec<&'static str>, f64)>,
}

impl Default for Vader {
    fn default() -> Self {
        Self::new()
    }
}

impl Vader {
    /// Parses the vendored lexicons (once, at start-up).
    pub fn new() -> Self {
        let mut lexicon = HashMap::with_capacity_and_hasher(7600, Default::default());
        for line in LEXICON.trim_end_matches('\n').split('\n') {
            if line.is_empty() {
                continue;
            }
            let mut fields = py_strip(line).split('\t');
            let (Some(word), Some(measure)) = (fields.next(), fields.next()) else {
                continue;
            };
            if let Ok(measure) = measure.parse::<f64>() {
                lexicon.insert(word.to_owned(), measure);
            }
        }
        let mut emojis = HashMap::with_capacity_and_hasher(1300, Default::default());
        for line in EMOJI_LEXICON.trim_end_matches('\n').split('\n') {
            let mut fields = py_strip(line).split('\t');
            let (Some(emoji), Some(description)) = (fields.next(), fields.next()) else {
                continue;
            };
            // The reference replaces text one character at a time, so only one-character
            // entries can ever match.
            let mut chars = emoji.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                emojis.insert(c, description.to_owned());
            }
        }
        Self {
            lexicon,
            emojis,
            boosters: BOOSTERS.iter().copied().collect(),
            special_cases: SPECIAL_CASES
                .iter()
                .map(|(p, v)| (p.split(' ').collect(), *v))
                .collect(),
            phrase_boosters: BOOSTERS
                .iter()
                .filter(|(p, _)| p.contains(' '))
                .map(|(p, v)| (p.split(' ').collect(), *v))
                .collect(),
        }
    }

    /// `polarity_scores` of the reference: rounded like it (3 digits, compound 4).
    pub fn polarity_scores(&self, text: &str) -> Scores {
        let text = self.replace_emojis(text);
        let text = py_strip(&text);
        let words: Vec<&str> = text
            .split(py_is_space)
            .filter(|w| !w.is_empty())
            .map(strip_punc_if_word)
            .collect();
        let lower: Vec<Cow<str>> = words.iter().map(|w| py_lower(w)).collect();
        let is_cap_diff = allcap_differential(&words);
        let mut sentiments: Vec<f64> = Vec::with_capacity(words.len());
        for (i, word) in lower.iter().enumerate() {
            if self.boosters.contains_key(word.as_ref()) {
                sentiments.push(0.0);
                continue;
            }
            if i + 1 < lower.len() && word == "kind" && lower[i + 1] == "of" {
                sentiments.push(0.0);
                continue;
            }
            sentiments.push(self.sentiment_valence(&words, &lower, is_cap_diff, i));
        }
        but_check(&lower, &mut sentiments);
        score_valence(&sentiments, text)
    }

    fn replace_emojis<'t>(&self, text: &'t str) -> Cow<'t, str> {
        // Every emoji is outside ASCII: most texts need no copy.
        if !text
            .chars()
            .any(|c| !c.is_ascii() && self.emojis.contains_key(&c))
        {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut prev_space = true;
        for c in text.chars() {
            match self.emojis.get(&c) {
                Some(description) => {
                    if !prev_space {
                        out.push(' ');
                    }
                    out.push_str(description);
                    prev_space = false;
                }
                None => {
                    out.push(c);
                    prev_space = c == ' ';
                }
            }
        }
        Cow::Owned(out)
    }

    fn in_lexicon(&self, lower: &str) -> bool {
        self.lexicon.contains_key(lower)
    }

    fn sentiment_valence(
        &self,
        words: &[&str],
        lower: &[Cow<str>],
        is_cap_diff: bool,
        i: usize,
    ) -> f64 {
        let item = words[i];
        let item_lower = lower[i].as_ref();
        let Some(&base) = self.lexicon.get(item_lower) else {
            return 0.0;
        };
        let mut valence = base;
        if item_lower == "no" && i != lower.len() - 1 && self.in_lexicon(&lower[i + 1]) {
            valence = 0.0;
        }
        if (i > 0 && lower[i - 1] == "no")
            || (i > 1 && lower[i - 2] == "no")
            || (i > 2 && lower[i - 3] == "no" && (lower[i - 1] == "or" || lower[i - 1] == "nor"))
        {
            valence = base * N_SCALAR;
        }
        if py_is_upper(item) && is_cap_diff {
            if valence > 0.0 {
                valence += C_INCR;
            } else {
                valence -= C_INCR;
            }
        }
        for start_i in 0..3 {
            if i > start_i && !self.in_lexicon(&lower[i - (start_i + 1)]) {
                let mut s = self.scalar_inc_dec(
                    words[i - (start_i + 1)],
                    &lower[i - (start_i + 1)],
                    valence,
                    is_cap_diff,
                );
                if start_i == 1 && s != 0.0 {
                    s *= 0.95;
                }
                if start_i == 2 && s != 0.0 {
                    s *= 0.9;
                }
                valence += s;
                valence = negation_check(valence, lower, start_i, i);
                if start_i == 2 {
                    valence = self.special_idioms_check(valence, lower, i);
                }
            }
        }
        self.least_check(valence, lower, i)
    }

    fn scalar_inc_dec(&self, word: &str, word_lower: &str, valence: f64, is_cap_diff: bool) -> f64 {
        let Some(&booster) = self.boosters.get(word_lower) else {
            return 0.0;
        };
        let mut scalar = booster;
        if valence < 0.0 {
            scalar *= -1.0;
        }
        if py_is_upper(word) && is_cap_diff {
            if valence > 0.0 {
                scalar += C_INCR;
            } else {
                scalar -= C_INCR;
            }
        }
        scalar
    }

    fn least_check(&self, valence: f64, lower: &[Cow<str>], i: usize) -> f64 {
        if i > 1 && !self.in_lexicon(&lower[i - 1]) && lower[i - 1] == "least" {
            if lower[i - 2] != "at" && lower[i - 2] != "very" {
                return valence * N_SCALAR;
            }
        } else if i > 0 && !self.in_lexicon(&lower[i - 1]) && lower[i - 1] == "least" {
            return valence * N_SCALAR;
        }
        valence
    }

    /// Only called with `i > 2`, as in the reference. Its n-grams are compared as word
    /// lists (words never contain spaces, so this equals the reference's string keys).
    fn special_idioms_check(&self, mut valence: f64, lower: &[Cow<str>], i: usize) -> f64 {
        let special = |words: &[Cow<str>]| lookup(&self.special_cases, words);
        // onezero, twoonezero, twoone, threetwoone, threetwo: the first that matches wins.
        let sequences = [
            &lower[i - 1..=i],
            &lower[i - 2..=i],
            &lower[i - 2..i],
            &lower[i - 3..i],
            &lower[i - 3..i - 1],
        ];
        if let Some(value) = sequences.iter().find_map(|words| special(words)) {
            valence = value;
        }
        if lower.len() - 1 > i
            && let Some(value) = special(&lower[i..=i + 1])
        {
            valence = value;
        }
        if lower.len() - 1 > i + 1
            && let Some(value) = special(&lower[i..=i + 2])
        {
            valence = value;
        }
        // threetwoone, threetwo, twoone against the boosters.
        for words in [&lower[i - 3..i], &lower[i - 3..i - 1], &lower[i - 2..i]] {
            if let Some(booster) = lookup(&self.phrase_boosters, words) {
                valence += booster;
            }
        }
        valence
    }
}

/// The value of the phrase equal to `words`, if any.
fn lookup(phrases: &[(Vec<&'static str>, f64)], words: &[Cow<str>]) -> Option<f64> {
    phrases
        .iter()
        .find(|(phrase, _)| {
            phrase.len() == words.len() && phrase.iter().zip(words).all(|(p, w)| *p == w.as_ref())
        })
        .map(|(_, value)| *value)
}

/// Python's `str.lower()`; borrows when nothing changes (the common case).
fn py_lower(word: &str) -> Cow<'_, str> {
    if word.is_ascii() {
        if word.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(word.to_ascii_lowercase())
        } else {
            Cow::Borrowed(word)
        }
    } else {
        Cow::Owned(word.to_lowercase())
    }
}

/// A set, not a scan of the list: comparing each word with 60 negations was a tenth of a
/// 20-word `/predict` (callgrind).
fn negated(word: &str) -> bool {
    static NEGATIONS: LazyLock<rustc_hash::FxHashSet<&'static str>> =
        LazyLock::new(|| NEGATE.iter().copied().collect());
    NEGATIONS.contains(word) || word.contains("n't")
}

fn negation_check(valence: f64, lower: &[Cow<str>], start_i: usize, i: usize) -> f64 {
    let w = |back: usize| lower[i - back].as_ref();
    match start_i {
        0 if negated(w(1)) => return valence * N_SCALAR,
        1 => {
            if w(2) == "never" && (w(1) == "so" || w(1) == "this") {
                return valence * 1.25;
            } else if w(2) == "without" && w(1) == "doubt" {
                return valence;
            } else if negated(w(2)) {
                return valence * N_SCALAR;
            }
        }
        2 => {
            // Python's precedence: (never and (so or this)) or (so or this one back).
            if (w(3) == "never" && (w(2) == "so" || w(2) == "this"))
                || (w(1) == "so" || w(1) == "this")
            {
                return valence * 1.25;
            } else if w(3) == "without" && (w(2) == "doubt" || w(1) == "doubt") {
                return valence;
            } else if negated(w(3)) {
                return valence * N_SCALAR;
            }
        }
        _ => {}
    }
    valence
}

/// The reference's "but" rule, quirks included: for each position `k` it looks up the
/// *first* entry equal to the current value (`list.index`) and scales that one — which
/// is not always `k`. The reference rescans the list for every word, quadratic in the
/// text's length (380 texts of 10,000 characters took seconds); this keeps, for every
/// value, the positions that currently hold it, so each lookup is a map access and the
/// whole rule O(n log n), with exactly the reference's results.
fn but_check(lower: &[Cow<str>], sentiments: &mut [f64]) {
    let Some(bi) = lower.iter().position(|w| w == "but") else {
        return;
    };
    scale_around_but(sentiments, bi, &mut 0);
}

/// Equal values share a key (`-0.0` is `0.0`, as `==` says; NaN never occurs: every
/// valence is a finite sum of finite lexicon values).
fn value_key(value: f64) -> u64 {
    if value == 0.0 { 0 } else { value.to_bits() }
}

/// Texts of at most this many words take the reference's own loop (a scan for the
/// first equal value, quadratic but without allocation); longer ones the indexed loop.
const SHORT_TEXT_WORDS: usize = 32;

/// The rule's loop, counting its steps in `work` (for the test that it stays linear).
fn scale_around_but(sentiments: &mut [f64], bi: usize, work: &mut usize) {
    if sentiments.len() <= SHORT_TEXT_WORDS {
        for k in 0..sentiments.len() {
            let sentiment = sentiments[k];
            // `==` as Python's `list.index` compares (`-0.0` is `0.0`); `k` itself matches.
            let si = sentiments[..=k]
                .iter()
                .position(|&v| v == sentiment)
                .unwrap_or(k);
            *work += 1;
            if si != bi {
                sentiments[si] = sentiment * if si < bi { 0.5 } else { 1.5 };
            }
        }
        return;
    }
    use std::collections::BTreeSet;
    // Positions already visited, by current value. Position `k` itself holds its
    // original value when its turn comes (only earlier positions change before it),
    // so the first equal entry is the smallest visited position holding that value,
    // or `k` itself.
    let mut holding: HashMap<u64, BTreeSet<usize>> = HashMap::default();
    for k in 0..sentiments.len() {
        let sentiment = sentiments[k];
        let key = value_key(sentiment);
        let si = holding
            .get(&key)
            .and_then(|positions| positions.first().copied())
            .unwrap_or(k);
        *work += 1;
        if si == bi {
            // The reference leaves the "but" position as it is.
            holding.entry(key).or_default().insert(k);
            continue;
        }
        let scaled = sentiment * if si < bi { 0.5 } else { 1.5 };
        if si != k {
            // `si` moves from `sentiment` to `scaled`; `k` joins with its own value.
            if let Some(positions) = holding.get_mut(&key) {
                positions.remove(&si);
            }
            holding.entry(value_key(scaled)).or_default().insert(si);
            holding.entry(key).or_default().insert(k);
        } else {
            holding.entry(value_key(scaled)).or_default().insert(k);
        }
        sentiments[si] = scaled;
    }
}

fn score_valence(sentiments: &[f64], text: &str) -> Scores {
    if sentiments.is_empty() {
        return Scores::from_rounded(0.0, 0.0, 0.0, 0.0);
    }
    let mut sum_s = 0.0;
    for s in sentiments {
        sum_s += s;
    }
    let punct = punctuation_emphasis(text);
    if sum_s > 0.0 {
        sum_s += punct;
    } else if sum_s < 0.0 {
        sum_s -= punct;
    }
    let compound = normalize(sum_s);
    let (mut pos_sum, mut neg_sum, mut neu_count) = (0.0f64, 0.0f64, 0u32);
    for &s in sentiments {
        if s > 0.0 {
            pos_sum += s + 1.0;
        }
        if s < 0.0 {
            neg_sum += s - 1.0;
        }
        if s == 0.0 {
            neu_count += 1;
        }
    }
    if pos_sum > neg_sum.abs() {
        pos_sum += punct;
    } else if pos_sum < neg_sum.abs() {
        neg_sum -= punct;
    }
    let total = pos_sum + neg_sum.abs() + f64::from(neu_count);
    Scores::from_rounded(
        py_round((neg_sum / total).abs(), 3),
        py_round((f64::from(neu_count) / total).abs(), 3),
        py_round((pos_sum / total).abs(), 3),
        py_round(compound, 4),
    )
}

fn punctuation_emphasis(text: &str) -> f64 {
    let ep = text.matches('!').count().min(4) as f64 * 0.292;
    let qm_count = text.matches('?').count();
    let qm = if qm_count > 1 {
        if qm_count <= 3 {
            qm_count as f64 * 0.18
        } else {
            0.96
        }
    } else {
        0.0
    };
    ep + qm
}

fn normalize(score: f64) -> f64 {
    (score / (score * score + 15.0).sqrt()).clamp(-1.0, 1.0)
}

/// Python's `round(x, digits)`: the exact binary value rounded half-to-even, then the
/// double nearest that decimal.
///
/// Fast path: `y = x·10^digits` is within half an ulp of the exact product, so unless `y`
/// lies that close to a tie, `y.round()` is the integer the exact value rounds to, and
/// dividing it by `10^digits` (both exact) gives, correctly rounded, the double nearest
/// to the decimal. Near a tie (and for huge values) the exact path: Rust's fixed-precision
/// formatting rounds the exact binary value half-to-even, as Python does. The fast path
/// is tested against the exact one; formatting was ~8,000 of the ~58,000 instructions
/// of a 20-word `/predict` (callgrind).
fn py_round(x: f64, digits: usize) -> f64 {
    const SCALES: [f64; 5] = [1.0, 10.0, 100.0, 1_000.0, 10_000.0];
    if let Some(&scale) = SCALES.get(digits) {
        let y = x * scale;
        if y.abs() < 1e15 {
            let distance_to_tie = ((y - y.trunc()).abs() - 0.5).abs();
            if distance_to_tie > y.abs() * f64::EPSILON + f64::MIN_POSITIVE {
                return y.round() / scale;
            }
        }
    }
    py_round_exact(x, digits)
}

/// [`py_round`] by formatting: exact for every value, and slow.
fn py_round_exact(x: f64, digits: usize) -> f64 {
    format!("{x:.digits$}").parse().unwrap_or(x)
}

/// Python's `str.isspace` for one character (Unicode White_Space plus U+001C..U+001F).
fn py_is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` with no arguments.
fn py_strip(s: &str) -> &str {
    s.trim_matches(py_is_space)
}

/// `string.punctuation`.
fn is_ascii_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// The reference's `_strip_punc_if_word`: strip ASCII punctuation at both ends unless
/// that leaves two characters or fewer (then it was likely an emoticon such as `:)`).
fn strip_punc_if_word(token: &str) -> &str {
    let stripped = token.trim_matches(is_ascii_punctuation);
    if stripped.chars().count() <= 2 {
        token
    } else {
        stripped
    }
}

/// Python's `str.isupper`: every cased character upper case, and at least one.
fn py_is_upper(word: &str) -> bool {
    let mut cased = false;
    for c in word.chars() {
        if c.is_lowercase() || is_titlecase(c) {
            return false;
        }
        if c.is_uppercase() {
            cased = true;
        }
    }
    cased
}

/// Unicode general category Lt (titlecase letters); Python counts them as not upper.
fn is_titlecase(c: char) -> bool {
    matches!(c,
        '\u{01C5}' | '\u{01C8}' | '\u{01CB}' | '\u{01F2}'
        | '\u{1F88}'..='\u{1F8F}' | '\u{1F98}'..='\u{1F9F}' | '\u{1FA8}'..='\u{1FAF}'
        | '\u{1FBC}' | '\u{1FCC}' | '\u{1FFC}')
}

fn allcap_differential(words: &[&str]) -> bool {
    let allcap = words.iter().filter(|w| py_is_upper(w)).count();
    let differential = words.len() - allcap;
    0 < differential && differential < words.len()
}

impl SentimentModel for Vader {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            name: "vader",
            version: "vaderSentiment 3.3.2 lexicon",
            lexicon_size: self.lexicon.len(),
            emoji_lexicon_size: self.emojis.len(),
            positive_threshold: Label::POSITIVE_AT,
            negative_threshold: Label::NEGATIVE_AT,
        }
    }

    fn score(&self, text: &str) -> Scores {
        self.polarity_scores(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference package's own demo sentences and their published scores.
    #[test]
    fn reproduces_the_reference_demo() {
        let vader = Vader::new();
        for (text, neg, neu, pos, compound) in [
            (
                "VADER is smart, handsome, and funny.",
                0.0,
                0.254,
                0.746,
                0.8316,
            ),
            (
                "VADER is VERY SMART, handsome, and FUNNY!!!",
                0.0,
                0.233,
                0.767,
                0.9342,
            ),
            (
                "VADER is not smart, handsome, nor funny.",
                0.646,
                0.354,
                0.0,
                -0.7424,
            ),
            (
                "At least it isn't a horrible book.",
                0.0,
                0.678,
                0.322,
                0.431,
            ),
            (
                "The plot was good, but the characters are uncompelling and the dialog is not great.",
                0.327,
                0.579,
                0.094,
                -0.7042,
            ),
            (
                "Today only kinda sux! But I'll get by, lol",
                0.127,
                0.556,
                0.317,
                0.5249,
            ),
            ("Make sure you :) or :D today!", 0.0, 0.294, 0.706, 0.8633),
            ("Not bad at all", 0.0, 0.513, 0.487, 0.431),
            ("", 0.0, 0.0, 0.0, 0.0),
        ] {
            let s = vader.polarity_scores(text);
            assert_eq!(
                (s.neg, s.neu, s.pos, s.compound),
                (neg, neu, pos, compound),
                "{text}"
            );
        }
    }

    #[test]
    fn python_string_semantics() {
        assert!(py_is_upper("GOOD!"));
        assert!(!py_is_upper("Good"));
        assert!(!py_is_upper(":)"));
        assert!(!py_is_upper("ǅX"));
        assert_eq!(strip_punc_if_word("good!!"), "good");
        assert_eq!(strip_punc_if_word(":)"), ":)");
        assert_eq!(strip_punc_if_word("'ok'"), "'ok'");
        assert_eq!(py_strip("\u{1f} a \u{3000}"), "a");
        assert_eq!(py_round(0.125, 2), 0.12);
        assert_eq!(py_round(0.375, 2), 0.38);
    }

    #[test]
    fn the_fast_rounding_path_agrees_with_the_exact_one() {
        // Random values across VADER's range, and values within a few ulps of every tie
        // of 4 and 3 digits in [-1, 1] (where the fast path must step aside).
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut values = Vec::new();
        for _ in 0..200_000 {
            values.push((next() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0);
        }
        for k in -20_000..20_000 {
            let tie = (f64::from(k) + 0.5) / 10_000.0;
            let mut below = tie;
            let mut above = tie;
            values.push(tie);
            for _ in 0..4 {
                below = below.next_down();
                above = above.next_up();
                values.extend([below, above]);
            }
        }
        values.extend([0.0, -0.0, 1e-300, -1e-300, 1.0, -1.0, 1e20, f64::MAX]);
        for x in values {
            for digits in [3, 4] {
                let (fast, exact) = (py_round(x, digits), py_round_exact(x, digits));
                assert!(
                    fast.to_bits() == exact.to_bits(),
                    "round({x:e}, {digits}): fast {fast:e}, exact {exact:e}"
                );
            }
        }
    }

    /// The reference's rule as written (`list.index` per word), to compare against.
    fn but_rule_as_the_reference_writes_it(sentiments: &mut [f64], bi: usize) {
        for k in 0..sentiments.len() {
            let sentiment = sentiments[k];
            let si = sentiments.iter().position(|s| *s == sentiment).unwrap_or(k);
            if si < bi {
                sentiments[si] = sentiment * 0.5;
            } else if si > bi {
                sentiments[si] = sentiment * 1.5;
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn the_but_rule_equals_the_reference_loop(
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(0.0f64),
                    proptest::strategy::Just(-0.0f64),
                    proptest::strategy::Just(1.5f64),
                    proptest::strategy::Just(0.75f64),
                    proptest::strategy::Just(2.25f64),
                    proptest::strategy::Just(-1.9f64),
                    -4.0f64..4.0,
                ],
                0..100,
            ),
            but in 0usize..100,
        ) {
            let bi = but.min(values.len().saturating_sub(1));
            let mut expected = values.clone();
            but_rule_as_the_reference_writes_it(&mut expected, bi);
            let mut found = values.clone();
            scale_around_but(&mut found, bi, &mut 0);
            proptest::prop_assert_eq!(
                found.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn the_but_rule_does_one_step_per_word() {
        // The report's text: 3332 emoticons of one valence, then "but".
        for words in [1_000usize, 10_000, 100_000] {
            let mut sentiments = vec![1.5f64; words];
            let mut work = 0;
            scale_around_but(&mut sentiments, words - 1, &mut work);
            assert_eq!(work, words, "one lookup per word");
        }
        let model = Vader::new();
        let text = format!("{}but", ":) ".repeat(3332));
        let scores = model.polarity_scores(&text);
        assert!(scores.compound > 0.99);
    }
}
