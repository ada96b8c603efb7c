"""Visibility gating and loss handling: hold, ease to rest, blend back in.

Theory of operation
-------------------
A :class:`Gate` owns ``n`` channels (a blendshape, a bone rotation, a position...). Every frame it
gets each channel's live value and a ``valid`` flag (tracked and above the visibility/presence
threshold) and returns what to send. Per channel it keeps one *segment*: a snapshot ``from`` taken
when ``valid`` last changed, at time ``t_event``, and interpolates from it::

    valid:    out = lerp(from, live, s((t - t_event) / reacquire_ms))          # blend back in
    invalid:  out = lerp(from, rest, s((t - t_event - hold_ms) / release_ms))  # hold, then ease

``s`` is smoothstep (zero slope at both ends, peak slope 1.5/duration), ``from`` is the *output* at
the moment of the change, so a channel that is lost while still blending in, or re-acquired while
easing out, continues from where it visibly was: there is never a pop. Quaternion channels use slerp on
the short arc. Channels never seen start at ``rest`` and blend in on first sight.

All channels advance in one vectorised step; time is passed in (milliseconds).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..frames import Tracking
from .slerp import slerp_weights

__all__ = ["Gate", "part_state", "smoothstep"]

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


def smoothstep(x: F64) -> F64:
    """3x² − 2x³ on [0, 1], clamped outside."""
    c = np.clip(x, 0.0, 1.0)
    out: F64 = c * c * (3.0 - 2.0 * c)
    return out


class Gate:
    """Hold/release/re-acquire state machine over ``n`` channels of width ``k``."""

    def __init__(
        self,
        rest: npt.ArrayLike,
        *,
        hold_ms: float | npt.ArrayLike,
        release_ms: float | npt.ArrayLike,
        reacquire_ms: float | npt.ArrayLike,
        quaternion: bool = False,
    ) -> None:
        self.rest: F64 = np.array(rest, dtype=np.float64)
        if self.rest.ndim != 2:
            raise ValueError("rest must be (n, k)")
        n = self.rest.shape[0]
        self.n = n
        self.quaternion = quaternion
        self._hold = np.broadcast_to(np.asarray(hold_ms, dtype=np.float64), (n,)).copy()
        self._release = np.maximum(np.broadcast_to(np.asarray(release_ms, dtype=np.float64), (n,)), 1e-6)
        self._reacq = np.maximum(np.broadcast_to(np.asarray(reacquire_ms, dtype=np.float64), (n,)), 1e-6)
        self._hold_release = self._hold + self._release
        self._from = self.rest.copy()
        self._out = self.rest.copy()
        self._t_event = np.full(n, -np.inf)
        self._valid = np.zeros(n, dtype=bool)
        self._seen = np.zeros(n, dtype=bool)
        self._age = np.full(n, np.inf)
        self._key = self._valid.tobytes()  # ``_valid``'s bytes
        self._no = np.zeros(self.rest.shape, dtype=bool)
        self._wide = self._no  # ``_valid`` as wide as the channels (a copyto mask without broadcast)
        self._target = self.rest.copy()  # rest where not valid; the live values go in each call
        self._settled = False  # the last call found every weight at 1
        self._set_phase()

    def _set_phase(self) -> None:
        """Per-channel offset and duration of the current segment's weight, ``(age − off) / dur``."""
        v = self._valid
        self._w_off = np.where(v, 0.0, self._hold)
        self._w_dur = np.where(v, self._reacq, self._release)
        # From this time on every weight is 1 (each channel live or at rest): a millisecond past
        # the last segment's end, so the weights' own rounding cannot leave one just below 1.
        self._settled_t = float(np.maximum.reduce(self._t_event + self._w_off + self._w_dur)) + 1.0

    def reset(self) -> None:
        """Back to rest, as if nothing had ever been seen."""
        self._from = self.rest.copy()
        self._out = self.rest.copy()
        self._t_event.fill(-np.inf)
        self._valid.fill(False)
        self._key = self._valid.tobytes()
        self._wide = self._no
        self._target = self.rest.copy()
        self._seen.fill(False)
        self._set_phase()

    def __call__(self, live: npt.ArrayLike, valid: B, t_ms: float) -> F64:
        """Gate ``live`` (n, k) with per-channel ``valid`` (n,) at ``t_ms``; returns (n, k)."""
        lv = np.asarray(live, dtype=np.float64).reshape(self.rest.shape)
        key = valid.tobytes()
        if key != self._key:  # (the same bytes: the same flags, without comparing arrays)
            self._key = key
            changed = valid != self._valid
            if np.count_nonzero(changed):  # (count_nonzero: a fraction of .any()'s call cost)
                self._from = np.where(changed[:, None], self._out, self._from)
                self._t_event = np.where(changed, t_ms, self._t_event)
                self._valid = valid.copy()
                self._wide = np.logical_or(self._valid[:, None], self._no)
                self._target = self.rest.copy()
                self._seen |= valid
                self._set_phase()
        target = self._target
        np.copyto(target, lv, where=self._wide)
        frm = self._from
        out: F64
        self._settled = t_ms >= self._settled_t
        if self._settled:  # (``_age`` is read only while not settled)
            # every weight is 1: the general step below with w = 1
            if self.quaternion:
                # target / (±norm), − where frm·target < 0 (as a sign of ±1 would; a NaN norm
                # comes only with a NaN dot, never negated)
                norm = np.sqrt(np.vecdot(target, target))
                np.negative(norm, out=norm, where=np.vecdot(frm, target) < 0.0)
                out = target / norm[:, None]
            else:
                out = frm + (target - frm)
            self._out = out
            return out.copy()
        age = t_ms - self._t_event
        self._age = age
        # w = smoothstep(age / reacq) while valid, smoothstep((age − hold) / release) while not
        # (``age − 0`` is ``age`` exactly, so one expression serves both).
        c = np.subtract(age, self._w_off)
        c /= self._w_dur
        np.minimum(np.maximum(c, 0.0, out=c), 1.0, out=c)  # np.clip, without its Python wrapper
        w = c * c
        c *= -2.0
        c += 3.0
        w *= c  # c²·(3 − 2c)
        if self.quaternion:
            # slerp on the short arc, so the angle follows the smoothstep exactly
            d = np.vecdot(frm, target)
            sign = np.where(d < 0.0, -1.0, 1.0)
            omw = 1.0 - w
            # w·(1 − w) > 0 exactly where 0 < w < 1 (fmax skips the NaN of a NaN weight)
            if not np.fmax.reduce(omw * w) > 0.0:
                if np.count_nonzero(w == 1.0) == w.size:
                    # Live or at rest everywhere: slerp returns its endpoint exactly (sin(0) = 0,
                    # sin(h)/sin(h) = 1); x·(±1)/n = x/(±n), so one division does sign and norm.
                    out = target / (np.sqrt(np.vecdot(target, target)) * sign)[:, None]
                    self._out = out
                    return out.copy()
                # weights 0 (held) or 1: the endpoints
                q = np.where((w == 1.0)[:, None], target * sign[:, None], frm)
            else:
                half = np.abs(d)
                np.minimum(half, 1.0, out=half)
                np.arccos(half, out=half)
                w0, w1 = slerp_weights(half, w, omw)
                w1 *= sign  # w1·(±target): the sign is exact either way
                q = w0[:, None] * frm
                q += w1[:, None] * target
            out = q / np.sqrt(np.vecdot(q, q))[:, None]
        else:
            out = frm + w[:, None] * (target - frm)
        self._out = out
        return out.copy()

    @property
    def valid(self) -> B:
        """Channels live this frame."""
        return self._valid.copy()

    @property
    def active(self) -> B:
        """Channels not (yet) back at rest: live, held, or still easing out."""
        if self._settled:  # every lost channel is back at rest
            return self._valid.copy()
        act: B = self._valid | (self._seen & (self._age < self._hold_release))
        return act


def part_state(valid: B, active: B) -> Tracking:
    """OK when every channel is live, LOST when none is live or easing, else PARTIAL."""
    if np.count_nonzero(valid) == valid.size:
        return Tracking.OK
    if np.count_nonzero(active):
        return Tracking.PARTIAL
    return Tracking.LOST
