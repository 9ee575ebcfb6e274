"""Language patterns: intent, sentiment and language read from a person's words.

Pure computation, in memory: every function here takes a text and returns labels, and
keeps nothing (no store, no log line, no cache of the text). It imports nothing of
Tactful's other rooms, so every layer may call it.

- `features.py`: the words and character n-grams of a text, TF-IDF weighted, exactly as
  scikit-learn's `TfidfVectorizer` computes them (without scikit-learn).
- `intent_model.py`: the intent model (logistic regression over those features), read
  from the weights `make model` writes to `data/intent_model.json`.
- `sentiment.py`: VADER's lexicon and rules: negative, neutral or positive, with a score.
- `identify.py`: which language a text is written in (character n-gram profiles).
- `labels.py`: the one call a caller needs, `derive_labels(text)`.
- `intent_eval.py`: accuracy on the held-out messages (`python -m
  tactful.language.intent_eval --text`).
- `errors.py`: `LanguageError`, the root of what it raises (its data files unreadable).
"""
