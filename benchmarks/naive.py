"""The obvious implementation of the bridge's per-frame work, as ``benchmarks/compare.py``'s baseline.

Not installed: it lives beside the repository's benchmarks, and production code knows nothing of
it (:class:`NaiveRigSolver` overrides a private step of :class:`~mocap_bridge.solve.rig.RigSolver`).

Same inputs, same math, same output content; written the way a first version usually is:

* **merge**: a dict of dicts keyed by timestamp, a frame is built when its three parts are in.
* **filtering**: one Python :class:`ScalarOneEuro` object per scalar channel: every pose landmark
  coordinate (normalised and world), face 478×3, both hands' 21×3 (normalised and world) and the
  52 blendshapes (1,936 objects for one person). Same parameters, same object-size derivative
  scaling and the same reset-on-absence as :class:`mocap_bridge.filters.one_euro.OneEuroFilter`.
* **solving**: our :class:`~mocap_bridge.solve.rig.RigSolver` (face/head/eye/body/hand rotation
  math, rotation One-Euro and gating are reused unchanged) with its landmark smoothing step
  replaced by the per-scalar filters above (:class:`NaiveRigSolver`).
* **encoding**: ``struct.pack`` per Live Link field; one python-osc ``OscMessageBuilder`` per VMC
  and generic-OSC message, bundled with ``OscBundleBuilder`` and split at ``max_datagram``;
  ``json.dumps`` of nested dicts and lists (``tolist()``) for the WebSocket frame.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import replace
from typing import Any

import numpy as np
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from mocap_bridge.bench.overhead import TIME_OF_DAY_S, WALL_OFFSET_MS, FramePath, timed_path
from mocap_bridge.filters.one_euro import OneEuroParams
from mocap_bridge.frames import (
    ARKIT_NAMES,
    HUMAN_BONE_NAMES,
    FaceObservation,
    HandObservation,
    Part,
    PartStatus,
    PoseObservation,
    RigFrame,
    TrackedFrame,
    Tracking,
)
from mocap_bridge.protocols.vmc import ExpressionMap, load_expression_map
from mocap_bridge.resources import resolve_data_path
from mocap_bridge.settings import Settings
from mocap_bridge.sinks import process_device_id
from mocap_bridge.solve.rig import RigSolver

__all__ = [
    "NaiveLiveLink",
    "NaiveMerge",
    "NaiveOsc",
    "NaiveRigSolver",
    "NaiveVmc",
    "ScalarOneEuro",
    "naive_path",
    "naive_ws_json",
]

_TWO_PI = 2.0 * math.pi
_STATE = {Tracking.LOST: "lost", Tracking.PARTIAL: "partial", Tracking.OK: "ok"}


class NaiveMerge:
    """Dict-of-dicts merge: a frame leaves when pose, face and hands have all answered."""

    def __init__(self) -> None:
        self.pending: dict[int, dict[str, Any]] = {}

    def submit(self, index: int, t_ms: int) -> None:
        self.pending[t_ms] = {"index": index}

    def deliver(self, part: Part, t_ms: int, payload: Any, now_ms: float) -> list[TrackedFrame]:
        entry = self.pending.get(t_ms)
        if entry is None:
            return []
        entry[part.name] = (payload, now_ms)
        if not all(p.name in entry for p in Part):
            return []
        del self.pending[t_ms]
        pose, t0 = entry["POSE"]
        face, t1 = entry["FACE"]
        hands, t2 = entry["HANDS"]
        status = tuple(PartStatus.FOUND if x else PartStatus.NOT_FOUND for x in (pose, face, hands))
        return [
            TrackedFrame(entry["index"], t_ms, pose, face, tuple(hands or ()),
                         (status[0], status[1], status[2]), (t0, t1, t2))
        ]  # fmt: skip


class ScalarOneEuro:
    """One-Euro filter for one scalar (Casiez et al. 2012), derivative of the filtered value."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.x_prev: float | None = None
        self.dx_prev = 0.0
        self.t_prev = 0.0

    def reset(self) -> None:
        self.x_prev = None
        self.dx_prev = 0.0

    @staticmethod
    def alpha(te: float, cutoff: float) -> float:
        tau = 1.0 / (_TWO_PI * cutoff)
        return te / (te + tau)

    def __call__(self, x: float, t: float, scale: float = 1.0) -> float:
        if self.x_prev is None:
            self.x_prev, self.t_prev, self.dx_prev = x, t, 0.0
            return x
        te = t - self.t_prev
        if te <= 0.0:
            return x
        dx = (x - self.x_prev) * scale / te
        edx = self.dx_prev + self.alpha(te, self.d_cutoff) * (dx - self.dx_prev)
        cutoff = self.min_cutoff + self.beta * abs(edx)
        xh = self.x_prev + self.alpha(te, cutoff) * (x - self.x_prev)
        self.x_prev, self.dx_prev, self.t_prev = xh, edx, t
        return xh


