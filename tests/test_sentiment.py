"""signals/sentiment/: calm, upset or rude, in et, ru and en."""
from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest

from signals.sentiment import detector as detector_module
from signals.sentiment import fitting
from signals.sentiment.cues import Lexicon, normalised_words
from signals.sentiment.detector import Sentiment, SentimentDetector, sentiment_detector, use_sentiment_detector
from signals.sentiment.fitting import DEV_FILE, LABELS, LEXICON_FILE, TRAIN_FILES, load_examples
from supportbot.eval.data import SENTIMENT_TEST as TEST_SPLIT
from supportbot.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


@pytest.fixture(scope="module")
def detector() -> SentimentDetector:
    return sentiment_detector()


# ---------------------------------------------------------------- clear cases, per language

ROUTINE_COMPLAINTS = {
    "en": "my internet is not working, what should I check?",
    "ru": "у меня не работает интернет, что проверить?",
    "et": "mu internet ei tööta, mida kontrollida?",
}
INSULTS = {
    "en": "you useless idiots, fix my internet",
    "ru": "вы тупые идиоты, почините интернет",
    "et": "te olete lollid idioodid, parandage internet ära",
}
THIRD_DAY = {
    "en": "third day without internet!!!",
    "ru": "третий день без интернета!!!",
    "et": "kolmas päev ilma internetita!!!",
}
SAME_COMPLAINT_AGAIN = {
    "en": ("still not working", ["the internet is down", "I restarted the router, it still doesn't work"]),
    "ru": ("все равно не работает", ["интернет не работает", "перезагрузил роутер, все равно не работает"]),
    "et": ("ikka ei tööta", ["internet ei tööta", "taaskäivitasin ruuteri, ikka ei tööta"]),
}


@pytest.mark.parametrize("language", ["et", "ru", "en"])
def test_routine_complaint_is_calm(detector, language):
    assert detector.assess(ROUTINE_COMPLAINTS[language], language).label == "calm"


@pytest.mark.parametrize("language", ["et", "ru", "en"])
def test_insult_is_rude(detector, language):
    result = detector.assess(INSULTS[language], language)
    assert result.label == "rude"
    assert "insult_lexicon" in result.signals


@pytest.mark.parametrize("language", ["et", "ru", "en"])
def test_third_day_without_internet_is_upset(detector, language):
    result = detector.assess(THIRD_DAY[language], language)
    assert result.label == "upset"
    assert {"waiting_days", "exclamations"} <= set(result.signals)


@pytest.mark.parametrize("language", ["et", "ru", "en"])
def test_the_same_complaint_a_third_time_is_upset(detector, language):
    text, earlier = SAME_COMPLAINT_AGAIN[language]
    with_context = detector.assess(text, language, earlier)
    alone = detector.assess(text, language)
    assert with_context.label == "upset"
    assert "repeated_complaint" in with_context.signals
    assert with_context.upset > alone.upset


@pytest.mark.parametrize(
    "text, language",
    [("f*ck this router", "en"), ("sh1t service", "en"), ("бл@ть, опять тв не работает", "ru"),
     ("blyat opyat internet ne rabotaet", "ru"), ("mine p*rse oma lingiga", "et"), ("F U C K", "en")],
)
def test_disguised_profanity_is_rude(detector, text, language):
    result = detector.assess(text, language)
    assert result.label == "rude"
    assert "profanity_lexicon" in result.signals


def test_sentiment_fields(detector):
    result = detector.assess("WHY IS MY INTERNET DOWN AGAIN!!!", "en")
    assert isinstance(result, Sentiment)
    assert result.label in LABELS
    assert 0.0 <= result.upset <= 1.0 and 0.0 <= result.rude <= 1.0
    assert isinstance(result.signals, tuple) and all(isinstance(s, str) for s in result.signals)
    assert {"caps", "exclamations", "again"} <= set(result.signals)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.label = "calm"


def test_empty_message_is_calm(detector):
    assert detector.assess("   ", "et") == Sentiment("calm", 0.0, 0.0, ())


def test_the_process_wide_detector_is_built_once():
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(sentiment_detector())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(d) for d in seen}) == 1 and seen[0] is sentiment_detector()


def test_an_installed_detector_is_the_process_wide_one(detector):
    installed = SentimentDetector(encoder=detector.encoder, model=detector.model)
    previous = sentiment_detector()
    use_sentiment_detector(installed)
    try:
        assert sentiment_detector() is installed
    finally:
        use_sentiment_detector(previous)
    assert sentiment_detector() is previous


def test_the_defaults_are_the_folders_the_settings_default_to():
    defaults = Settings()
    assert (fitting.DEFAULT_MODEL_DIR, fitting.ROUTINE_KNOWLEDGE_DIR) == (defaults.model_dir, defaults.knowledge_dir)


def test_assess_loads_nothing_after_warm_up(detector, monkeypatch):
    """Its speed is measured by `supportbot eval profile`; here: no model or lexicon is loaded or fitted again."""
    detector.assess("warm up", "en")
    monkeypatch.setattr(detector_module, "load_or_fit", lambda *args, **kwargs: pytest.fail("the model was loaded again"))
    monkeypatch.setattr(Lexicon, "load", classmethod(lambda cls, *args: pytest.fail("the lexicon was loaded again")))
    for number in range(5):
        found = detector.assess(f"my internet has been down for {number} days!!!", "en", ["internet down", "still down"])
        assert found.label in ("calm", "upset", "rude")


