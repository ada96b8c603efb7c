"""Vectorised One-Euro filters (Casiez, Roussel, Vogel, CHI 2012; MediaPipe one_euro_filter.cc).

Theory of operation
-------------------
:class:`OneEuroFilter` filters a whole array per call (every landmark coordinate, every blendshape)
with per-element parameters and per-element state, so one call per frame replaces thousands of
scalar filters. For each element::

    Te     = t - t_prev                         (seconds; frequency = 1/Te, from timestamps)
    dx     = (x - xhat_prev) * value_scale / Te  (derivative of the previous *filtered* value)
    edx    = LPF(dx; alpha(d_cutoff))
    cutoff = min_cutoff + beta * |edx|
    xhat   = LPF(x; alpha(cutoff)),  alpha(fc) = Te / (Te + 1/(2 pi fc))

* The first sample of an element (or the first after a reset) passes through and sets the state.
* A non-increasing timestamp passes the sample through and leaves the state untouched
  (MediaPipe's behaviour).
* ``present`` (optional mask) marks elements that were observed this frame; the others are reset,
  so a part that comes back starts fresh instead of being dragged from a stale value (gating blends
  it back in, see :mod:`mocap_bridge.filters.gating`).
* ``raw_derivative=True`` takes the derivative from the previous *raw* value (MediaPipe's default,
  ``use_filtered_derivative=false``); the default matches the paper and the reference CSV.

:class:`RotationOneEuro` does the same for unit quaternions: the "derivative" is the angular speed
of the change from the previous filtered rotation, and the low-pass step is a slerp by ``alpha``.
It never touches Euler angles, so there is no wrap-around.

No I/O, no clock: time is passed in (seconds, float).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .slerp import slerp_weights

__all__ = ["OneEuroFilter", "OneEuroParams", "RotationOneEuro"]

F64 = npt.NDArray[np.float64]
_TWO_PI = 2.0 * math.pi
_SMALL_N = 8  # up to this many elements the fast path runs on Python floats


def _normalize(q: F64) -> F64:
    out: F64 = q / np.sqrt(np.einsum("ij,ij->i", q, q))[:, None]
    return out


@dataclass(frozen=True, slots=True)
class OneEuroParams:
    """Parameters of one channel: cutoffs in Hz, ``beta`` in 1/(units of the value)."""

    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0
    enabled: bool = True


def _expand(value: float | npt.ArrayLike, n: int) -> F64:
    out = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
    return out


class OneEuroFilter:
    """One-Euro over flat arrays of ``n`` elements (reshape before/after as needed)."""

    def __init__(
        self,
        n: int,
        min_cutoff: float | npt.ArrayLike = 1.0,
        beta: float | npt.ArrayLike = 0.0,
        d_cutoff: float | npt.ArrayLike = 1.0,
        *,
        raw_derivative: bool = False,
    ) -> None:
        self.n = n
        # tau = 1/(2 pi fc) precomputed: alpha = Te / (Te + tau)
        self._min_cutoff = _expand(min_cutoff, n)
        self._beta = _expand(beta, n)
        self._tau_d = 1.0 / (_TWO_PI * _expand(d_cutoff, n))
        self._raw_derivative = raw_derivative
        self._x = np.zeros(n)
        self._raw = np.zeros(n)
        self._dx = np.zeros(n)
        self._t = np.full(n, np.nan)
        self._all_same_t: float | None = None  # fast path: every element last updated at this time
        self._a_d_te = math.nan  # Te of the cached derivative smoothing factor (constant frame rate)
        self._a_d = np.zeros(n)
        self._params_list = (self._min_cutoff.tolist(), self._beta.tolist(), self._tau_d.tolist())
        self._common_t: float | None = None  # every element with a history was updated at this time
        self._live = np.zeros(n, dtype=bool)  # elements with a history (``_t`` not NaN)
        self._all_live = np.ones(n, dtype=bool)  # (never written)
        # ``present_key`` of the previous call when it took the masked common step (its mask is
        # ``_live`` now); None otherwise
        self._key: Hashable | None = None
        # ``_t`` is due: it is ``_common_t`` where ``_live`` and NaN elsewhere (every path but the
        # general one leaves it to :meth:`_general`, its only reader)
        self._t_due = False

    def reset(self) -> None:
        """Forget every element's history."""
        self._t.fill(np.nan)
        self._t_due = False
        self._all_same_t = None
        self._common_t = None
        self._key = None
        self._live = np.zeros(self.n, dtype=bool)

    def __call__(
        self,
        x: npt.ArrayLike,
        t: float,
        *,
        present: npt.NDArray[np.bool_] | None = None,
        value_scale: float | npt.ArrayLike = 1.0,
        present_key: Hashable | None = None,
    ) -> F64:
        """Filter ``x`` (n,) observed at time ``t`` (seconds); returns a new array.

        ``present_key`` (optional, with ``present``): a caller that passes the same mask again may
        pass the same key with it (any hashable but None; a different key for a different mask),
        which spares comparing the masks. The result is the same with or without it.
        """
        xv = np.asarray(x, dtype=np.float64).reshape(self.n)
        last = self._all_same_t
        common = self._common_t
        if (
            present_key is not None
            and present_key == self._key
            and present is not None
            and common is not None
            and t > common
        ):
            # Steady: the same mask as the previous call, which took the common step below, so
            # the present elements are exactly the ones with a history (``_live``): all of them
            # take the step, the absent ones pass through. The state of an element without a
            # history is never read (a present one starts fresh), so it takes the unmasked step.
            xh, edx = self._step(xv, t - common, value_scale)
            out: F64 = np.where(present, xh, xv)
            self._x = xh
            self._dx = edx
            if self._raw_derivative:
                self._raw = xv.copy()  # never alias the caller's buffer (it may be refilled in place)
            if last is not None:
                self._all_same_t = t
            self._common_t = t
            self._t_due = True
            return out
        self._key = None
        if present is None and last is not None:
            # Fast path: all elements share the previous timestamp, so Te is one scalar.
            te = t - last
            if te <= 0.0:
                return xv.copy()
            if self.n <= _SMALL_N:
                return self._fast_small(xv, t, te, value_scale)
            xh, edx = self._step(xv, te, value_scale)
            self._x = xh
            self._dx = edx
            if self._raw_derivative:
                self._raw = xv.copy()  # never alias the caller's buffer (it may be refilled in place)
            self._all_same_t = self._common_t = t
            self._live = self._all_live
            self._t_due = True  # every element's time is t
            return xh.copy()
        if common is not None and t > common:
            # Every element with a history was last updated at ``common`` (the previous call
            # updated or reset them all): one scalar Te, the fast step for every element, and the
            # present ones with a history (``upd``) take it; present ones without start fresh.
            pres = self._all_live if present is None else np.asarray(present, dtype=bool)
            xh, edx = self._step(xv, t - common, value_scale)
            upd = pres & self._live
            out = np.where(upd, xh, xv)  # fresh and absent elements pass through
            self._x = np.where(pres, out, self._x)
            self._dx = np.where(upd, edx, np.where(pres, 0.0, self._dx))
            if self._raw_derivative:
                self._raw = np.where(pres, xv, self._raw)
            self._t_due = True  # t where present, NaN (reset) where absent
            self._all_same_t = t if np.count_nonzero(pres) == self.n else None
            self._common_t = t
            self._live = pres.copy()
            if present is not None:
                self._key = present_key
            return out
        return self._general(xv, t, present, value_scale)

    def _step(self, xv: F64, te: float, value_scale: float | npt.ArrayLike) -> tuple[F64, F64]:
        """(filtered value, smoothed derivative) of every element after one step of ``te`` seconds
        from its state: the general path's arithmetic, written with in-place steps on temporaries
        (about a dozen array operations whatever ``n`` is)."""
        prev = self._raw if self._raw_derivative else self._x
        if te != self._a_d_te:
            self._a_d = te / (te + self._tau_d)
            self._a_d_te = te
        dx = xv - prev
        dx *= np.asarray(value_scale) / te
        edx = dx
        edx -= self._dx
        edx *= self._a_d
        edx += self._dx
        cutoff = np.abs(edx)
        cutoff *= self._beta
        cutoff += self._min_cutoff
        cutoff *= _TWO_PI
        a = np.reciprocal(cutoff, out=cutoff)
        a += te
        np.divide(te, a, out=a)
        xh = xv - self._x
        xh *= a
        xh += self._x
        return xh, edx

    def _fast_small(self, xv: F64, t: float, te: float, value_scale: float | npt.ArrayLike) -> F64:
        """The fast path for a handful of elements in plain floats (numpy's per-call cost dominates)."""
        n = self.n
        if isinstance(value_scale, int | float):
            vs = [float(value_scale)] * n
        else:
            vs = np.broadcast_to(np.asarray(value_scale, dtype=np.float64), (n,)).tolist()
        xs = xv.tolist()
        prevs = (self._raw if self._raw_derivative else self._x).tolist()
        xh_prev = self._x.tolist()
        dxs = self._dx.tolist()
        mins, betas, taus = self._params_list
        out_x, out_dx = [], []
        for i in range(n):
            a_d = te / (te + taus[i])
            dx = (xs[i] - prevs[i]) * (vs[i] / te)
            edx = dxs[i] + a_d * (dx - dxs[i])
            cutoff = mins[i] + betas[i] * abs(edx)
            a = te / (te + 1.0 / (_TWO_PI * cutoff))
            out_x.append(xh_prev[i] + a * (xs[i] - xh_prev[i]))
            out_dx.append(edx)
        xh = np.array(out_x)
        self._x = xh
        self._dx = np.array(out_dx)
        if self._raw_derivative:
            self._raw = xv.copy()
        self._all_same_t = self._common_t = t
        self._live = self._all_live
        self._t_due = True  # every element's time is t
        return xh.copy()

    def _general(
        self,
        xv: F64,
        t: float,
        present: npt.NDArray[np.bool_] | None,
        value_scale: float | npt.ArrayLike,
    ) -> F64:
        pres = np.ones(self.n, dtype=bool) if present is None else np.asarray(present, dtype=bool)
        if self._t_due:
            self._t = np.where(self._live, math.nan if self._common_t is None else self._common_t, np.nan)
            self._t_due = False
        prev = self._raw if self._raw_derivative else self._x
        # per-element Te (elements last updated at different times, or time not increasing)
        te_a = t - self._t  # NaN where uninitialised
        with np.errstate(invalid="ignore", divide="ignore"):
            fresh = pres & np.isnan(te_a)
            upd = pres & (te_a > 0.0)
            te_s = np.where(upd, te_a, 1.0)
            a_d = te_s / (te_s + self._tau_d)
            dx = (xv - prev) * (np.asarray(value_scale) / te_s)
            edx = self._dx + a_d * (dx - self._dx)
            cutoff = self._min_cutoff + self._beta * np.abs(edx)
            a = te_s / (te_s + 1.0 / (_TWO_PI * cutoff))
            xh = self._x + a * (xv - self._x)
        out = np.where(upd, xh, xv)  # fresh, stale-timestamp and absent elements pass through
        keep = upd | fresh
        self._x = np.where(keep, out, self._x)
        self._dx = np.where(upd, edx, np.where(fresh, 0.0, self._dx))
        if self._raw_derivative:
            self._raw = np.where(keep, xv, self._raw)
        self._t = np.where(keep, t, np.where(pres, self._t, np.nan))
        n_keep = np.count_nonzero(keep)
        self._all_same_t = t if n_keep == self.n else None
        # the scalar-Te path holds next time when no present element was left stale
        self._common_t = t if n_keep == np.count_nonzero(pres) else None
        self._live = keep
        return out


