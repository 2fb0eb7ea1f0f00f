"""Building an index: embed the knowledge (reusing the vectors of unchanged texts), fit the character n-gram
matcher and the question classifier, calibrate the decision on the knowledge itself, and swap the result in
atomically. Querying is knowledge.retriever's; storage and the load-time checks are knowledge.index's."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import faiss
import numpy as np

from knowledge.calibration import CalibrationSettings, calibrate, calibration_fingerprint, negative_texts
from knowledge.classifier import train_classifier
from knowledge.encoders import Encoder
from knowledge.index import (
    ANSWER,
    QUESTION,
    SENTENCE,
    BuildReport,
    IndexManifest,
    IndexMismatch,
    IndexRow,
    LoadedIndex,
    index_rows,
    load_index,
    write_index,
)
from knowledge.lexical import LexicalMatcher
from knowledge.model import KnowledgeBase
from knowledge.params import DecisionParams
from knowledge.retriever import Retriever
from knowledge.text import fold_for_matching


def build_index(kb: KnowledgeBase, encoder: Encoder, directory: Path, train_classifier_too: bool = True,
                calibration: Optional[CalibrationSettings] = None,
                params: Optional[DecisionParams] = None, reuse: Optional[Path] = None) -> BuildReport:
    """Embed, fit and calibrate; then replace the index at `directory` atomically. `params` skips the
    calibration and stores the given parameters instead. `reuse`: the index whose vectors, classifier and
    calibration are reused (by default the one at `directory`)."""
    started = time.time()
    directory = Path(directory)
    previous_vectors: Dict[str, np.ndarray] = {}
    previous_hashes: Dict[str, str] = {}
    previous_classifier = None
    previous_decision, previous_fingerprint = None, None
    try:
        previous = load_index(Path(reuse) if reuse else directory, encoder_name=encoder.name)
        stored = previous.row_vectors()
        previous_vectors = {row.key(): stored[i] for i, row in enumerate(previous.rows)}
        previous_vectors.update(previous.extra_vectors)
        previous_hashes = previous.manifest.entry_hashes
        previous_classifier = previous.classifier
        previous_decision, previous_fingerprint = previous.manifest.decision, previous.manifest.calibration
    except Exception:  # a missing, foreign or damaged index is simply rebuilt from scratch
        pass

    rows = index_rows(kb)
    vectors, embedded = _embed_rows(rows, encoder, previous_vectors)
    extra_texts = negative_texts()
    extra_vectors, embedded_extra = _embed_queries(extra_texts, encoder, previous_vectors)

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
    classifier, labels = (train_classifier(rows, vectors, start=previous_classifier) if train_classifier_too
                          else (None, []))
    index = LoadedIndex(directory=directory, manifest=manifest, rows=rows, vectors=flat, lexical=lexical,
                        classifier=classifier, classifier_labels=labels,
                        extra_vectors={_query_key(t): v for t, v in zip(extra_texts, extra_vectors)})
    live_after = None
    if params is None:
        settings = calibration or CalibrationSettings()
        fingerprint = calibration_fingerprint(settings)
        if previous_decision is not None and previous_fingerprint == fingerprint \
                and _small_edit(previous_hashes, entry_hashes):
            # an editor's small edit goes live at once with the published calibration, then is recalibrated
            manifest.decision, manifest.calibration = previous_decision, fingerprint
            write_index(index, directory)
            live_after = time.time() - started
        params = calibrate(Retriever(kb, index, encoder, params=DecisionParams()), extra_texts, extra_vectors, settings)
        manifest.calibration = fingerprint
    manifest.decision = params.to_dict()
    write_index(index, directory)

    return BuildReport(
        directory=directory,
        entries=len(kb),
        rows=len(rows),
        embedded=embedded,
        reused=len(rows) - embedded,
        changed_entries=sorted(i for i, h in entry_hashes.items() if previous_hashes.get(i) != h),
        removed_entries=sorted(set(previous_hashes) - set(entry_hashes)),
        seconds=time.time() - started,
        live_after=live_after,
    )


SMALL_EDIT = 0.05  # of the entries: changed, added or removed


def _small_edit(before: Dict[str, str], after: Dict[str, str]) -> bool:
    changed = sum(before.get(entry_id) != digest for entry_id, digest in after.items()) + len(set(before) - set(after))
    return 0 < changed <= max(1, SMALL_EDIT * len(after))


def ensure_index(kb: KnowledgeBase, encoder: Encoder, directory: Path) -> Optional[BuildReport]:
    """Rebuild the index when the knowledge, the encoder or the calibration changed; None when it is current."""
    try:
        load_index(directory, kb=kb, encoder_name=encoder.name, calibration=calibration_fingerprint())
        return None
    except (FileNotFoundError, IndexMismatch):
        return build_index(kb, encoder, directory)


def _query_key(text: str) -> str:
    return IndexRow("", QUESTION, "", text).key()


def _embed_rows(rows: List[IndexRow], encoder: Encoder, previous: Dict[str, np.ndarray]) -> Tuple[np.ndarray, int]:
    vectors = np.zeros((len(rows), encoder.dim), dtype=np.float32)
    missing = []
    for i, row in enumerate(rows):
        known = previous.get(row.key())
        if known is None:
            missing.append(i)
        else:
            vectors[i] = known
    for kind, encode in ((QUESTION, encoder.encode_queries), (SENTENCE, encoder.encode_queries),
                         (ANSWER, encoder.encode_passages)):
        positions = [i for i in missing if rows[i].kind == kind]
        if positions:
            vectors[positions] = encode([rows[i].text for i in positions])
    return vectors, len(missing)


def _embed_queries(texts: Sequence[str], encoder: Encoder, previous: Dict[str, np.ndarray]) -> Tuple[np.ndarray, int]:
    vectors = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    missing = [i for i, text in enumerate(texts) if _query_key(text) not in previous]
    for i, text in enumerate(texts):
        if i not in missing:
            vectors[i] = previous[_query_key(text)]
    if missing:
        vectors[missing] = encoder.encode_queries([texts[i] for i in missing])
    return vectors, len(missing)
