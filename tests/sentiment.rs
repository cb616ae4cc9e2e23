//! Differential test: pier's VADER against the reference Python package on thousands of
//! generated texts (lexicon words, boosters, negations, "but", caps, `!`/`?` runs,
//! emoticons and emoji, idioms, glued punctuation, long texts, unicode, empty and
//! whitespace-only text, and words repeated hundreds of times around one "but"). Scores
//! must be equal to the reference's, not within a tolerance. The generator is seeded, so a failure reproduces.

use std::{path::PathBuf, process::Command};

use pier::sentiment::{Label, vader::Vader};
use serde_json::Value;

const SEED: &str = "20261122";
const COUNT: usize = 6000;

/// The Python that has `vaderSentiment` 3.3.2: `PIER_TEST_PYTHON`, or the venv that
/// `scripts/test.sh` creates.
fn reference_python() -> PathBuf {
    std::env::var_os("PIER_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python")
        })
}

#[test]
fn vader_matches_the_reference_package_on_generated_texts() {
    let python = reference_python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sentiment/reference.py");
    let output = Command::new(&python)
        .args([
            script.as_os_str(),
            SEED.as_ref(),
            COUNT.to_string().as_ref(),
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the reference Python {} ({e}); run scripts/test.sh, which installs \
                 vaderSentiment==3.3.2 into target/test-venv, or set PIER_TEST_PYTHON",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "the reference script failed (is vaderSentiment==3.3.2 installed for {}? scripts/test.sh installs it):\n{}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let vader = Vader::new();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for line in String::from_utf8(output.stdout)
        .expect("UTF-8 JSON lines")
        .lines()
    {
        let case: Value = serde_json::from_str(line).expect("one JSON object per line");
        let text = case["text"].as_str().expect("text");
        let ours = vader.polarity_scores(text);
        let differs = [
            ("neg", ours.neg),
            ("neu", ours.neu),
            ("pos", ours.pos),
            ("compound", ours.compound),
        ]
        .iter()
        // Both round the same way (3 digits, compound 4): the numbers must be equal, not
        // merely close.
        .any(|(field, value)| case[*field].as_f64().expect("a score") != *value);
        if differs || ours.label != Label::of(case["compound"].as_f64().unwrap()) {
            mismatches.push(format!(
                "{text:?}\n  reference {case}\n  pier      {ours:?}"
            ));
        }
        checked += 1;
    }
    assert_eq!(checked, COUNT, "the reference produced every case");
    assert!(
        mismatches.is_empty(),
        "{} of {checked} texts differ from the reference; the first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
