"""VMC protocol (Performer → Marionette, OSC over UDP): pure encoder and expression maps.

Per frame the encoder emits, in this order, split into ``#bundle`` datagrams of at most
``max_datagram`` bytes (the VMC app's ExternalSender.cs; default 1200 like the VMC app):

===========================  ==============  ==================================================
address                      type tags       content (VMC spec, protocol.vmc.info)
===========================  ==============  ==================================================
``/VMC/Ext/OK``              ``,iiii``       loaded=1, calibration state=3 (Calibrated),
                                             calibration mode=0 (Normal), tracking 1 while any
                                             part drives the avatar, 0 when every part is lost
``/VMC/Ext/T``               ``,f``          seconds since the first encoded frame (VMC sends
                                             Unity ``Time.time``, a relative time)
``/VMC/Ext/Root/Pos``        ``,sfffffff``   ``"root"``: the avatar's origin on the floor,
                                             (0, 0, 0) and identity rotation, as the reference
                                             sender (Virtual Motion Capture) sends it
``/VMC/Ext/Bone/Pos``        ``,sfffffff``   one per bone with ``bone_valid``: local position
                                             (``bone_positions``: rest offsets, the Hips' is its
                                             height above the root) and local rotation
                                             (``bone_rotations``) in Unity axes
``/VMC/Ext/Blend/Val``       ``,sf``         VRM 0.x presets (UniVRM BlendShapePreset) from an expression map,
                                             then optionally the 52 perfect-sync ARKit names
``/VMC/Ext/Blend/Apply``     ``,``           after every Blend/Val of the frame (same or later
                                             datagram)
===========================  ==============  ==================================================

Only ``s``/``i``/``f`` are written (the VMC spec, protocol.vmc.info). Bones that are not valid are
simply not sent (never all-zero positions). Templates for every address/name are built once at construction
(:mod:`.osc_wire`) and whole-frame layouts are cached per set of valid bones
(:class:`~.osc_wire.FramePlan`): per frame, the values are gathered into one float array and
rendered into the precompiled datagram image.

Expression maps (``retarget_maps/arkit_to_vrm0.toml``) are data, validated once by
:func:`load_expression_map`; see that file for the format.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..coords import POSITION_TO_UNITY, QUATERNION_TO_UNITY
from ..errors import ConfigError, ProtocolError
from ..frames import ARKIT_NAMES, HUMAN_BONE_NAMES, Gesture, RigFrame, Tracking
from ..resources import read_toml
from ._state import overall_state
from .osc_wire import MAX_UDP_PAYLOAD, FramePlan, Template, pack_elements, pad_string

__all__ = [
    "EXPRESSION_MAP_FORMAT",
    "VRM0_PRESETS",
    "ExpressionMap",
    "VmcEncoder",
    "load_expression_map",
    "parse_expression_map",
    "perfect_sync_names",
]

F32 = npt.NDArray[np.float32]

F64 = npt.NDArray[np.float64]

#: VRM 0.x ``BlendShapePreset`` names (UniVRM BlendShapePreset), ``Unknown`` excluded.
VRM0_PRESETS: tuple[str, ...] = (
    "Neutral", "A", "I", "U", "E", "O", "Blink", "Joy", "Angry", "Sorrow", "Fun",
    "LookUp", "LookDown", "LookLeft", "LookRight", "Blink_L", "Blink_R",
)  # fmt: skip

#: Value of the ``format`` key every expression map must carry.
EXPRESSION_MAP_FORMAT = "mocap_bridge.expression_map/1"

_ROOT_ON_FLOOR = np.zeros(3)

#: ``/VMC/Ext/OK`` calibration state 3 = Calibrated, mode 0 = Normal (VMC spec, protocol.vmc.info).
CALIBRATION_STATE = 3
CALIBRATION_MODE = 0

_COMBINE = ("sum", "min", "max")
_EXPR_KEYS = frozenset({"weights", "combine", "subtract"})
_ARKIT_INDEX = {n: i for i, n in enumerate(ARKIT_NAMES)}


def perfect_sync_names(case: Literal["lowerCamel", "PascalCase"] = "lowerCamel") -> tuple[str, ...]:
    """The 52 ARKit names in :class:`~mocap_bridge.frames.ARKit` order, in the given case."""
    if case == "lowerCamel":
        return ARKIT_NAMES
    if case == "PascalCase":
        return tuple(n[0].upper() + n[1:] for n in ARKIT_NAMES)
    raise ProtocolError(f"perfect-sync case must be lowerCamel or PascalCase, got {case!r}")


class ExpressionMap:
    """Validated ARKit → expression map; :meth:`evaluate` turns 52 weights into clip values.

    Each expression is ``combine`` (``sum``, ``min`` or ``max``) of ``weight × arkit`` terms, minus
    the already computed values of the expressions named in ``subtract``, clamped to 0..1. An
    expression without weights is constantly 0 (before subtraction).
    """

    __slots__ = ("_matrix", "_ones", "_pairs", "_reduce_rows", "_subtract", "_zeros", "names",
                 "source")  # fmt: skip

    def __init__(
        self,
        names: Sequence[str],
        weights: Sequence[Mapping[str, float]],
        combine: Sequence[str],
        subtract: Sequence[Sequence[str]],
        source: str = "<map>",
    ) -> None:
        self.names = tuple(names)
        self.source = source
        idx = {n: i for i, n in enumerate(self.names)}
        n = len(self.names)
        self._matrix = np.zeros((n, len(ARKIT_NAMES)), dtype=np.float32)
        self._reduce_rows: list[tuple[int, bool, list[tuple[int, float]]]] = []
        sub = np.zeros((n, n), dtype=np.float32)
        for i, (w, c, subs) in enumerate(zip(weights, combine, subtract, strict=True)):
            terms = [(_ARKIT_INDEX[k], float(v)) for k, v in w.items()]
            if c == "sum":
                for col, v in terms:
                    self._matrix[i, col] = v
            elif terms:
                self._reduce_rows.append((i, c == "min", terms))
            for s in subs:
                if subtract[idx[s]]:
                    raise ConfigError(f"{source}: expressions.{names[i]}.subtract: {s!r} itself "
                                      "subtracts; only one level is supported")  # fmt: skip
                sub[i, idx[s]] += 1.0
        self._subtract = sub if sub.any() else None
        self._zeros = np.zeros(n, dtype=np.float32)
        self._ones = np.ones(n, dtype=np.float32)
        # (row, subtracted row, factor) when every row subtracts at most one expression, a power
        # of two times (the shipped maps): then :meth:`wire_values` subtracts in Python.
        rows, cols = np.nonzero(sub)
        pairs = [(i, j, float(sub[i, j])) for i, j in zip(rows.tolist(), cols.tolist(), strict=True)]
        self._pairs: list[tuple[int, int, float]] | None = None
        if len({i for i, _, _ in pairs}) == len(pairs) and all(math.frexp(k)[0] == 0.5
                                                               for _, _, k in pairs):  # fmt: skip
            self._pairs = pairs

    def evaluate(self, blendshapes: npt.NDArray[np.floating[Any]]) -> F32:
        """Clip values (len(names),) in 0..1 for ARKit weights ``blendshapes`` (52,)."""
        bs = np.asarray(blendshapes, dtype=np.float32)
        out: F32 = self._matrix.dot(bs)  # float32 matrix × vector (same BLAS call as ``@``)
        for i, is_min, terms in self._reduce_rows:
            vals = [bs.item(c) * w for c, w in terms]
            out[i] = min(vals) if is_min else max(vals)
        zeros = self._zeros
        np.maximum(out, zeros, out=out)
        np.minimum(out, self._ones, out=out)
        if self._subtract is not None:
            np.subtract(out, self._subtract.dot(out), out=out)
            np.maximum(out, zeros, out=out)  # subtracted terms are ≤ 1, so no upper clip
        return out

    def wire_values(self, blendshapes: npt.NDArray[np.floating[Any]]) -> list[float]:
        """:meth:`evaluate` for encoders that round to float32 on the wire, with fewer numpy calls.

        For finite input each value, rounded to float32, is bit for bit the value of
        :meth:`evaluate` (tests check this). The weighted sums stay one float32 matrix product; the
        clamp and the subtraction then run on Python floats. Clamping is exact. ``a − k·b`` with
        float32 ``a``, ``b`` and ``k`` a power of two, computed in double and rounded once to
        float32, is the correctly rounded float32 difference (double has more than 2 × 24 + 2
        bits), so a subtracted value only differs by not being rounded yet. Maps where an
        expression subtracts two or more others use :meth:`evaluate`.
        """
        if self._pairs is None:
            out: list[float] = self.evaluate(blendshapes).tolist()
            return out
        bs = np.asarray(blendshapes, dtype=np.float32)
        m = self._matrix.dot(bs)
        for i, is_min, terms in self._reduce_rows:
            vals = [bs.item(c) * w for c, w in terms]
            m[i] = min(vals) if is_min else max(vals)  # rounded to float32 as in evaluate
        # np.maximum(v, 0) then np.minimum(v, 1): -0.0 becomes 0.0, NaN stays NaN.
        v = [0.0 if x <= 0.0 else 1.0 if x > 1.0 else x for x in m.tolist()]
        for i, j, k in self._pairs:
            d = v[i] - k * v[j]
            v[i] = 0.0 if d <= 0.0 else d
        return v


def parse_expression_map(
    doc: Mapping[str, Any], source: str, allowed: Sequence[str] = VRM0_PRESETS
) -> ExpressionMap:
    """Validate a parsed expression-map document; errors name ``source`` and the key."""

    def fail(key: str, why: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {why}")

    unknown = set(doc) - {"format", "target", "description", "expressions"}
    if unknown:
        raise fail(sorted(unknown)[0], "unknown key")
    if doc.get("format") != EXPRESSION_MAP_FORMAT:
        raise fail("format", f"must be {EXPRESSION_MAP_FORMAT!r}")
    exprs = doc.get("expressions")
    if not isinstance(exprs, Mapping) or not exprs:
        raise fail("expressions", "missing or empty table")
    names: list[str] = []
    weights: list[dict[str, float]] = []
    combine: list[str] = []
    subtract: list[list[str]] = []
    for name, spec in exprs.items():
        key = f"expressions.{name}"
        if name not in allowed:
            raise fail(key, f"unknown expression name (allowed: {', '.join(allowed)})")
        if not isinstance(spec, Mapping):
            raise fail(key, "must be a table")
        extra = set(spec) - _EXPR_KEYS
        if extra:
            raise fail(f"{key}.{sorted(extra)[0]}", "unknown key")
        w = spec.get("weights", {})
        if not isinstance(w, Mapping):
            raise fail(f"{key}.weights", "must be a table of ARKit name = weight")
        clean: dict[str, float] = {}
        for arkit, value in w.items():
            if arkit not in _ARKIT_INDEX:
                raise fail(f"{key}.weights.{arkit}", "unknown ARKit blendshape name")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise fail(f"{key}.weights.{arkit}", "weight must be a number")
            if not abs(value) <= 1e6:  # NaN, ±inf, and huge weights that overflow float32
                raise fail(f"{key}.weights.{arkit}", "weight must be finite (within ±1e6)")
            clean[arkit] = float(value)
        c = spec.get("combine", "sum")
        if c not in _COMBINE:
            raise fail(f"{key}.combine", f"must be one of {', '.join(_COMBINE)}")
        sub = spec.get("subtract", [])
        if not isinstance(sub, list) or not all(isinstance(s, str) for s in sub):
            raise fail(f"{key}.subtract", "must be a list of expression names")
        for s in sub:
            if s not in names:
                raise fail(f"{key}.subtract", f"{s!r} is not an expression defined above")
        names.append(name)
        weights.append(clean)
        combine.append(c)
        subtract.append(list(sub))
    return ExpressionMap(names, weights, combine, subtract, source)


def load_expression_map(path: Path, allowed: Sequence[str] = VRM0_PRESETS) -> ExpressionMap:
    """Read and validate an expression-map TOML file (ConfigError names the file and key)."""
    return parse_expression_map(read_toml(path, "expression map"), str(path), allowed)


class VmcEncoder:
    """Encode :class:`RigFrame`\\ s into VMC datagrams (see the module docstring).

    ``expressions``: a map for VRM 0.x presets, or ``None`` to send none. ``perfect_sync``: also
    send the 52 ARKit names in ``perfect_sync_case``. State: the time origin of ``/VMC/Ext/T``.
    """

    __slots__ = (
        "_apply",
        "_blend_tpl",
        "_bone_tpl",
        "_expressions",
        "_gesture_clip",
        "_held",
        "_n_mapped",
        "_names",
        "_ok",
        "_ok_ints",
        "_perfect_sync",
        "_plans",
        "_root",
        "_t0_ms",
        "_time",
        "max_datagram",
    )

    def __init__(
        self,
        *,
        expressions: ExpressionMap | None,
        perfect_sync: bool = False,
        perfect_sync_case: Literal["lowerCamel", "PascalCase"] = "lowerCamel",
        max_datagram: int = 1200,
        gesture_expressions: Sequence[tuple[str, str]] = (),
    ) -> None:
        """``gesture_expressions``: (canned gesture label, clip name) pairs; the clip is sent at 1.0
        while either hand holds that gesture (a clip not otherwise sent is added to the names)."""
        names: list[str] = list(expressions.names) if expressions is not None else []
        if perfect_sync:
            names += perfect_sync_names(perfect_sync_case)
        if len(set(names)) != len(names):
            raise ProtocolError("VMC blendshape names collide (VRM0 map vs perfect sync)")
        self._n_mapped = len(names)
        labels = {g.label: g for g in Gesture}
        self._gesture_clip: dict[Gesture, int] = {}
        for label, clip in gesture_expressions:
            if label not in labels:
                raise ProtocolError(f"unknown gesture {label!r} in the gesture expression map")
            if clip not in names:
                names.append(clip)
            self._gesture_clip[labels[label]] = names.index(clip)
        self._held: dict[str, Gesture] = {}  # hand -> gesture reported by the last /VMC/Ext/Key
        self._names = tuple(names)
        self._expressions = expressions
        self._perfect_sync = perfect_sync
        self._ok = Template("/VMC/Ext/OK", "iiii")
        self._ok_ints = [(1, CALIBRATION_STATE, CALIBRATION_MODE, ok) for ok in (0, 1)]
        self._plans: dict[bytes, _Layout] = {}
        self._time = Template("/VMC/Ext/T", "f")
        self._root = Template("/VMC/Ext/Root/Pos", "sfffffff", ["root"])
        self._bone_tpl = [Template("/VMC/Ext/Bone/Pos", "sfffffff", [b]) for b in HUMAN_BONE_NAMES]
        self._blend_tpl = [Template("/VMC/Ext/Blend/Val", "sf", [n]) for n in names]
        self._apply = Template("/VMC/Ext/Blend/Apply", "")
        largest = max(t.size for t in [*self._bone_tpl, *self._blend_tpl, self._root])
        if not largest + 16 <= max_datagram <= MAX_UDP_PAYLOAD:
            raise ProtocolError(
                f"VMC max datagram must be in {largest + 16}..{MAX_UDP_PAYLOAD}, got {max_datagram}"
            )
        self.max_datagram = max_datagram
        self._t0_ms: int | None = None

    @property
    def blend_names(self) -> tuple[str, ...]:
        """Blend/Val clip names in send order."""
        return self._names

    def blend_values(self, frame: RigFrame) -> F32:
        """Blend/Val values in :attr:`blend_names` order."""
        parts = self._blend_parts(frame)
        if not parts:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(parts, dtype=np.float32)

    def _blend_parts(self, frame: RigFrame) -> list[npt.NDArray[Any]]:
        parts: list[npt.NDArray[Any]] = []
        if self._expressions is not None:
            parts.append(self._expressions.evaluate(frame.blendshapes))
        if self._perfect_sync:
            parts.append(frame.blendshapes)
        return parts

    def plan(self, bone_valid: npt.NDArray[np.bool_]) -> FramePlan:
        """The precompiled frame layout for this set of valid bones (cached, bounded)."""
        return self._layout(bone_valid).plan

    def _layout(self, bone_valid: npt.NDArray[np.bool_]) -> _Layout:
        key = bone_valid.tobytes()
        layout = self._plans.get(key)
        if layout is None:
            valid = np.flatnonzero(bone_valid)
            tpls = [self._ok, self._time, self._root]
            tpls += [self._bone_tpl[b] for b in valid.tolist()]
            if self._blend_tpl:
                tpls += [*self._blend_tpl, self._apply]
            layout = _Layout(FramePlan(tpls, self.max_datagram), valid, len(self._names))
            if len(self._plans) >= 64:
                self._plans.clear()
            self._plans[key] = layout
        return layout

    def encode(self, frame: RigFrame) -> list[bytes]:
        """All datagrams for ``frame`` in send order; ProtocolError on non-finite values."""
        if self._t0_ms is None:
            self._t0_ms = frame.t_ms
        layout = self._layout(frame.bone_valid)
        # hips, all positions, all rotations, blend values: one vector; ``gather`` keeps the valid
        # bones, ``factors`` turns internal axes into Unity axes, one store writes it.
        # The root is the avatar's origin on the floor, as the reference sender (Virtual Motion
        # Capture) sends it; the hips' height above it travels as the Hips bone's local position.
        # A receiver that applies both (EVMC4U's defaults) then puts the hips at their real height.
        parts: list[Any] = [_ROOT_ON_FLOOR, frame.bone_positions.ravel(), frame.bone_rotations.ravel()]
        if self._expressions is not None:
            parts.append(self._expressions.wire_values(frame.blendshapes))
        if self._perfect_sync:
            parts.append(frame.blendshapes)
        extra = len(self._names) - self._n_mapped
        if extra:
            parts.append(np.zeros(extra))
        fl = np.concatenate(parts, dtype=np.float64)
        if self._gesture_clip:
            base = len(fl) - len(self._names)  # the blend values are last
            for ev in frame.gestures:
                if ev is not None and ev.label in self._gesture_clip:
                    fl[base + self._gesture_clip[ev.label]] = 1.0
        if len(fl) != layout.n_source:
            raise ProtocolError(f"frame {frame.index}: {len(fl)} VMC values, expected "
                                f"{layout.n_source} (55 bones)")  # fmt: skip
        if layout.gather is not None:
            fl = fl.take(layout.gather)
        fl *= layout.factors
        if not np.isfinite(fl).all():
            raise ProtocolError(f"frame {frame.index}: non-finite VMC value")
        plan = layout.plan
        plan.write_floats(layout.slots, fl)
        plan.write_floats(layout.t_slot, (frame.t_ms - self._t0_ms) / 1000.0)
        ok = overall_state(frame) is not Tracking.LOST  # something drives the avatar
        if ok is not layout.ok:
            plan.write_ints(plan.int_slots, self._ok_ints[ok])
            layout.ok = ok
        return plan.datagrams() + self._key_events(frame)

    def _key_events(self, frame: RigFrame) -> list[bytes]:
        """``/VMC/Ext/Key`` (``,isi``: 1 pressed / 0 released, name, key code) when a hand's
        gesture starts or ends: name ``"<Left|Right>_<Gesture>"``, key code the canned index."""
        elements = []
        for side, ev in zip(("Left", "Right"), frame.gestures, strict=True):
            now = ev.label if ev is not None and ev.label is not Gesture.None_ else None
            before = self._held.get(side)
            if now is before:
                continue
            if before is not None:
                elements.append(_key_element(0, f"{side}_{before.name}", int(before)))
                del self._held[side]
            if now is not None:
                elements.append(_key_element(1, f"{side}_{now.name}", int(now)))
                self._held[side] = now
        return pack_elements(elements, self.max_datagram) if elements else []


def _key_element(active: int, name: str, code: int) -> bytes:
    body = pad_string("/VMC/Ext/Key") + pad_string(",isi") + struct.pack(">i", active) + pad_string(name)
    body += struct.pack(">i", code)
    return struct.pack(">i", len(body)) + body


class _Layout:
    """A :class:`FramePlan` for one set of valid bones plus where each per-frame value goes.

    The per-frame vector is ``root (3), positions (55×3), rotations (55×4), blends``;
    ``gather`` picks the values sent (``None``: all bones valid), which ``slots`` maps onto the
    plan's ``f`` atoms and ``factors`` turns from internal into Unity axes. The ``/VMC/Ext/T`` slot
    is written separately; the root's identity rotation is written once here. ``ok``: the
    tracking flag last written to ``/VMC/Ext/OK``.
    """

    __slots__ = ("factors", "gather", "n_source", "ok", "plan", "slots", "t_slot")

    def __init__(self, plan: FramePlan, valid: npt.NDArray[np.intp], n_blend: int) -> None:
        n, n_all = len(valid), len(HUMAN_BONE_NAMES)
        fs = plan.float_slots  # T, root (3 + 4), n × bone (3 + 4), blends
        bones = fs[8 : 8 + 7 * n].reshape(n, 7)
        self.plan = plan
        self.gather: npt.NDArray[np.intp] | None = None
        self.n_source = 3 + 7 * n_all + n_blend
        if n != n_all:
            self.gather = np.concatenate((
                np.arange(3),
                3 + (3 * valid[:, None] + np.arange(3)).ravel(),
                3 + 3 * n_all + (4 * valid[:, None] + np.arange(4)).ravel(),
                3 + 7 * n_all + np.arange(n_blend),
            ))  # fmt: skip
        self.slots = np.concatenate((fs[1:4], bones[:, :3].ravel(), bones[:, 3:].ravel(),
                                     fs[8 + 7 * n :]))  # fmt: skip
        self.factors = np.concatenate((np.ones(3), np.tile(POSITION_TO_UNITY, n),
                                       np.tile(QUATERNION_TO_UNITY, n), np.ones(n_blend)))  # fmt: skip
        self.t_slot = int(fs[0])
        self.ok: bool | None = None
        plan.write_floats(fs[4:8], (0.0, 0.0, 0.0, 1.0))
