//! The sentiment scorer on arbitrary text (lossily decoded, as the JSON layer would only
//! ever hand it valid UTF-8).
//!
//! Properties: no panic; every score is finite; `compound` lies in [-1, 1]; the
//! proportions lie in [0, 1] and sum to 1 (or are all 0 for text without words); the
//! label agrees with `compound`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use pier::sentiment::{Label, SentimentModel, vader::Vader};

static MODEL: LazyLock<Vader> = LazyLock::new(Vader::new);

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let scores = MODEL.score(&text);
    for value in [scores.compound, scores.pos, scores.neu, scores.neg] {
        assert!(value.is_finite(), "{scores:?}");
    }
    assert!((-1.0..=1.0).contains(&scores.compound), "{scores:?}");
    for share in [scores.pos, scores.neu, scores.neg] {
        assert!((0.0..=1.0).contains(&share), "{scores:?}");
    }
    let sum = scores.pos + scores.neu + scores.neg;
    assert!(
        sum == 0.0 || (sum - 1.0).abs() <= 0.002,
        "shares sum to {sum}: {scores:?}"
    );
    assert_eq!(scores.label, Label::of(scores.compound));
});
