"""The entry classifier: a logistic regression over the embeddings of each entry's example questions, answers and
answer sentences. Learning from the answers too is what carries an entry to the languages it has no questions in."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression

from knowledge.index import IndexRow

STRENGTH = 100.0  # weak regularisation: two or three texts per entry and language must be enough


def train_classifier(rows: Sequence[IndexRow], vectors: np.ndarray,
                     positions: Optional[Sequence[int]] = None) -> Tuple[Optional[LogisticRegression], List[str]]:
    """Fit on every row (or on `positions`); None when the rows name fewer than two entries."""
    positions = list(range(len(rows))) if positions is None else list(positions)
    labels = sorted({rows[i].entry_id for i in positions})
    if len(labels) < 2:
        return None, []
    classifier = LogisticRegression(C=STRENGTH, max_iter=3000)
    classifier.fit(vectors[positions], [rows[i].entry_id for i in positions])
    return classifier, list(classifier.classes_)