class RotationOneEuro:
    """One-Euro over ``n`` unit quaternions (n, 4); the speed is the angular rate in rad/s."""

    def __init__(
        self,
        n: int,
        min_cutoff: float | npt.ArrayLike = 1.0,
        beta: float | npt.ArrayLike = 0.0,
        d_cutoff: float | npt.ArrayLike = 1.0,
    ) -> None:
        self.n = n
        self._min_cutoff = _expand(min_cutoff, n)
        self._beta = _expand(beta, n)
        self._tau_d = 1.0 / (_TWO_PI * _expand(d_cutoff, n))
        self._q = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (n, 1))
        self._speed = np.zeros(n)
        self._t = np.full(n, np.nan)
        self._live = np.zeros(n, dtype=bool)  # elements with a history (``_t`` not NaN)
        self._last_t: float | None = None  # fast path: every live element was updated at this time
        self._a_d_te = math.nan
        self._a_d = np.zeros(n)
        # Te / 2 when exact (then 2·half / Te is half / (Te / 2) exactly); None when not
        self._te_half: float | None = None
        # ``_t`` is due: it is ``_last_t`` where ``_live`` and NaN elsewhere (the fast path leaves
        # it to the general one, its only reader)
        self._t_due = False
        # The present mask (bytes) of the previous call if it took the fast path, which made
        # exactly those elements live; None otherwise. The same mask again needs no mask
        # arithmetic: every present element updates, none is fresh. Built with it: ~_live, and
        # _live and ~_live as wide as the quaternions (a copyto mask that needs no broadcast).
        self._key: bytes | None = None
        self._dead = np.ones(n, dtype=bool)
        self._live4 = np.zeros((n, 4), dtype=bool)
        self._dead4 = np.ones((n, 4), dtype=bool)
        self._false4 = np.zeros((n, 4), dtype=bool)

    def reset(self) -> None:
        """Forget every rotation's history."""
        self._t.fill(np.nan)
        self._t_due = False
        self._live.fill(False)
        self._last_t = None
        self._key = None

    def __call__(self, q: npt.ArrayLike, t: float, *, present: npt.NDArray[np.bool_] | None = None) -> F64:
        """Filter unit quaternions ``q`` (n, 4) at time ``t`` (seconds); returns unit quaternions."""
        qv = np.asarray(q, dtype=np.float64).reshape(self.n, 4)
        pres = np.ones(self.n, dtype=bool) if present is None else np.asarray(present, dtype=bool)
        last = self._last_t
        te_half: float | None = None
        fast = last is not None and t > last
        if last is not None and fast:
            # Fast path: every initialised element was last updated at ``last`` (the previous call
            # updated or reset every element), so Te is one scalar and ``upd``/``fresh`` follow from
            # which elements are initialised. Same arithmetic as the general path below. The
            # present elements end up live (updated or fresh), the absent ones reset.
            te = t - last
            if te != self._a_d_te:
                self._a_d = te / (te + self._tau_d)
                self._a_d_te = te
                h = 0.5 * te
                self._te_half = h if h + h == te else None
            te_half = self._te_half
            te_s: F64 | float = te
            a_d = self._a_d
            key = pres.tobytes()
            if key == self._key:
                stale: npt.NDArray[np.bool_] = self._dead  # not updated: the absent elements
                pass4 = self._dead4
            else:
                stale = ~(pres & self._live)  # fresh and absent elements pass through
                pass4 = stale[:, None]
                self._live = live = pres.copy()
                self._dead = ~live
                self._live4 = live4 = np.logical_or(live[:, None], self._false4)
                self._dead4 = ~live4
                self._key = key
            keep4 = self._live4
        else:
            if self._t_due:
                self._t = np.where(self._live, math.nan if self._last_t is None else self._last_t, np.nan)
                self._t_due = False
            te_a = t - self._t
            with np.errstate(invalid="ignore"):
                fresh = pres & np.isnan(te_a)
                upd = pres & (te_a > 0.0)
            te_s = np.where(upd, te_a, 1.0)
            a_d = te_s / (te_s + self._tau_d)
            pass4 = ~upd[:, None]  # fresh, absent, stale: pass through
            keep = upd | fresh
            keep4 = keep[:, None]
        prev = self._q
        d = np.vecdot(prev, qv)
        sign = np.where(d < 0.0, -1.0, 1.0)  # q on prev's side of the double cover
        half = np.abs(d)
        np.minimum(half, 1.0, out=half)
        np.arccos(half, out=half)  # half the rotation angle between prev and q
        speed = half / te_half if te_half is not None else 2.0 * half / te_s
        edx = speed
        edx -= self._speed
        edx *= a_d
        edx += self._speed
        cutoff = self._beta * edx
        cutoff += self._min_cutoff
        cutoff *= _TWO_PI
        a = np.reciprocal(cutoff, out=cutoff)
        a += te_s
        a = np.divide(te_s, a, out=a)
        # slerp(prev, q, a); below 1e-6 rad the lerp weights (safe: sin(half), 1 where small)
        w0, w1 = slerp_weights(half, a, 1.0 - a)
        w1 *= sign  # w1 · (±q): the sign is exact either way
        qh = w0[:, None] * prev
        qh += w1[:, None] * qv
        qh /= np.sqrt(np.vecdot(qh, qh))[:, None]
        np.copyto(qh, qv, where=pass4)
        out: F64 = qh
        np.copyto(self._q, out, where=keep4)
        if fast:
            # every element either updated/initialised now, or reset (absent: its speed is never
            # read again, it starts fresh)
            np.copyto(edx, 0.0, where=stale)
            self._speed = edx
            self._t_due = True
            self._last_t = t
        else:
            self._key = None
            self._speed = np.where(upd, edx, np.where(fresh, 0.0, self._speed))
            self._t = np.where(keep, t, np.where(pres, self._t, np.nan))
            self._live = ~np.isnan(self._t)
            self._last_t = t if bool((keep | ~pres).all()) else None
        return out
