r"""The human-readable fingerprint: invariant terms -> feature vector -> a procedural landscape.

HuRef turns the invariant terms into a picture so that people can see kinship. The paper uses a
downloaded StyleGAN2 generator; here both steps are fixed and deterministic, and nothing is
downloaded:

1. **Features.** Each slice's standardised term ``Z_s = (M_s - mean) / std`` is probed with
   rank-one Gaussian projections whose entries are seeded by the *token strings*, so two models
   get the same probes on the tokens they share::

       f_k = S^{-1/2} sum_s a_{s,k}^T Z_s b_{s,k} / n,     E[f_k(A) f_k(B)] ~ mean_s corr(Z_s(A), Z_s(B))

   (computed as ``(X^T a)^T A (X^T b)``, never forming Z). Similar terms give similar vectors.
2. **Image.** The vector sets the coefficients of the lowest Fourier modes, and a fixed random
   linear map of it those of finer modes with a ``|k|^-2`` fall-off: a height field that
   looks like terrain. A fixed colour map (water, sand, grass, rock, snow) and hill shading make
   it read as a landscape. Features -> heights is linear over orthogonal modes, so the heights'
   pixel correlation tracks the features' correlation.

:func:`image_similarity` is the mean per-channel pixel correlation of two images.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from .core import HurefFingerprint

N_FEATURES = 64
IMAGE_SIZE = 256
_SEED = "llm-lineage/huref-image/1"


def _probe_rows(token: str, n_slices: int, n_features: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(f"{_SEED}:{token}".encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal((2, n_slices, n_features))


def features(fp: HurefFingerprint, n_features: int = N_FEATURES) -> np.ndarray:
    """A fixed-length, unit-variance feature vector of the fingerprint's invariant terms."""
    from .terms import moments

    x = fp.embedding.astype(np.float64)
    n, n_slices = x.shape[0], len(fp.slices)
    probes = np.stack([_probe_rows(t, n_slices, n_features) for t in fp.tokens], axis=-2)  # (2, S, n, K)
    gram = x.T @ x
    total = np.zeros(n_features)
    for s in range(n_slices):
        a = fp.terms[s]
        mean, var = moments(x, a, gram)
        if var <= 0:
            continue
        left, right = x.T @ probes[0, s], x.T @ probes[1, s]  # (d, K) each
        raw = np.sum(left * (a @ right), axis=0)  # a_k^T X A X^T b_k
        centred = raw - mean * probes[0, s].sum(axis=0) * probes[1, s].sum(axis=0)
        total += centred / (np.sqrt(var) * n)
    total /= np.sqrt(n_slices)
    return (total - total.mean()) / (total.std() or 1.0)


_DETAIL_MODES = 480  # finer modes, driven by a fixed random linear map of the same features


@lru_cache(maxsize=4)
def _modes(n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fourier modes (kx, ky) from low to high frequency, their amplitudes, and the feature map.

    The lowest ``n_features // 2`` modes take the features themselves (equal amplitude: every
    feature counts alike in the pixel correlation); the next :data:`_DETAIL_MODES` take a fixed
    Gaussian map of them with a ``|k|^-2`` fall-off, fine detail that still moves with the
    features, so related fingerprints share their small features too.
    """
    n_low = n_features // 2
    radius = int(np.ceil(np.sqrt(n_low + _DETAIL_MODES))) + 2
    ky, kx = np.meshgrid(np.arange(-radius, radius + 1), np.arange(0, radius + 1), indexing="ij")
    keep = (kx > 0) | ((kx == 0) & (ky > 0))  # one of each conjugate pair, no DC
    kx, ky = kx[keep], ky[keep]
    order = np.lexsort((ky, kx, kx**2 + ky**2))[: n_low + _DETAIL_MODES]
    kx, ky = kx[order], ky[order]
    k = np.sqrt(kx**2 + ky**2)
    amp = np.where(np.arange(len(k)) < n_low, 1.0, 0.6 * (k[n_low - 1] / k) ** 2)
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(_SEED.encode()).digest()[:8], "little"))
    detail = rng.standard_normal((2 * _DETAIL_MODES, n_features)) / np.sqrt(n_features)
    mix = np.vstack([np.eye(n_features), detail])  # rows: (re, im) of each mode, low modes first
    return kx, ky, amp, mix


def height_field(vector: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Heights on a ``size`` x ``size`` grid, linear in ``vector``, unit variance."""
    kx, ky, amp, mix = _modes(len(vector))
    n_low = len(vector) // 2
    values = mix @ vector
    re = np.concatenate([values[0:2 * n_low:2], values[2 * n_low::2]])
    im = np.concatenate([values[1:2 * n_low:2], values[2 * n_low + 1::2]])
    spectrum = np.zeros((size, size), dtype=np.complex128)
    spectrum[ky % size, kx % size] = (re + 1j * im) * amp
    heights = np.fft.ifft2(spectrum).real
    return (heights - heights.mean()) / (heights.std() or 1.0)


def _landscape_colormap():
    from matplotlib.colors import LinearSegmentedColormap

    # each channel rises with height (deep water, shallows, forest, grass, dry hills, snow), so
    # colour keeps the heights' correlation instead of cutting it at a shoreline
    stops = [(0.00, "#0a1633"), (0.25, "#17405e"), (0.42, "#1f6a6a"), (0.50, "#3d7a45"),
             (0.62, "#6b8f4a"), (0.76, "#a89a62"), (0.88, "#cdbfa0"), (1.00, "#fbfaf6")]
    return LinearSegmentedColormap.from_list("huref-landscape", stops)


def render(vector: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """An RGB uint8 landscape (size, size, 3) drawn from a feature vector."""
    from matplotlib.colors import LightSource, Normalize

    heights = height_field(vector, size)
    shade = LightSource(azdeg=315, altdeg=40)
    rgb = shade.shade(heights, cmap=_landscape_colormap(), norm=Normalize(-3.0, 3.0),
                      blend_mode="soft", vert_exag=4.0 / size)
    return (np.clip(rgb[..., :3], 0, 1) * 255).astype(np.uint8)


def fingerprint_image(fp: HurefFingerprint, size: int = IMAGE_SIZE) -> np.ndarray:
    """The fingerprint's landscape: ``render(features(fp))``."""
    return render(features(fp), size)


def save_image(fp: HurefFingerprint, path: str | Path, size: int = IMAGE_SIZE) -> Path:
    from matplotlib.image import imsave

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(path, fingerprint_image(fp, size))
    return path


def image_similarity(image_a: np.ndarray, image_b: np.ndarray) -> float:
    """Mean over colour channels of the Pearson correlation of pixel values."""
    if image_a.shape != image_b.shape:
        raise ValueError(f"images differ in shape: {image_a.shape} vs {image_b.shape}")
    corr = []
    for c in range(image_a.shape[-1]):
        a = image_a[..., c].astype(np.float64).ravel()
        b = image_b[..., c].astype(np.float64).ravel()
        if a.std() == 0 or b.std() == 0:
            continue
        corr.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.mean(corr)) if corr else float("nan")


def save_model_image(model: str | Path, path: str | Path, *, fp: HurefFingerprint | None = None) -> Path:
    """``fingerprint MODEL --image``: the ``invariant`` fingerprint's image of a model (or the given one)."""
    from .config import HurefConfig
    from .core import fingerprint

    return save_image(fp if isinstance(fp, HurefFingerprint) else fingerprint(model, HurefConfig()), path)
