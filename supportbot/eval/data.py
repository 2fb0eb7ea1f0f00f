"""Where the benchmarks' data lives and how it is read: the project's evaluation sets (evalsets/), the public
sets (../shared/benchmarks), and the scratch folder of indexes and cached embeddings (var/bench)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from knowledge.encoders import Encoder, load_encoder
from supportbot.settings import PROJECT_ROOT

EVALSETS = PROJECT_ROOT / "evalsets"
KNOWLEDGE_SETS = EVALSETS / "knowledge"
CROSSLINGUAL_DIR = EVALSETS / "crosslingual"
CROSSLINGUAL_TEST = CROSSLINGUAL_DIR / "test.jsonl"
SENTIMENT_TEST = EVALSETS / "sentiment" / "test.jsonl"
HUMAN_REQUESTS = EVALSETS / "handoff" / "human_requests.jsonl"
BENCH_DIR = PROJECT_ROOT / "var" / "bench"
DEFAULT_SHARED = PROJECT_ROOT.parent / "shared" / "benchmarks"


def read_jsonl(path: Path) -> List[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def shared_dir(args) -> Optional[Path]:
    path = Path(args.shared) if getattr(args, "shared", None) else DEFAULT_SHARED
    return path if path.is_dir() else None


class CachedEncoder:
    """Wraps an encoder with an on-disk cache, so benchmark reruns do not re-embed 30,000 texts."""

    def __init__(self, encoder: Encoder, cache_file: Path):
        self.encoder, self.name, self.dim = encoder, encoder.name, encoder.dim
        self.cache_file = cache_file
        self.cache: Dict[str, np.ndarray] = {}
        if cache_file.exists():
            data = np.load(cache_file)
            self.cache = dict(zip(data["keys"].tolist(), data["vectors"]))
        self.dirty = False

    def _encode(self, texts: Sequence[str], kind: str, encode) -> np.ndarray:
        keys = [hashlib.sha1(f"{kind}\0{t}".encode()).hexdigest() for t in texts]
        missing = sorted({(k, t) for k, t in zip(keys, texts) if k not in self.cache})
        if missing:
            vectors = encode([t for _, t in missing])
            self.cache.update({k: v for (k, _), v in zip(missing, vectors)})
            self.dirty = True
        return np.vstack([self.cache[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "q", self.encoder.encode_queries)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "p", self.encoder.encode_passages)

    def save(self) -> None:
        if self.dirty:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            keys = list(self.cache)
            np.savez(self.cache_file, keys=np.array(keys), vectors=np.vstack([self.cache[k] for k in keys]))
            self.dirty = False


def cached_encoder(spec: str = "") -> CachedEncoder:
    encoder = load_encoder(spec)
    tag = hashlib.sha1(encoder.name.encode()).hexdigest()[:8]
    return CachedEncoder(encoder, BENCH_DIR / f"embeddings-{tag}.npz")
