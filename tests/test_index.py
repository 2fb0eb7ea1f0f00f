"""Building, reusing, validating and reloading the vector index."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from knowledge.encoders import load_encoder
from knowledge.index import IndexMismatch, index_rows, load_index
from knowledge.indexing import build_index
from knowledge.loader import load_knowledge
from knowledge.live import LiveRetriever
from supportbot import cli

REFUND_EN = "You can ask for a refund within 14 days in the self-service portal."
REFUND_ET = "Raha tagasi saab küsida 14 päeva jooksul iseteeninduses."


class RecordingEncoder:
    """The real encoder, remembering which texts it was asked to embed."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.queries = []
        self.passages = []

    def encode_queries(self, texts):
        self.queries.extend(texts)
        return self.inner.encode_queries(texts)

    def encode_passages(self, texts):
        self.passages.extend(texts)
        return self.inner.encode_passages(texts)


@pytest.fixture(scope="module")
def encoder():
    return load_encoder()


@pytest.fixture(scope="module")
def pristine(small_kb_dir, tmp_path_factory, encoder):
    """The small knowledge base and its index, built once per module (embedding takes a few seconds)."""
    root = tmp_path_factory.mktemp("pristine")
    shutil.copytree(small_kb_dir, root / "kb")
    report = build_index(load_knowledge(root / "kb"), encoder, root / "index")
    return root / "kb", root / "index", report


@pytest.fixture
def kb_copy(pristine, tmp_path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(pristine[0], target)
    return target


@pytest.fixture
def built(pristine, kb_copy, tmp_path):
    """A private copy of the small knowledge base and of its freshly built index."""
    index_dir = tmp_path / "index"
    shutil.copytree(pristine[1], index_dir)
    return load_knowledge(kb_copy), index_dir, pristine[2]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_build_writes_manifest_vectors_rows(pristine, encoder):
    kb_dir, index_dir, report = pristine
    kb = load_knowledge(kb_dir)
    for name in ("manifest.json", "vectors.faiss", "rows.jsonl", "models.joblib"):
        assert (index_dir / name).is_file(), name
    rows = index_rows(kb)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["encoder"] == encoder.name
    assert manifest["dim"] == encoder.dim
    assert manifest["entry_count"] == 5
    assert manifest["row_count"] == len(rows) == 46  # 20 questions, 13 answers, 13 answer sentences
    assert manifest["entry_hashes"] == {e.id: e.content_hash() for e in kb.entries}
    assert manifest["knowledge_dir"] == str(kb.directory)
    with open(index_dir / "rows.jsonl", encoding="utf-8") as lines:
        assert sum(1 for _ in lines) == len(rows)
    assert (report.entries, report.rows, report.embedded, report.reused) == (5, 46, 46, 0)
    assert report.changed_entries == sorted(kb.ids()) and report.removed_entries == []
    # no staging or retired directories are left beside the index
    assert sorted(p.name for p in index_dir.parent.iterdir() if p.name.startswith(".")) == []


def test_load_index_round_trip(built, encoder):
    kb, index_dir, _ = built
    index = load_index(index_dir, kb=kb, encoder_name=encoder.name)
    assert index.vectors.ntotal == 46 and index.vectors.d == encoder.dim
    assert [(r.entry_id, r.kind, r.language, r.text) for r in index.rows] == [
        (r.entry_id, r.kind, r.language, r.text) for r in index_rows(kb)
    ]
    norms = np.linalg.norm(index.row_vectors(), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)
    assert index.classifier is not None and sorted(index.classifier_labels) == sorted(kb.ids())


def test_rebuild_without_changes_embeds_nothing(built, encoder):
    kb, index_dir, _ = built
    recorder = RecordingEncoder(encoder)
    report = build_index(kb, recorder, index_dir)
    assert (report.embedded, report.reused) == (0, 46)
    assert report.changed_entries == [] and report.removed_entries == []
    assert recorder.queries == [] and recorder.passages == []


def test_rebuild_after_one_answer_changes_reembeds_only_that_text(built, kb_copy, encoder):
    kb, index_dir, _ = built
    before = load_index(index_dir)
    old_vectors = {(r.entry_id, r.kind, r.language, r.text): v for r, v in zip(before.rows, before.row_vectors())}

    new_answer = "Refunds can be requested within 30 days in the self-service portal."
    edit(kb_copy / "billing.yml", REFUND_EN, new_answer)
    changed_kb = load_knowledge(kb_copy)
    recorder = RecordingEncoder(encoder)
    report = build_index(changed_kb, recorder, index_dir)

    assert report.embedded == 2  # the answer, and its one sentence
    assert report.reused == 44
    assert report.changed_entries == ["refund-policy"]
    assert recorder.passages == [new_answer]
    assert recorder.queries == [new_answer]

    after = load_index(index_dir, kb=changed_kb, encoder_name=encoder.name)
    for row, vector in zip(after.rows, after.row_vectors()):
        key = (row.entry_id, row.kind, row.language, row.text)
        if row.text == new_answer:
            assert key not in old_vectors
            encode = encoder.encode_passages if row.kind == "answer" else encoder.encode_queries
            assert np.allclose(vector, encode([new_answer])[0], atol=1e-5)
        else:
            assert np.array_equal(vector, old_vectors[key]), key


def test_rebuild_counts_every_changed_text_of_the_entry(built, kb_copy, encoder):
    kb, index_dir, _ = built
    edit(kb_copy / "billing.yml", REFUND_EN, "Refunds within 30 days, in the portal.")
    edit(kb_copy / "billing.yml", REFUND_ET, "Raha tagasi 30 päeva jooksul iseteeninduses.")
    edit(kb_copy / "billing.yml", '"Can I get my money back?"', '"Can I have my money back, please?"')
    recorder = RecordingEncoder(encoder)
    report = build_index(load_knowledge(kb_copy), recorder, index_dir)
    assert report.embedded == 5
    assert report.reused == 41
    assert report.changed_entries == ["refund-policy"]
    new_answers = ["Refunds within 30 days, in the portal.", "Raha tagasi 30 päeva jooksul iseteeninduses."]
    assert sorted(recorder.passages) == sorted(new_answers)
    assert sorted(recorder.queries) == sorted(["Can I have my money back, please?"] + new_answers)


def test_rebuild_reports_removed_entries(built, kb_copy, encoder):
    kb, index_dir, _ = built
    (kb_copy / "internet.yml").unlink()
    report = build_index(load_knowledge(kb_copy), RecordingEncoder(encoder), index_dir)
    assert report.removed_entries == ["internet-outage", "wifi-password"]
    assert report.embedded == 0
    assert report.entries == 3


def test_load_index_rejects_another_encoder(built):
    _, index_dir, _ = built
    with pytest.raises(IndexMismatch, match="encoder"):
        load_index(index_dir, encoder_name="sentence-transformers:something-else")


def test_load_index_rejects_changed_knowledge(built, kb_copy, encoder):
    kb, index_dir, _ = built
    load_index(index_dir, kb=kb, encoder_name=encoder.name)  # the unchanged knowledge fits
    edit(kb_copy / "internet.yml", "for 30 seconds", "for 60 seconds")
    with pytest.raises(IndexMismatch, match="knowledge changed"):
        load_index(index_dir, kb=load_knowledge(kb_copy), encoder_name=encoder.name)
    # without the knowledge to compare with, the index itself is still consistent
    assert load_index(index_dir).manifest.row_count == 46


def test_load_index_rejects_tampered_row_count(built):
    _, index_dir, _ = built
    manifest_path = index_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["row_count"] += 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatch, match="manifest says 47"):
        load_index(index_dir)