# ---------------------------------------------------------------- words and lexicon


@pytest.mark.parametrize(
    "text, words",
    [("F U C K this", ["fuck", "this"]), ("sh1t!!!", ["shit"]), ("a$$hole", ["asshole"]),
     ("бл@ть", ["бл*ть"]), ("xуй", ["хуй"]), ("*really* slow", ["really", "slow"]), ("бот-дебил", ["бот", "дебил"])],
)
def test_normalised_words(text, words):
    assert normalised_words(text) == words


def test_lexicon_does_not_fire_on_ordinary_words():
    lexicon = Lexicon.load(LEXICON_FILE)
    for text in ("situatsioon on keeruline", "hello, class assistant here", "MIKS TELEKAS JÄLLE EI TÖÖTA",
                 "интернет тупит вечером", "I need help with my account"):
        hits = lexicon.word_hits(normalised_words(text))
        assert not (hits["insult"] or hits["profanity"]), text


# ---------------------------------------------------------------- the cache


def _write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_model_is_cached_and_refitted_when_the_data_changes(tmp_path, monkeypatch):
    rows = [
        {"text": t, "language": "en", "label": label, "kind": kind}
        for label, kind, texts in [
            ("calm", "routine", ["my wifi is slow", "how do I pay my bill", "router light is red", "tv has no signal"]),
            ("upset", "upset", ["third day without internet!!!", "I'm fed up, still broken", "WHY AGAIN",
                                "waiting a week for a technician"]),
            ("rude", "rude", ["you idiots", "fuck this bot", "stupid company", "shut up, moron"]),
        ]
        for t in texts
    ]
    train, dev = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    _write_jsonl(train, rows)
    _write_jsonl(dev, rows[::2])
    fits = []
    real_fit = fitting.fit_model
    monkeypatch.setattr(fitting, "fit_model", lambda *a, **k: fits.append(1) or real_fit(*a, **k))

    def build() -> SentimentDetector:
        return SentimentDetector(model_dir=tmp_path / "models", train_files=[train], dev_file=dev)

    first = build()
    assert len(fits) == 1
    cached = list((tmp_path / "models").glob("sentiment-*.joblib"))
    assert len(cached) == 1
    assert build().assess("you idiots").label == first.assess("you idiots").label
    assert len(fits) == 1, "an unchanged data set must be read from the cache"

    _write_jsonl(train, rows + [{"text": "you absolute clowns", "language": "en", "label": "rude", "kind": "rude"}])
    build()
    assert len(fits) == 2, "changed data must be refitted"
    assert len(list((tmp_path / "models").glob("sentiment-*.joblib"))) == 2


def test_a_damaged_cache_file_is_refitted(tmp_path):
    rows = [{"text": t, "language": "en", "label": label} for label, t in
            [("calm", "hi"), ("calm", "my bill"), ("upset", "AGAIN!!!"), ("upset", "fed up"), ("rude", "idiot"),
             ("rude", "moron")]]
    train = tmp_path / "train.jsonl"
    _write_jsonl(train, rows)
    SentimentDetector(model_dir=tmp_path, train_files=[train], dev_file=None)
    (cached,) = tmp_path.glob("sentiment-*.joblib")
    cached.write_bytes(b"not a model")
    assert SentimentDetector(model_dir=tmp_path, train_files=[train], dev_file=None).assess("idiot").label in LABELS


# ---------------------------------------------------------------- the targets, on the held-out test split


def test_targets_on_the_project_test_split(detector):
    examples = load_examples(TEST_SPLIT)
    results = detector.assess_many([e.text for e in examples], [e.earlier for e in examples])
    pairs = list(zip(examples, results))

    def share(selected, hit):
        chosen = [r for e, r in pairs if selected(e)]
        return sum(hit(r) for r in chosen) / len(chosen)

    rude_recall = share(lambda e: e.label == "rude", lambda r: r.label == "rude")
    upset_recall = share(lambda e: e.label == "upset", lambda r: r.label == "upset")
    routine_flagged = share(lambda e: e.kind == "routine", lambda r: r.label != "calm")
    assert rude_recall >= 0.95, rude_recall
    assert upset_recall >= 0.85, upset_recall
    assert routine_flagged <= 0.05, routine_flagged


def test_the_test_split_is_not_in_the_training_data():
    test = {(e.text.lower(), e.earlier) for e in load_examples(TEST_SPLIT)}
    seen = {(e.text.lower(), e.earlier) for path in (*TRAIN_FILES, DEV_FILE) for e in load_examples(path)}
    assert not test & seen


# ---------------------------------------------------------------- public sets


@pytest.mark.benchmark_data
def test_public_sets_load_and_score(detector):
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not there")
    from supportbot.eval.sentiment import flag_scores, public_test_sets

    sets = {s.name: s for s in public_test_sets(SHARED)}
    assert {"CEDR", "RuParaDetox", "TweetEval offensive", "Estonian valence", "GoEmotions"} <= set(sets)
    detox = sets["RuParaDetox"]
    sample = detox.texts[:60]
    scores = flag_scores(detox.positives[:60], [s.label for s in detector.assess_many(sample)])
    assert scores["n"] == 60 and 0 <= scores["precision"] <= 1
    assert scores["recall"] > 0.5, "obvious Russian toxicity should mostly be flagged"