class _Bank:
    """``rows × cols`` scalar filters for one array (e.g. 478 × 3 face landmarks)."""

    def __init__(self, rows: int, cols: int, p: OneEuroParams) -> None:
        self.enabled = p.enabled
        self.filters = [[ScalarOneEuro(p.min_cutoff, p.beta, p.d_cutoff) for _ in range(cols)]
                        for _ in range(rows)]  # fmt: skip

    def reset(self) -> None:
        for row in self.filters:
            for f in row:
                f.reset()

    def __call__(self, values: list[list[float]], t: float, scale: float = 1.0) -> np.ndarray:
        if not self.enabled:
            return np.array(values, dtype=np.float32)
        out = []
        for row, filters in zip(values, self.filters, strict=True):
            out.append([f(v, t, scale) for v, f in zip(row, filters, strict=True)])
        return np.array(out, dtype=np.float32)


def _scale(rows: list[list[float]]) -> float:
    xs = [r[0] for r in rows]
    ys = [r[1] for r in rows]
    s = 0.5 * ((max(xs) - min(xs)) + (max(ys) - min(ys)))
    return 1.0 / s if s > 1e-6 else 0.0


class NaiveRigSolver(RigSolver):
    """Our solver with the landmark smoothing done by 1,936 scalar One-Euro objects."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        sm = settings.smoothing
        self._pose_lm = _Bank(33, 3, sm.pose_landmarks)
        self._pose_w = _Bank(33, 3, sm.pose_world)
        self._face_lm = _Bank(478, 3, sm.face_landmarks)
        self._bs = _Bank(1, 52, sm.blendshapes)
        self._hand_lm = [_Bank(21, 3, sm.hand_landmarks) for _ in range(2)]
        self._hand_w = [_Bank(21, 3, sm.hand_world) for _ in range(2)]

    def _filter_frame(self, frame: TrackedFrame, hands: tuple[HandObservation | None, ...]) -> TrackedFrame:
        t = frame.t_ms * 1e-3
        pose, face = frame.pose, frame.face
        new_pose = new_face = None
        if pose is not None:
            lm_rows = pose.landmarks.tolist()
            xyz = [r[:3] for r in lm_rows]
            filt = self._pose_lm(xyz, t, _scale(xyz))
            lm = pose.landmarks.copy()
            lm[:, :3] = filt
            new_pose = PoseObservation(lm, self._pose_w(pose.world.tolist(), t))
        else:
            self._pose_lm.reset()
            self._pose_w.reset()
        if face is not None:
            rows = face.landmarks.tolist()
            new_face = FaceObservation(
                self._face_lm(rows, t, _scale(rows)), self._bs([face.blendshapes.tolist()], t)[0], face.matrix
            )
        else:
            self._face_lm.reset()
            self._bs.reset()
        new_hands = []
        for i, h in enumerate(hands):
            if h is None:
                self._hand_lm[i].reset()
                self._hand_w[i].reset()
                continue
            rows = h.landmarks.tolist()
            new_hands.append(
                HandObservation(h.label, h.score, self._hand_lm[i](rows, t, _scale(rows)),
                                self._hand_w[i](h.world.tolist(), t))
            )  # fmt: skip
        return replace(frame, pose=new_pose, face=new_face, hands=tuple(new_hands))


class NaiveLiveLink:
    """Live Link Face v6 with one ``struct.pack`` per field."""

    def __init__(self, device_id: str, subject: str, rate: int = 60) -> None:
        self.device = device_id.encode("utf-8")
        self.subject = subject.encode("utf-8")
        self.rate = rate

    def encode(self, frame: RigFrame, t_since_midnight_s: float) -> bytes:
        x = (t_since_midnight_s % 86400.0) * self.rate
        fn = math.floor(x)
        sub = min(x - fn, float(np.nextafter(np.float32(1.0), np.float32(0.0))))
        out = b""
        out += struct.pack(">B", 6)
        out += struct.pack(">i", len(self.device)) + self.device
        out += struct.pack(">i", len(self.subject)) + self.subject
        out += struct.pack(">i", fn)
        out += struct.pack(">f", sub)
        out += struct.pack(">i", self.rate)
        out += struct.pack(">i", 1)
        out += struct.pack(">B", 61)
        values = [float(v) for v in frame.blendshapes]
        y, p, r = (float(v) for v in frame.head_ypr)
        values += [y, p, r]
        for eye in frame.eyes:
            values += [float(eye[0]), float(eye[1]), 0.0]
        for v in values:
            if not math.isfinite(v):
                raise ValueError("non-finite Live Link value")
            out += struct.pack(">f", v)
        return out


def _message(address: str, *args: Any) -> Any:
    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build()


def _bundles(messages: list[Any], max_datagram: int) -> list[bytes]:
    out: list[bytes] = []
    size = 16
    builder = OscBundleBuilder(IMMEDIATELY)
    count = 0
    for m in messages:
        n = 4 + m.size
        if count and size + n > max_datagram:
            out.append(builder.build().dgram)
            builder = OscBundleBuilder(IMMEDIATELY)
            size, count = 16, 0
        builder.add_content(m)
        size += n
        count += 1
    if count:
        out.append(builder.build().dgram)
    return out


class NaiveVmc:
    """VMC with a python-osc message builder per message and a bundle builder per datagram."""

    def __init__(self, expressions: ExpressionMap | None, max_datagram: int = 1200) -> None:
        self.expressions = expressions
        self.max_datagram = max_datagram
        self.t0: int | None = None

    def encode(self, frame: RigFrame) -> list[bytes]:
        if self.t0 is None:
            self.t0 = frame.t_ms
        ok = 0 if frame.overall_state is Tracking.LOST else 1  # something drives the avatar
        msgs = [_message("/VMC/Ext/OK", 1, 3, 0, ok), _message("/VMC/Ext/T", (frame.t_ms - self.t0) / 1000.0)]
        # the avatar's origin on the floor; the hips' height is the Hips bone's position
        msgs.append(_message("/VMC/Ext/Root/Pos", "root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0))
        for b, name in enumerate(HUMAN_BONE_NAMES):
            if not frame.bone_valid[b]:
                continue
            px, py, pz = (float(v) for v in frame.bone_positions[b])
            qx, qy, qz, qw = (float(v) for v in frame.bone_rotations[b])
            msgs.append(_message("/VMC/Ext/Bone/Pos", name, -px, py, pz, qx, -qy, -qz, qw))
        if self.expressions is not None:
            values = self.expressions.evaluate(frame.blendshapes)
            for name, v in zip(self.expressions.names, values, strict=True):
                msgs.append(_message("/VMC/Ext/Blend/Val", name, float(v)))
            msgs.append(_message("/VMC/Ext/Blend/Apply"))
        return _bundles(msgs, self.max_datagram)


class NaiveOsc:
    """The generic ``/mocap/...`` namespace with python-osc builders."""

    def __init__(self, max_datagram: int = 1200) -> None:
        self.max_datagram = max_datagram
        self.t0: int | None = None

    def encode(self, frame: RigFrame) -> list[bytes]:
        if self.t0 is None:
            self.t0 = frame.t_ms
        msgs = [
            _message("/mocap/frame", frame.index, (frame.t_ms - self.t0) / 1000.0),
            _message("/mocap/state", int(frame.overall_state), int(frame.face_state), int(frame.body_state),
                     int(frame.hand_states[0]), int(frame.hand_states[1])),
        ]  # fmt: skip
        for name, v in zip(ARKIT_NAMES, frame.blendshapes, strict=True):
            msgs.append(_message(f"/mocap/face/blendshape/{name}", float(v)))
        msgs.append(_message("/mocap/face/eyes", *(float(v) for v in frame.eyes.reshape(4))))
        msgs.append(_message("/mocap/head/quat", *(float(v) for v in frame.head_rotation)))
        msgs.append(_message("/mocap/head/ypr", *(float(v) for v in frame.head_ypr)))
        msgs.append(_message("/mocap/head/pos", *(float(v) for v in frame.head_position)))
        for side, ev in zip(("left", "right"), frame.gestures, strict=True):
            msgs.append(
                _message(f"/mocap/gesture/{side}", int(ev.label) if ev else 0, float(ev.score) if ev else 0.0)
            )
        target = frame.target
        if target is not None:
            msgs.append(_message("/mocap/rig/hips", *(float(v) for v in target.hips_position)))
            for name, q, ok in zip(target.names, target.rotations, target.valid, strict=True):
                if ok:
                    msgs.append(_message(f"/mocap/rig/bone/{name}", *(float(v) for v in q)))
        pose = frame.tracked.pose
        if pose is not None:
            for i, row in enumerate(pose.world):
                msgs.append(_message(f"/mocap/pose/world/{i}", *(float(v) for v in row[:3])))
            for i, row in enumerate(pose.landmarks):
                msgs.append(_message(f"/mocap/pose/image/{i}", *(float(v) for v in row[:4])))
        for side, label in (("left", "Left"), ("right", "Right")):
            hand = frame.tracked.hand(label)
            if hand is None:
                continue
            msgs.append(_message(f"/mocap/hand/{side}/score", float(hand.score)))
            for i, row in enumerate(hand.world):
                msgs.append(_message(f"/mocap/hand/{side}/{i}", *(float(v) for v in row[:3])))
        return _bundles(msgs, self.max_datagram)


def _quat_matrix(q: list[float], t: list[float]) -> list[list[float]]:
    x, y, z, w = q
    n = x * x + y * y + z * z + w * w
    s = 2.0 / n if n > 0 else 0.0
    return [
        [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w), t[0]],
        [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w), t[1]],
        [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y), t[2]],
        [0.0, 0.0, 0.0, 1.0],
    ]


def _hand_json(state: Tracking, hand: HandObservation | None) -> dict[str, Any]:
    if hand is None:
        return {"state": _STATE[state], "present": False}
    return {"state": _STATE[state], "present": True, "label": hand.label, "score": float(hand.score),
            "landmarks": hand.landmarks.tolist(), "world": hand.world.tolist()}  # fmt: skip


def naive_ws_json(frame: RigFrame, t_send_unix_ms: float, wall_offset_ms: float) -> str:
    """The ``mocap_bridge.frame/1`` message with every channel, via ``json.dumps``."""
    tracked = frame.tracked
    pose = tracked.pose
    pose_obj: dict[str, Any] = {"state": _STATE[frame.body_state], "present": pose is not None}
    if pose is not None:
        pose_obj["landmarks"] = pose.landmarks.tolist()
        pose_obj["world"] = pose.world.tolist()
    bones = {}
    for b, name in enumerate(HUMAN_BONE_NAMES):
        if frame.bone_valid[b]:
            qx, qy, qz, qw = frame.bone_rotations[b].tolist()
            bones[name] = [qx, -qy, -qz, qw]
    hx, hy, hz = frame.hips_position.tolist()
    msg = {
        "schema": "mocap_bridge.frame/1",
        "type": "frame",
        "index": frame.index,
        "t_capture_ms": frame.t_ms,
        "t_capture_unix_ms": frame.t_ms + wall_offset_ms,
        "t_send_unix_ms": t_send_unix_ms,
        "state": _STATE[frame.overall_state],
        "face": {
            "state": _STATE[frame.face_state],
            "present": tracked.face is not None,
            "blendshapes": {n: float(v) for n, v in zip(ARKIT_NAMES, frame.blendshapes, strict=True)},
            "eyes": frame.eyes.tolist(),
        },
        "head": {
            "state": _STATE[frame.face_state],
            "present": tracked.face is not None,
            "matrix": _quat_matrix(frame.head_rotation.tolist(), frame.head_position.tolist()),
            "quaternion": frame.head_rotation.tolist(),
            "position": frame.head_position.tolist(),
            "ypr": frame.head_ypr.tolist(),
        },
        "pose": pose_obj,
        "hands": {
            "left": _hand_json(frame.hand_states[0], tracked.hand("Left")),
            "right": _hand_json(frame.hand_states[1], tracked.hand("Right")),
        },
        "rig": {
            "state": _STATE[frame.body_state],
            "present": bool(bones),
            "hips_position": [-hx, hy, hz],
            "bones": bones,
        },
    }
    return json.dumps(msg)


def naive_path(settings: Settings) -> FramePath:
    """The same work as :func:`mocap_bridge.bench.overhead.our_path`, done the obvious way."""
    merge = NaiveMerge()
    solver = NaiveRigSolver(settings)
    ll_s, vmc_s = settings.livelink, settings.vmc
    ll = NaiveLiveLink(process_device_id(), ll_s.subject, int(ll_s.rate))
    expressions = (
        load_expression_map(resolve_data_path(vmc_s.expression_map, "[vmc] expression_map"))
        if vmc_s.vrm0
        else None
    )
    vmc = NaiveVmc(expressions, vmc_s.max_datagram)
    osc = NaiveOsc(settings.osc.max_datagram)
    return timed_path(
        merge.submit,
        merge.deliver,
        solver.solve,
        (
            lambda rig, t: ll.encode(rig, TIME_OF_DAY_S + t / 1000.0),
            lambda rig, _t: vmc.encode(rig),
            lambda rig, _t: osc.encode(rig),
            lambda rig, t: naive_ws_json(rig, WALL_OFFSET_MS + t, WALL_OFFSET_MS),
        ),
    )
