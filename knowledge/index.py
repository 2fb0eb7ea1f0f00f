"""Building and loading the vector index. Indexing is separate from querying; a load checks that the
index, its manifest and the knowledge agree (count, dimension, encoder, content hashes)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import faiss
import joblib
import numpy as np

from knowledge.lexical import LexicalMatcher
from knowledge.model import KnowledgeBase
from knowledge.params import DecisionParams

INDEX_FORMAT = 2  # 2: answer sentences; the decision parameters fitted on the knowledge, in the manifest
QUESTION = "question"
ANSWER = "answer"
SENTENCE = "sentence"  # one sentence of an answer, embedded like a question: the classifier learns from it too
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"«„(]?[A-ZÕÄÖÜŠŽА-ЯЁ0-9])")


class IndexMismatch(RuntimeError):
    """The index on disk does not fit the knowledge or the encoder: it must be rebuilt."""


@dataclass(frozen=True)
class IndexRow:
    entry_id: str
    kind: str  # question or answer
    language: str
    text: str

    def key(self) -> str:
        return hashlib.sha256(f"{self.kind}\0{self.text}".encode("utf-8")).hexdigest()


@dataclass
class IndexManifest:
    encoder: str
    dim: int
    entry_count: int
    row_count: int
    entry_hashes: Dict[str, str]
    knowledge_dir: str
    built_at: float = field(default_factory=time.time)
    format: int = INDEX_FORMAT
    decision: Optional[dict] = None  # DecisionParams fitted on this knowledge (knowledge.calibration)
    calibration: str = ""  # the fingerprint of the calibration that fitted them


@dataclass
class LoadedIndex:
    directory: Path
    manifest: IndexManifest
    rows: List[IndexRow]
    vectors: faiss.Index
    lexical: LexicalMatcher
    classifier: Optional[object]  # sklearn LogisticRegression over question embeddings, or None
    classifier_labels: List[str]
    extra_vectors: Dict[str, np.ndarray] = field(default_factory=dict)  # by text key: the calibration's own texts

    def row_vectors(self) -> np.ndarray:
        return self.vectors.reconstruct_n(0, self.vectors.ntotal)

    def decision_params(self) -> DecisionParams:
        if self.manifest.decision is None:
            return DecisionParams()
        return DecisionParams.from_dict(self.manifest.decision)


@dataclass
class BuildReport:
    directory: Path
    entries: int
    rows: int
    embedded: int
    reused: int
    changed_entries: List[str]
    removed_entries: List[str]
    seconds: float
    live_after: Optional[float] = None  # a small edit is published before the recalibration, this soon

    def summary(self) -> str:
        live = (f"; live after {self.live_after:.1f} s with the previous calibration, recalibrated"
                if self.live_after is not None else "")
        return (
            f"indexed {self.entries} entries ({self.rows} texts) into {self.directory}: "
            f"{self.embedded} texts embedded, {self.reused} reused; "
            f"{len(self.changed_entries)} entries new or changed, {len(self.removed_entries)} removed{live} "
            f"in {self.seconds:.1f} s"
        )


def answer_sentences(answer: str) -> List[str]:
    return [sentence for sentence in (s.strip() for s in SENTENCE_END.split(answer)) if len(sentence) > 15]


def index_rows(kb: KnowledgeBase) -> List[IndexRow]:
    """Every text of the knowledge that is matched: the example questions, the answers, and each answer's
    sentences. An entry with questions in English only still has its answer in Russian and Estonian, so its
    sentences are what a Russian or Estonian message can be recognised by."""
    rows: List[IndexRow] = []
    for entry in kb.entries:
        for language, questions in entry.questions.items():
            rows.extend(IndexRow(entry.id, QUESTION, language, q) for q in questions)
        for language, answer in entry.answer.items():
            rows.append(IndexRow(entry.id, ANSWER, language, answer))
            rows.extend(IndexRow(entry.id, SENTENCE, language, s) for s in answer_sentences(answer))
    return rows


def write_index(index: LoadedIndex, directory: Path) -> None:
    """Write the index beside `directory`, then swap it in atomically."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    faiss.write_index(index.vectors, str(staging / "vectors.faiss"))
    with open(staging / "rows.jsonl", "w", encoding="utf-8") as out:
        for row in index.rows:
            out.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")
    joblib.dump({"lexical": index.lexical, "classifier": index.classifier, "labels": index.classifier_labels},
                staging / "models.joblib")
    if index.extra_vectors:
        keys = sorted(index.extra_vectors)
        np.savez(staging / "extra_vectors.npz", keys=np.array(keys), vectors=np.vstack([index.extra_vectors[k] for k in keys]))
    (staging / "manifest.json").write_text(json.dumps(asdict(index.manifest), ensure_ascii=False, indent=1))
    _replace_directory(staging, directory)


def _replace_directory(staging: Path, directory: Path) -> None:
    retired = None
    if directory.exists():
        retired = directory.with_name(f".{directory.name}.retired-{os.getpid()}-{time.time_ns()}")
        os.replace(directory, retired)
    os.replace(staging, directory)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


def load_index(
    directory: Path, kb: Optional[KnowledgeBase] = None, encoder_name: Optional[str] = None,
    calibration: Optional[str] = None,
) -> LoadedIndex:
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"no index at {directory}: run 'supportbot index'")
    manifest = IndexManifest(**json.loads(manifest_path.read_text()))
    if manifest.format != INDEX_FORMAT:
        raise IndexMismatch(f"index format {manifest.format} is not {INDEX_FORMAT}")
    if encoder_name is not None and manifest.encoder != encoder_name:
        raise IndexMismatch(f"index was built with encoder {manifest.encoder}, not {encoder_name}")
    if calibration is not None and manifest.calibration != calibration:
        raise IndexMismatch("the index was calibrated by another version of the calibration")
    vectors = faiss.read_index(str(directory / "vectors.faiss"))
    with open(directory / "rows.jsonl", encoding="utf-8") as lines:
        rows = [IndexRow(**json.loads(line)) for line in lines]
    if vectors.d != manifest.dim:
        raise IndexMismatch(f"index vectors have dimension {vectors.d}, manifest says {manifest.dim}")
    if vectors.ntotal != manifest.row_count or len(rows) != manifest.row_count:
        raise IndexMismatch(
            f"index holds {vectors.ntotal} vectors and {len(rows)} rows, manifest says {manifest.row_count}"
        )
    if len(manifest.entry_hashes) != manifest.entry_count:
        raise IndexMismatch("manifest entry count does not match its entry hashes")
    if kb is not None:
        wanted = {entry.id: entry.content_hash() for entry in kb.entries}
        if wanted != manifest.entry_hashes:
            changed = sorted(k for k in set(wanted) | set(manifest.entry_hashes) if wanted.get(k) != manifest.entry_hashes.get(k))
            raise IndexMismatch(f"knowledge changed since indexing ({len(changed)} entries differ, e.g. {changed[:3]})")
    models = joblib.load(directory / "models.joblib")
    extra: Dict[str, np.ndarray] = {}
    if (directory / "extra_vectors.npz").exists():
        stored = np.load(directory / "extra_vectors.npz")
        extra = dict(zip(stored["keys"].tolist(), stored["vectors"]))
    return LoadedIndex(
        directory=directory,
        manifest=manifest,
        rows=rows,
        vectors=vectors,
        lexical=models["lexical"],
        classifier=models["classifier"],
        classifier_labels=models["labels"],
        extra_vectors=extra,
    )
