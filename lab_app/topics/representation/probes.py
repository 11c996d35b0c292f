"""How good is a representation? Linear and kNN probes on frozen features, and 2D layouts (no Qt).

A probe freezes the encoder and fits a small classifier on its features with the *labels*, which the
encoder never saw: a linear probe (logistic regression on standardised features) asks whether the
classes are linearly separable; kNN (k = 5, cosine) asks whether neighbours share a class.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

_import_lock = threading.Lock()


def warm_imports() -> None:
    """Import what the workers need, one thread at a time. Seen here: the MI worker's first Adam
    (whose __init__ lazily imports torch._dynamo, then triton's C extension) segfaulted while the
    training worker imported scikit-learn/scipy in the other thread. Serialising the first imports
    avoids that; later calls are cheap (the modules are cached)."""
    with _import_lock:
        import sklearn.linear_model  # noqa: F401
        import sklearn.manifold  # noqa: F401
        import sklearn.model_selection  # noqa: F401
        import sklearn.neighbors  # noqa: F401
        import threadpoolctl  # noqa: F401

        torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # imports torch._dynamo once


@torch.no_grad()
def encode(model, x: torch.Tensor, batch: int = 2048) -> np.ndarray:
    """L2-normalised features h of x (N, C, H, W), in eval mode (BatchNorm uses running stats)."""
    was_training = model.training
    model.eval()
    try:
        h = torch.cat([model.features(b) for b in x.split(batch)])
    finally:
        model.train(was_training)
    return torch.nn.functional.normalize(h, dim=1).cpu().numpy()


def linear_probe(f_train, y_train, f_test, y_test) -> float:
    """Test accuracy of logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    clf.fit(np.asarray(f_train, np.float64), y_train)
    return float(clf.score(np.asarray(f_test, np.float64), y_test))


def knn_probe(f_train, y_train, f_test, y_test, k: int = 5) -> float:
    """Test accuracy of a k-nearest-neighbour vote under cosine distance."""
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=min(k, len(f_train)), metric="cosine")
    clf.fit(f_train, y_train)
    return float(clf.score(f_test, y_test))


def project_2d(
    z: np.ndarray, method: str = "PCA", previous: np.ndarray | None = None, seed: int = 0
) -> np.ndarray:
    """(N, D) -> (N, 2) float32. D == 2 is shown as is. PCA's axes have arbitrary signs, so each axis is
    flipped to agree with the previous frame: the cloud moves, it does not jump to its mirror image.
    t-SNE starts from the previous layout when there is one, for the same reason."""
    z = np.asarray(z, np.float32)
    if z.shape[1] == 2:
        return z.copy()
    if method == "t-SNE" and len(z) > 5:
        from sklearn.manifold import TSNE

        init = previous if previous is not None and previous.shape == (len(z), 2) else "pca"
        if isinstance(init, np.ndarray):  # t-SNE wants a small initial spread
            init = (init - init.mean(0)) / (init.std(0) + 1e-8) * 1e-4
        xy = TSNE(
            2, perplexity=min(30.0, (len(z) - 1) / 3), init=init, random_state=seed, max_iter=500
        ).fit_transform(z)
        return xy.astype(np.float32)
    centred = z - z.mean(0)
    # The top-2 right singular vectors of the centred data are the principal axes.
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    if previous is not None and previous.shape == xy.shape:
        signs = np.sign((xy * previous).sum(0))
        xy = xy * np.where(signs == 0, 1, signs)
    return xy.astype(np.float32)
