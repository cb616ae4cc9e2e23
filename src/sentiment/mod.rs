//! Sentiment models behind one small interface, so routes never name a model.

pub mod vader;

use serde::Serialize;
use utoipa::ToSchema;

/// What a model says about one text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Scores {
    /// `positive` if compound ≥ 0.05, `negative` if ≤ −0.05, else `neutral`.
    pub label: Label,
    /// Normalised sum of valences, −1..=1 (4 decimals).
    pub compound: f64,
    /// Share of positive valence (3 decimals).
    pub pos: f64,
    /// Share of neutral words (3 decimals).
    pub neu: f64,
    /// Share of negative valence (3 decimals).
    pub neg: f64,
}

impl Scores {
    /// Scores from already-rounded proportions and compound; the label follows SPEC.
    pub fn from_rounded(neg: f64, neu: f64, pos: f64, compound: f64) -> Self {
        Self {
            label: Label::of(compound),
            compound,
            pos,
            neu,
            neg,
        }
    }
}

/// The sentiment class of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Positive,
    Neutral,
    Negative,
}

impl Label {
    /// Compound at or above which a text is positive.
    pub const POSITIVE_AT: f64 = 0.05;
    /// Compound at or below which a text is negative.
    pub const NEGATIVE_AT: f64 = -0.05;

    /// Classifies a compound score by SPEC's thresholds.
    pub fn of(compound: f64) -> Self {
        if compound >= Self::POSITIVE_AT {
            Self::Positive
        } else if compound <= Self::NEGATIVE_AT {
            Self::Negative
        } else {
            Self::Neutral
        }
    }

    /// The label as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Positive => "positive",
            Self::Neutral => "neutral",
            Self::Negative => "negative",
        }
    }
}

/// What `/model/info` shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelInfo {
    /// Model name.
    pub name: &'static str,
    /// Which lexicon (and so which reference scores) the model reproduces.
    pub version: &'static str,
    /// Entries in the word lexicon.
    pub lexicon_size: usize,
    /// Emoji the model translates to words.
    pub emoji_lexicon_size: usize,
    /// Compound at or above which the label is `positive`.
    pub positive_threshold: f64,
    /// Compound at or below which the label is `negative`.
    pub negative_threshold: f64,
}

/// A sentiment model: loaded once, shared by every request, scoring without I/O.
pub trait SentimentModel: Send + Sync {
    /// Name, version and thresholds.
    fn info(&self) -> ModelInfo;
    /// Scores one text.
    fn score(&self, text: &str) -> Scores;
}
