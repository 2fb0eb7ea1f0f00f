"""Building and loading the vector index. Indexing is separate from querying; a load checks that the
index, its manifest and the knowledge agree (count, dimension, encoder, content hashes)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import faiss
import joblib
import numpy as np

from knowledge.encoders import Encoder
from knowledge.lexical import LexicalMatcher
from knowledge.model import KnowledgeBase
from knowledge.text import fold_for_matching

INDEX_FORMAT = 1
QUESTION = "question"
ANSWER = "answer"


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


@dataclass
class LoadedIndex:
    directory: Path
    manifest: IndexManifest
    rows: List[IndexRow]
    vectors: faiss.Index
    lexical: LexicalMatcher
    classifier: Optional[object]  # sklearn LogisticRegression over question embeddings, or None
    classifier_labels: List[str]

    def row_vectors(self) -> np.ndarray:
        return self.vectors.reconstruct_n(0, self.vectors.ntotal)


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

    def summary(self) -> str:
        return (
            f"indexed {self.entries} entries ({self.rows} texts) into {self.directory}: "
            f"{self.embedded} texts embedded, {self.reused} reused; "
            f"{len(self.changed_entries)} entries new or changed, {len(self.removed_entries)} removed "
            f"in {self.seconds:.1f} s"
        )


def index_rows(kb: KnowledgeBase) -> List[IndexRow]:
    rows: List[IndexRow] = []
    for entry in kb.entries:
        for language, questions in entry.questions.items():
            rows.extend(IndexRow(entry.id, QUESTION, language, q) for q in questions)
        for language, answer in entry.answer.items():
            rows.append(IndexRow(entry.id, ANSWER, language, answer))
    return rows


def default_index_dir() -> Path:
    from supportbot.settings import Settings

    return Path(Settings().index_dir)


def build_index(kb: KnowledgeBase, encoder: Encoder, directory: Path, train_classifier: bool = True) -> BuildReport:
    """Embed the knowledge (reusing vectors of unchanged texts) and replace the index atomically."""
    started = time.time()
    directory = Path(directory)
    previous_vectors: Dict[str, np.ndarray] = {}
    previous_hashes: Dict[str, str] = {}
    try:
        previous = load_index(directory, encoder_name=encoder.name)
        stored = previous.row_vectors()
        previous_vectors = {row.key(): stored[i] for i, row in enumerate(previous.rows)}
        previous_hashes = previous.manifest.entry_hashes
    except Exception:  # a missing, foreign or damaged index is simply rebuilt from scratch
        pass

    rows = index_rows(kb)
    vectors = np.zeros((len(rows), encoder.dim), dtype=np.float32)
    missing = [i for i, row in enumerate(rows) if row.key() not in previous_vectors]
    for i, row in enumerate(rows):
        if i not in set(missing) and row.key() in previous_vectors:
            vectors[i] = previous_vectors[row.key()]
    for kind, encode in ((QUESTION, encoder.encode_queries), (ANSWER, encoder.encode_passages)):
        positions = [i for i in missing if rows[i].kind == kind]
        if positions:
            vectors[positions] = encode([rows[i].text for i in positions])

    entry_hashes = {entry.id: entry.content_hash() for entry in kb.entries}
    manifest = IndexManifest(
        encoder=encoder.name,
        dim=encoder.dim,
        entry_count=len(kb),
        row_count=len(rows),
        entry_hashes=entry_hashes,
        knowledge_dir=str(kb.directory),
    )
    flat = faiss.IndexFlatIP(encoder.dim)
    flat.add(vectors)
    lexical = LexicalMatcher.fit([fold_for_matching(row.text) for row in rows])
    classifier, labels = (_train_classifier(rows, vectors) if train_classifier else (None, []))

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    faiss.write_index(flat, str(staging / "vectors.faiss"))
    with open(staging / "rows.jsonl", "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")
    joblib.dump({"lexical": lexical, "classifier": classifier, "labels": labels}, staging / "models.joblib")
    (staging / "manifest.json").write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=1))
    _replace_directory(staging, directory)

    return BuildReport(
        directory=directory,
        entries=len(kb),
        rows=len(rows),
        embedded=len(missing),
        reused=len(rows) - len(missing),
        changed_entries=sorted(i for i, h in entry_hashes.items() if previous_hashes.get(i) != h),
        removed_entries=sorted(set(previous_hashes) - set(entry_hashes)),
        seconds=time.time() - started,
    )


def _train_classifier(rows: List[IndexRow], vectors: np.ndarray) -> Tuple[Optional[object], List[str]]:
    from sklearn.linear_model import LogisticRegression

    positions = [i for i, row in enumerate(rows) if row.kind == QUESTION]
    labels = sorted({rows[i].entry_id for i in positions})
    if len(labels) < 2:
        return None, []
    y = [rows[i].entry_id for i in positions]
    classifier = LogisticRegression(C=20.0, max_iter=2000)
    classifier.fit(vectors[positions], y)
    return classifier, list(classifier.classes_)


def _replace_directory(staging: Path, directory: Path) -> None:
    retired = None
    if directory.exists():
        retired = directory.with_name(f".{directory.name}.retired-{os.getpid()}-{time.time_ns()}")
        os.replace(directory, retired)
    os.replace(staging, directory)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


def load_index(
    directory: Path, kb: Optional[KnowledgeBase] = None, encoder_name: Optional[str] = None
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
    return LoadedIndex(
        directory=directory,
        manifest=manifest,
        rows=rows,
        vectors=vectors,
        lexical=models["lexical"],
        classifier=models["classifier"],
        classifier_labels=models["labels"],
    )
