"""The one door to OpenDP: discrete Laplace noise on integer counts.

Nothing else imports `opendp`. Everything here works on a vector of integer
counts under the L1 distance, with OpenDP's `make_laplace` over `i64` atoms,
which samples the discrete Laplace distribution (GRS12, CKS20):
P(noise = k) is proportional to exp(-|k| / scale) for every integer k.

Its privacy map is `l1_sensitivity / scale`: a release at `scale` spends that
epsilon when neighbouring datasets differ by at most `l1_sensitivity` in L1.

Sensitivity of a vector of segment counts. The privacy unit is one person
(one subject): neighbouring datasets differ by adding or removing everything
about them. Each person contributes at most 1 to each segment's count (a count
of members, not of events), and may be in several segments at once. Removing
them therefore lowers at most `max_segments_per_person` counts, each by at most
1, so the L1 sensitivity of the whole vector is `max_segments_per_person`.
The caller must bound that number explicitly; it must not be read off the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Not opendp.prelude: it also imports opendp.extras, which loads scikit-learn, SciPy and
# Polars wherever they are installed (a second or more of start-up for every process
# of a development install), for nothing this module uses.
from opendp import domains, measurements, metrics, mod

mod.enable_features("contrib")  # OpenDP's gate for its (vetted, proof-backed) contrib code

_COUNTS = (domains.vector_domain(domains.atom_domain(T="i64")), metrics.l1_distance(T="i64"))
_MAX_SCALE_STEPS = 8


def _measurement(scale: float) -> mod.Measurement:
    return measurements.make_laplace(*_COUNTS, scale=scale)


def privacy_loss(scale: float, l1_sensitivity: int) -> float:
    """The epsilon OpenDP certifies for one release at `scale` and `l1_sensitivity`.

    >>> privacy_loss(4.0, 2)
    0.5
    """
    return float(_measurement(scale).map(l1_sensitivity))  # type: ignore[no-untyped-call]


def discrete_laplace_scale(epsilon: float, l1_sensitivity: int) -> float:
    """The smallest scale at which OpenDP's privacy map certifies `epsilon`; ValueError
    if OpenDP can make no measurement of it (call this before spending anything).

    In exact arithmetic that is `l1_sensitivity / epsilon`; in floating point the
    map of that quotient can exceed `epsilon` in the last bit (0.7 gives
    0.7000000000000001), so the scale moves up one float at a time until OpenDP's
    own check passes. The noise is never smaller than the epsilon promises.

    >>> discrete_laplace_scale(0.5, 2)
    4.0
    """
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be finite and positive, not {epsilon!r}")
    if l1_sensitivity < 1:
        raise ValueError(f"l1_sensitivity must be at least 1, not {l1_sensitivity}")
    scale = l1_sensitivity / epsilon
    try:
        for _ in range(_MAX_SCALE_STEPS):
            if _measurement(scale).check(l1_sensitivity, epsilon):
                return scale
            scale = math.nextafter(scale, math.inf)
    except mod.OpenDPException as exc:  # e.g. 5e-324 makes the scale infinite
        raise ValueError(
            f"OpenDP makes no measurement for epsilon {epsilon!r} at sensitivity"
            f" {l1_sensitivity}: {exc.message}"
        ) from None
    raise ValueError(f"no scale certifies epsilon {epsilon!r} at sensitivity {l1_sensitivity}")


def add_discrete_laplace_noise(counts: Sequence[int], scale: float) -> list[int]:
    """Each count plus independent discrete Laplace noise of `scale` (OpenDP's
    measurement; saturating at the i64 bounds)."""
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be finite and positive, not {scale!r}")
    if not counts:
        return []
    return [int(c) for c in _measurement(scale)([int(c) for c in counts])]
