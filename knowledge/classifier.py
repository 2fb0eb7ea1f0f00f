"""The entry classifier: a logistic regression over the embeddings of each entry's example questions, answers and
answer sentences. Learning from the answers too is what carries an entry to the languages it has no questions in."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression

from knowledge.index import IndexRow

STRENGTH = 100.0  # weak regularisation: two or three texts per entry and language must be enough


def train_classifier(rows: Sequence[IndexRow], vectors: np.ndarray, positions: Optional[Sequence[int]] = None,
                     start: Optional[LogisticRegression] = None) -> Tuple[Optional[LogisticRegression], List[str]]:
    """Fit on every row (or on `positions`); None when the rows name fewer than two entries. `start`, a classifier
    of the same entries (the published index's, or the full one for the calibration's folds), is where the fit
    starts from: an edit of one entry then converges in a few iterations instead of hundreds."""
    positions = list(range(len(rows))) if positions is None else list(positions)
    labels = sorted({rows[i].entry_id for i in positions})
    if len(labels) < 2:
        return None, []
    classifier = LogisticRegression(C=STRENGTH, max_iter=3000)
    if start is not None and list(getattr(start, "classes_", [])) == labels:
        classifier.set_params(warm_start=True)
        classifier.coef_, classifier.intercept_ = start.coef_.copy(), start.intercept_.copy()
    classifier.fit(vectors[positions], [rows[i].entry_id for i in positions])
    classifier.set_params(warm_start=False)
    return classifier, list(classifier.classes_)
