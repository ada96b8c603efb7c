"""Takes: every received frame keyed into a new Action at the sender's time.

A frame with sender time ``t`` (``/VMC/Ext/T``) is keyed at scene frame
``start + (t − t₀) · fps`` (fps = ``render.fps / render.fps_base``; sub-frames kept), so a take
sent faster than real time (``mocap-bridge run --source take.jsonl --mode video``) bakes exactly
as if it had been live; senders without ``/VMC/Ext/T`` are keyed at arrival time. With
``resample`` the take is instead keyed on whole scene frames, each frame taking the nearest
received sample at or before it. Quaternions are made continuous (q and −q are the same rotation;
interpolating across a sign flip would spin the bone). Keys are written with
``keyframe_points.foreach_set`` (one call per channel), linear interpolation; ``reduce_tolerance``
> 0 drops keys that linear interpolation of their neighbours reproduces within it.

Actions use slots on Blender 4.4+ (armature object and shape-key datablock in one Action) and the
legacy ``Action.fcurves`` before (then the shape keys get a second Action ``<name>_face``,
see https://docs.blender.org/api/current/bpy.types.Action.html). Each Action is pushed onto an
NLA track ``mocap_bridge`` of its owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import bpy

from .receiver import VmcFrame
from .rigs import FACE_BONES, FINGER_BONES, Retarget, hips_offset

__all__ = ["MASKS", "TakeSettings", "bake_take", "reduce_keys", "take_name"]

#: Record masks: which parts a take keys.
MASKS = ("body", "hands", "face")
NLA_TRACK = "mocap_bridge"
_LINEAR = 1  # FCurve keyframe interpolation enum value of 'LINEAR'


@dataclass(frozen=True, slots=True)
class TakeSettings:
    masks: frozenset[str] = frozenset(MASKS)
    resample: bool = False
    reduce_tolerance: float = 0.0
    start_frame: float | None = None  # None: scene.frame_current
    push_to_nla: bool = True


def take_name(slate: str, take: int) -> str:
    return f"{slate}_{take:03d}"


def _slotted() -> bool:
    return "slots" in bpy.types.Action.bl_rna.properties


def _channels(action: Any, id_type: str, owner_name: str) -> tuple[Any, Any]:
    """(fcurves collection, slot or None) for one owner of ``action``."""
    if _slotted():
        from bpy_extras import anim_utils

        slot = action.slots.new(id_type=id_type, name=owner_name)
        return anim_utils.action_ensure_channelbag_for_slot(action, slot).fcurves, slot
    return action.fcurves, None


def reduce_keys(times: Sequence[float], values: Sequence[float], tolerance: float) -> list[int]:
    """Indices of the keys to keep: first, last, and any that linear interpolation from the last
    kept key to the next key misses by more than ``tolerance``."""
    n = len(times)
    if n <= 2 or tolerance <= 0.0:
        return list(range(n))
    keep = [0]
    for i in range(1, n - 1):
        k = keep[-1]
        t0, t1 = times[k], times[i + 1]
        u = (times[i] - t0) / (t1 - t0) if t1 != t0 else 0.0
        guess = values[k] + u * (values[i + 1] - values[k])
        if abs(values[i] - guess) > tolerance:
            keep.append(i)
    keep.append(n - 1)
    return keep


def _write(fcurves: Any, path: str, index: int, group: str | None, times: Sequence[float],
           values: Sequence[float], tolerance: float) -> Any:  # fmt: skip
    keep = reduce_keys(times, values, tolerance)
    if not group:
        fc = fcurves.new(path, index=index)
    elif _slotted():
        fc = fcurves.new(path, index=index, group_name=group)
    else:  # Blender < 4.4: Action.fcurves.new(data_path, index, action_group)
        fc = fcurves.new(path, index=index, action_group=group)
    fc.keyframe_points.add(len(keep))
    co: list[float] = []
    for i in keep:
        co += (times[i], values[i])
    fc.keyframe_points.foreach_set("co", co)
    fc.keyframe_points.foreach_set("interpolation", [_LINEAR] * len(keep))
    fc.update()
    return fc


def _frame_times(frames: Sequence[VmcFrame], fps: float, start: float) -> list[float]:
    if all(f.t is not None for f in frames):
        t0 = frames[0].t
        return [start + (f.t - t0) * fps for f in frames]  # type: ignore[operator]
    a0 = frames[0].arrival
    return [start + (f.arrival - a0) * fps for f in frames]


def _resample(frames: Sequence[VmcFrame], times: list[float]) -> tuple[list[VmcFrame], list[float]]:
    """Whole frames from ceil(first) to floor(last), each the latest sample at or before it."""
    import math

    out_f: list[VmcFrame] = []
    out_t: list[float] = []
    j = 0
    for fr in range(math.ceil(times[0] - 1e-6), math.floor(times[-1] + 1e-6) + 1):
        while j + 1 < len(times) and times[j + 1] <= fr + 1e-6:
            j += 1
        out_f.append(frames[j])
        out_t.append(float(fr))
    return out_f, out_t


def bake_take(name: str, frames: Sequence[VmcFrame], rt: Retarget, settings: TakeSettings,
              scene: Any, hips_reference: Any = None) -> Any:  # fmt: skip
    """Key ``frames`` into a new Action ``name`` (see the module docstring); returns it."""
    if not frames:
        raise ValueError("the take is empty: no VMC frame arrived while recording")
    fps = scene.render.fps / scene.render.fps_base
    start = scene.frame_current if settings.start_frame is None else settings.start_frame
    times = _frame_times(frames, fps, float(start))
    if settings.resample:
        frames, times = _resample(frames, times)
    tol = settings.reduce_tolerance
    action = bpy.data.actions.new(name)
    action.use_fake_user = True
    arm_slot = None
    masks = settings.masks
    slots = [i for i, s in enumerate(rt.slots) if _in_mask(s.human, masks)]
    if rt.armature is not None and (slots or (rt.hips is not None and "body" in masks)):
        fcurves, arm_slot = _channels(action, "OBJECT", rt.armature.name)
        series = [rt.basis(f.bones, f.root) for f in frames]
        for i in slots:
            s = rt.slots[i]
            prev = None
            cols: list[list[float]] = [[], [], [], []]
            for per_frame in series:
                q = per_frame[i]
                if prev is not None and prev.dot(q) < 0.0:
                    q = -q
                prev = q
                for c in range(4):
                    cols[c].append(q[c])
            path = f'pose.bones["{s.pose_bone.name}"].rotation_quaternion'
            for c in range(4):
                _write(fcurves, path, c, s.pose_bone.name, times, cols[c], tol)
        if rt.hips is not None and "body" in masks:
            locs = [hips_offset(rt, f, hips_reference) for f in frames]
            path = f'pose.bones["{rt.hips.name}"].location'
            for c in range(3):
                _write(fcurves, path, c, rt.hips.name, times, [v[c] for v in locs], tol)
        _push(rt.armature, action, arm_slot, name, start, settings.push_to_nla)
    if rt.shape_keys and "face" in masks:
        key = next(iter(rt.shape_keys.values()))[0].id_data
        face_action = action
        if not _slotted():
            face_action = bpy.data.actions.new(f"{name}_face")
            face_action.use_fake_user = True
        fcurves, key_slot = _channels(face_action, "KEY", key.name)
        for src, blocks in rt.shape_keys.items():
            vals = [f.blends.get(src, 0.0) for f in frames]
            for kb in blocks:
                _write(fcurves, f'key_blocks["{kb.name}"].value', 0, None, times, vals, tol)
        _push(key, face_action, key_slot, name, start, settings.push_to_nla)
    return action


def _in_mask(human: str, masks: Iterable[str]) -> bool:
    part = "hands" if human in FINGER_BONES else "face" if human in FACE_BONES else "body"
    return part in masks


def _push(owner: Any, action: Any, slot: Any, name: str, start: float, push: bool) -> None:
    ad = owner.animation_data or owner.animation_data_create()
    if not push:
        ad.action = action
        if slot is not None:
            ad.action_slot = slot
        return
    track = ad.nla_tracks.get(NLA_TRACK) if hasattr(ad.nla_tracks, "get") else None
    if track is None:
        track = ad.nla_tracks.new()
        track.name = NLA_TRACK
    strip_start = int(start)
    for s in track.strips:  # strips on one track cannot overlap: put this take after the last
        strip_start = max(strip_start, int(s.frame_end) + 1)
    strip = track.strips.new(name, strip_start, action)
    if slot is not None:
        strip.action_slot = slot
