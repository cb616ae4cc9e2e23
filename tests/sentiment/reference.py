"""Differential-test oracle for pier's VADER port.

Generates COUNT varied texts, deterministically from SEED, and prints one JSON line per
text with the reference package's (vaderSentiment 3.3.2) polarity_scores. Run by
tests/sentiment.rs with the Python of the test venv:

    python tests/sentiment/reference.py SEED COUNT
"""

import json
import random
import sys

from vaderSentiment import vaderSentiment as vs

analyzer = vs.SentimentIntensityAnalyzer()
rng = random.Random(int(sys.argv[1]))
count = int(sys.argv[2])

lexicon = sorted(analyzer.lexicon)
words = [w for w in lexicon if w.isalpha()]
emoticons = [w for w in lexicon if not any(c.isalnum() for c in w)]
emojis = sorted(k for k in analyzer.emojis if len(k) == 1)
multi_emojis = sorted(k for k in analyzer.emojis if len(k) > 1)
boosters = sorted(vs.BOOSTER_DICT)
negations = sorted(vs.NEGATE) + ["no", "not", "isn't", "wasn't", "don't", "never", "n't"]
idioms = sorted(vs.SPECIAL_CASES) + sorted(vs.SENTIMENT_LADEN_IDIOMS) + [
    "never so", "never this", "without doubt", "without a doubt", "at least", "very least", "least",
    "kind of", "sort of", "just enough", "no or", "no nor", "no way", "yeah right"]
filler = ["the", "a", "movie", "book", "was", "is", "it", "I", "you", "and", "or", "nor", "so", "this", "at",
          "very", "of", "kind", "to", "for", "but", "BUT", "But", "least", "no", "No", "NO", "never", "without",
          "doubt", "really", "food", "service", "day", "today", "we", "they", "had", "been"]
unicode_words = ["café", "naïve", "Ὀδυσσεύς", "ΟΔΟΣ", "ΣΟΦΙΑ", "Москва", "ХОРОШО", "日本語", "ǅemal", "İstanbul",
                 "straße", "ÆON", "ﬁne", "good\u00a0day", "bad\u3000time", "ok\u2028fine"]
spaces = [" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\x1c", " \n "]
punct_runs = ["!", "!!", "!!!", "!!!!", "!!!!!!", "?", "??", "???", "????", "?!", "!?!", "...", ",", ";", ":",
              "(", ")", "'", '"', "-", "*", "#", "@"]


def shape(word):
    roll = rng.random()
    if roll < 0.15:
        return word.upper()
    if roll < 0.25:
        return word.capitalize()
    return word


def glue(word):
    roll = rng.random()
    if roll < 0.12:
        return word + rng.choice(punct_runs)
    if roll < 0.18:
        return rng.choice(punct_runs) + word
    if roll < 0.22:
        return rng.choice(punct_runs) + word + rng.choice(punct_runs)
    return word


def token():
    roll = rng.random()
    if roll < 0.30:
        return glue(shape(rng.choice(words)))
    if roll < 0.45:
        return glue(shape(rng.choice(filler)))
    if roll < 0.55:
        return shape(rng.choice(boosters))
    if roll < 0.65:
        return shape(rng.choice(negations))
    if roll < 0.72:
        return rng.choice(idioms)
    if roll < 0.78:
        return rng.choice(emoticons)
    if roll < 0.84:
        return rng.choice(emojis) * rng.choice([1, 1, 2])
    if roll < 0.86:
        return rng.choice(multi_emojis)
    if roll < 0.90:
        return rng.choice(unicode_words)
    if roll < 0.95:
        return rng.choice(punct_runs)
    # An emoji glued to a word, on either side.
    return rng.choice([rng.choice(words) + rng.choice(emojis), rng.choice(emojis) + rng.choice(words)])


def repeated_with_but():
    """A few sentiment words repeated many times around one "but": equal valences
    everywhere, which is where the reference's "but" rule (list.index of the first equal
    value) differs most from a per-position rule."""
    pool = [rng.choice(words + emoticons) for _ in range(rng.randint(1, 3))]
    count = rng.randint(5, 300)
    parts = [rng.choice(pool) for _ in range(count)]
    parts.insert(rng.randint(0, count), rng.choice(["but", "BUT", "But"]))
    return " ".join(parts)


def text():
    roll = rng.random()
    if roll < 0.05:
        return repeated_with_but()
    roll = rng.random()
    if roll < 0.01:
        return ""
    if roll < 0.02:
        return "".join(rng.choice(spaces) for _ in range(rng.randint(1, 5)))
    if roll < 0.06:
        length = rng.randint(150, 400)  # long texts
    elif roll < 0.20:
        length = rng.randint(1, 3)
    else:
        length = rng.randint(3, 25)
    parts = []
    for _ in range(length):
        parts.append(token())
        parts.append(rng.choice(spaces) if rng.random() < 0.3 else " ")
    body = "".join(parts)
    if rng.random() < 0.3:
        body += rng.choice(punct_runs) * rng.randint(1, 3)
    if rng.random() < 0.1:
        body = body.upper()
    return body


for _ in range(count):
    t = text()
    scores = analyzer.polarity_scores(t)
    print(json.dumps({"text": t, **scores}, ensure_ascii=True))
