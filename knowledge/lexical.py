"""Character n-gram matching: robust to typos, missing diacritics and word forms the encoder misses."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer


@dataclass
class LexicalMatcher:
    vectorizer: TfidfVectorizer
    matrix: object  # sparse rows x features, L2-normalised

    @classmethod
    def fit(cls, texts: List[str]) -> "LexicalMatcher":
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=1)
        matrix = vectorizer.fit_transform(texts or [""])
        return cls(vectorizer=vectorizer, matrix=matrix)

    def similarities(self, queries: List[str]) -> np.ndarray:
        """Cosine similarity of each query to each indexed text: (queries x rows)."""
        return np.asarray((self.vectorizer.transform(queries) @ self.matrix.T).todense(), dtype=np.float32)