def test_load_index_rejects_tampered_entry_count(built):
    _, index_dir, _ = built
    manifest_path = index_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["entry_count"] = 4
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatch):
        load_index(index_dir)


def test_load_index_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_index(tmp_path / "none")


def test_rebuild_over_a_corrupt_manifest(built, encoder):
    kb, index_dir, _ = built
    (index_dir / "manifest.json").write_text('{"encoder": ')
    report = build_index(kb, encoder, index_dir)
    assert report.embedded == 46
    assert load_index(index_dir, kb=kb).manifest.row_count == 46


# --- the CLI leaves the index alone when the knowledge is broken ----------------------------------


def test_cli_index_with_broken_knowledge_keeps_the_index(built, kb_copy, tmp_path, monkeypatch, capsys):
    kb, index_dir, _ = built
    monkeypatch.setenv("INDEX_DIR", str(index_dir))
    manifest_path = index_dir / "manifest.json"
    manifest_before = manifest_path.read_bytes()
    stat_before = manifest_path.stat()
    vectors_before = (index_dir / "vectors.faiss").read_bytes()

    broken = tmp_path / "broken"
    shutil.copytree(kb_copy, broken)
    edit(broken / "internet.yml", "      et: Taaskäivitage", "      fi: Taaskäivitage")
    broken_file = (broken / "internet.yml").resolve()

    code = cli.main(["index", "--knowledge", str(broken)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{broken_file}:11:" in err
    assert "unknown language code 'fi'" in err
    assert str(index_dir) in err
    assert manifest_path.read_bytes() == manifest_before
    assert manifest_path.stat().st_mtime_ns == stat_before.st_mtime_ns
    assert (index_dir / "vectors.faiss").read_bytes() == vectors_before
    assert load_index(index_dir, kb=kb).manifest.entry_count == 5


def test_cli_index_with_valid_knowledge_rebuilds(built, kb_copy, monkeypatch, capsys):
    _, index_dir, _ = built
    monkeypatch.setenv("INDEX_DIR", str(index_dir))
    edit(kb_copy / "billing.yml", REFUND_EN, "Refunds within 30 days.")
    assert cli.main(["index", "--knowledge", str(kb_copy)]) == 0
    out = capsys.readouterr().out
    assert "indexed 5 entries (46 texts)" in out
    assert "2 texts embedded, 44 reused" in out
    load_index(index_dir, kb=load_knowledge(kb_copy))


# --- LiveRetriever follows reindexing, and survives broken knowledge ----------------------------


def test_live_retriever_keeps_old_index_on_broken_knowledge_then_follows_rebuild(kb_copy, tmp_path, encoder):
    index_dir = tmp_path / "live-index"
    live = LiveRetriever(knowledge_dir=kb_copy, index_dir=index_dir)
    first = live.get()  # builds the missing index
    assert (index_dir / "manifest.json").is_file()
    assert live.get() is first  # unchanged manifest: no reload
    top = first.search("How do I get a refund?").top
    assert top.entry_id == "refund-policy"

    # the editors break the knowledge, and something touches the manifest
    (kb_copy / "broken.yml").write_text("topic: x\nentries:\n  - id: Bad ID\n", encoding="utf-8")
    manifest = index_dir / "manifest.json"
    later = manifest.stat().st_mtime + 100
    os.utime(manifest, (later, later))
    kept = live.get()
    assert kept is first
    assert kept.search("How do I get a refund?").top.entry_id == "refund-policy"
    assert live.get() is first  # and it does not retry on every call

    # a valid change plus a rebuild is picked up
    (kb_copy / "broken.yml").unlink()
    edit(kb_copy / "billing.yml", REFUND_EN, "Refunds are possible within 30 days.")
    build_index(load_knowledge(kb_copy), encoder, index_dir)
    fresh = live.get()
    assert fresh is not first
    assert fresh.kb.get("refund-policy").answer["en"] == "Refunds are possible within 30 days."
    assert first.kb.get("refund-policy").answer["en"] == REFUND_EN
    assert fresh.search("How do I get a refund?").top.entry_id == "refund-policy"


def test_live_retriever_keeps_old_index_when_knowledge_changed_without_rebuild(built, kb_copy):
    _, index_dir, _ = built
    live = LiveRetriever(knowledge_dir=kb_copy, index_dir=index_dir)
    first = live.get()
    edit(kb_copy / "billing.yml", REFUND_EN, "Something else entirely.")
    manifest = index_dir / "manifest.json"
    later = manifest.stat().st_mtime + 100
    os.utime(manifest, (later, later))
    assert live.get() is first
    assert live.get().kb.get("refund-policy").answer["en"] == REFUND_EN


def test_live_retriever_without_index_and_broken_knowledge_raises(tmp_path):
    from knowledge.loader import KnowledgeError

    broken = tmp_path / "kb"
    broken.mkdir()
    (broken / "a.yml").write_text("topic: x\nentries: [\n", encoding="utf-8")
    with pytest.raises(KnowledgeError):
        LiveRetriever(knowledge_dir=broken, index_dir=tmp_path / "index").get()
    assert not (tmp_path / "index").exists()


# --- the calibration belongs to the index -------------------------------------------------------------


def test_the_manifest_holds_the_decision_fitted_on_this_knowledge(built):
    _, index_dir, _ = built
    from knowledge.calibration import calibration_fingerprint

    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["calibration"] == calibration_fingerprint()
    assert manifest["decision"]["tuned_on"] == "its own knowledge (5 entries)"
    params = load_index(index_dir).decision_params()
    assert 0.0 < params.clarify_threshold <= params.answer_threshold < 1.0


def test_a_small_edit_is_live_before_the_recalibration(built, kb_copy, encoder):
    _, index_dir, _ = built
    edit(kb_copy / "billing.yml", '"Can I get my money back?"', '"Can I have my money back?"')
    report = build_index(load_knowledge(kb_copy), encoder, index_dir)
    assert report.live_after is not None and report.live_after <= report.seconds
    assert "live after" in report.summary()


def test_an_index_from_another_calibration_is_rebuilt(built, encoder):
    from knowledge.indexing import ensure_index

    kb, index_dir, _ = built
    assert ensure_index(kb, encoder, index_dir) is None
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["calibration"] = "an older one"
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    report = ensure_index(kb, encoder, index_dir)
    assert report is not None and report.embedded == 0
    assert json.loads((index_dir / "manifest.json").read_text())["calibration"] != "an older one"


def test_an_index_published_while_the_previous_one_loads_is_loaded_next(built, kb_copy, monkeypatch):
    import knowledge.live as live_module

    _, index_dir, _ = built
    live = LiveRetriever(knowledge_dir=kb_copy, index_dir=index_dir)
    manifest = index_dir / "manifest.json"
    load = live_module.open_retriever

    def load_while_an_editor_publishes(*args, **kwargs):
        retriever = load(*args, **kwargs)
        later = manifest.stat().st_mtime + 100
        os.utime(manifest, (later, later))  # a new index lands after this one was read
        return retriever

    monkeypatch.setattr(live_module, "open_retriever", load_while_an_editor_publishes)
    first = live.get()
    monkeypatch.setattr(live_module, "open_retriever", load)
    assert live.get() is not first
