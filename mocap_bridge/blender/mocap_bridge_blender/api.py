"""Headless API: what the panel's operators and the timer call, usable from scripts and tests.

::

    from mocap_bridge_blender import api
    rx = api.start()                 # 127.0.0.1:39539, armature/mesh auto-detected in the scene
    api.run_timer(rx)                # apply at the scene fps (UI sessions; background runs no timers)
    rx.record_start("slate_001"); ...; action = rx.record_stop()
    rx.stop()
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import bpy

from . import rigs
from .receiver import UdpListener, VmcFrame
from .takes import MASKS, NLA_TRACK, TakeSettings, bake_take

__all__ = ["Receiver", "current", "find_armature", "find_face_mesh", "run_timer", "start"]

_current: Receiver | None = None


def current() -> Receiver | None:
    """The receiver the panel started (one per Blender session), if running."""
    return _current


def find_armature(scene: Any) -> Any | None:
    """The selected/active armature, else the scene's armature with the most known bone names."""
    active = bpy.context.view_layer.objects.active if bpy.context.view_layer else None
    if active is not None and active.type == "ARMATURE":
        return active
    best, score = None, -1
    for obj in scene.objects:
        if obj.type != "ARMATURE":
            continue
        try:
            n = len(rigs.detect_rig(obj).bones)
        except LookupError:
            n = 0
        if n > score:
            best, score = obj, n
    return best


def find_face_mesh(scene: Any) -> Any | None:
    """The scene's mesh whose shape keys match the most ARKit / VRM names."""
    best, score = None, 0
    for obj in scene.objects:
        keys = obj.data.shape_keys if obj.type == "MESH" else None
        if keys is None:
            continue
        n = len(rigs.match_shape_keys(kb.name for kb in keys.key_blocks))
        if n > score:
            best, score = obj, n
    return best


def _stored_map(obj: Any, prop: str) -> dict[str, Any]:
    """An edited map kept on the object by the panel (a JSON string property)."""
    import json

    raw = obj.get(prop) if obj is not None else None
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


BONE_MAP_PROP = "mocap_bridge_bone_map"
SHAPE_MAP_PROP = "mocap_bridge_shape_map"
OFFSETS_PROP = "mocap_bridge_rest_offsets"


class Receiver:
    """A running VMC Marionette bound to one armature and one face mesh."""

    def __init__(self, listener: UdpListener, scene: Any, armature: Any | None, mesh: Any | None,
                 hips_motion: bool) -> None:  # fmt: skip
        self._listener = listener
        self.scene = scene
        self.hips_motion = hips_motion
        self.take_settings = TakeSettings()
        self._applied_seq = 0
        self._applied = 0
        self._dropped = 0
        self._last_ms = 0.0
        self._total_ms = 0.0
        self._last_t: float | None = None
        self._hips_ref: Any = None
        self._recording: str | None = None
        self._timer: Any = None
        self.rig_kind = "none"
        self.rt = rigs.resolve(None, None, None, None)
        self.bind(armature, mesh)

    # -- rig binding (resolved once; call again when the rig or the maps change) -------------
    def bind(self, armature: Any | None, mesh: Any | None, bone_map: Mapping[str, str] | None = None,
             shape_map: Mapping[str, list[str]] | None = None) -> None:  # fmt: skip
        """Resolve the bone map, rest matrices and shape keys (detected unless given or stored)."""
        kind = "custom"
        if armature is not None and bone_map is None:
            bone_map = _stored_map(armature, BONE_MAP_PROP) or None
            if bone_map is None:
                detected = rigs.detect_rig(armature)
                bone_map, kind = dict(detected.bones), detected.name
        if armature is not None and rigs.is_rigify_generated(armature):
            kind = "rigify"  # also for an edited map: the FK setup and ORG-/DEF- lookups apply
            _rigify_fk(armature)
        if mesh is not None and shape_map is None:
            shape_map = _stored_map(mesh, SHAPE_MAP_PROP) or rigs.match_shape_keys(
                kb.name for kb in mesh.data.shape_keys.key_blocks
            )
        offsets = None
        if armature is not None:
            from mathutils import Quaternion

            stored = _stored_map(armature, OFFSETS_PROP)
            offsets = {k: Quaternion(v) for k, v in stored.items()} or None
        self.rt = rigs.resolve(armature, bone_map, mesh, shape_map, offsets, kind, self.hips_motion)
        self.rig_kind = kind
        self.bone_map = dict(bone_map or {})
        self.shape_map = {k: list(v) for k, v in (shape_map or {}).items()}
        self._hips_ref = None
        self._mute_takes(True)

    def calibrate_rest_pose(self) -> None:
        """Store per-bone offsets from the rig's current pose, which the user set to a T-pose."""
        import json

        arm = self.rt.armature
        if arm is None:
            raise RuntimeError("no armature bound")
        bpy.context.view_layer.update()  # pose matrices of what the user just posed
        offs = rigs.calibrate(arm, self.bone_map)
        arm[OFFSETS_PROP] = json.dumps({k: list(q) for k, q in offs.items()})
        for name in self.bone_map.values():
            pb = arm.pose.bones.get(name)
            if pb is not None:
                pb.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
                pb.rotation_euler = (0.0, 0.0, 0.0)
        self.bind(arm, _mesh_of(self.rt), self.bone_map, self.shape_map)

    # -- per tick -------------------------------------------------------------------------------
    def step(self) -> int:
        """Apply the latest complete frame if a new one arrived; the number of frames applied."""
        frame = self._listener.latest()
        if frame is None or frame.seq == self._applied_seq:
            return 0
        t0 = time.perf_counter()
        self._apply(frame)
        self._last_ms = (time.perf_counter() - t0) * 1000.0
        self._total_ms += self._last_ms
        self._dropped += max(0, frame.seq - self._applied_seq - 1)
        self._applied_seq = frame.seq
        self._applied += 1
        self._last_t = frame.t
        return 1

    def _apply(self, frame: VmcFrame) -> None:
        rt = self.rt
        if rt.slots:
            for s, q in zip(rt.slots, rt.basis(frame.bones, frame.root), strict=True):
                s.pose_bone.rotation_quaternion = q
        if rt.hips is not None:
            if self._hips_ref is None:
                self._hips_ref = rigs.hips_world(frame)
            rt.hips.location = rigs.hips_offset(rt, frame, self._hips_ref)
        if rt.shape_keys:
            keys = rt.shape_keys
            for name, value in frame.blends.items():
                blocks = keys.get(name)
                if blocks is not None:
                    for kb in blocks:
                        kb.value = value

    @property
    def face_mesh(self) -> Any | None:
        """The mesh whose shape keys are driven, if any."""
        return _mesh_of(self.rt)

    @property
    def last_frame(self) -> VmcFrame | None:
        return self._listener.latest()

    # -- takes ---------------------------------------------------------------------------------
    def record_start(self, name: str) -> None:
        """Buffer every frame from now on (in the socket thread) for :meth:`record_stop`."""
        if not name:
            raise ValueError("a take needs a name")
        self._recording = name
        self._listener.record_start()

    def record_stop(self) -> Any:
        """Key the buffered frames into a new Action (see :mod:`.takes`); returns it."""
        if self._recording is None:
            raise RuntimeError("not recording")
        name, self._recording = self._recording, None
        frames = self._listener.record_stop()
        ref = self._hips_ref
        if ref is None and frames:
            ref = rigs.hips_world(frames[0])
        action = bake_take(name, frames, self.rt, self.take_settings, self.scene, ref)
        self._mute_takes(True)
        return action

    @property
    def recording(self) -> bool:
        return self._recording is not None

    def _mute_takes(self, mute: bool) -> None:
        """Recorded takes sit on the NLA; muted while live so they do not override the stream."""
        owners = [self.rt.armature, _key_of(self.rt)]
        for owner in owners:
            ad = getattr(owner, "animation_data", None)
            if ad is None:
                continue
            for track in ad.nla_tracks:
                if track.name == NLA_TRACK:
                    track.mute = mute

    # -- info / lifetime ------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        li = self._listener
        return {
            "frames_received": li.frames_received,
            "frames_applied": self._applied,
            "frames_dropped": self._dropped,
            "last_step_ms": self._last_ms,
            "mean_step_ms": self._total_ms / self._applied if self._applied else 0.0,
            "last_sender_time": self._last_t,
            "bad_messages": li.bad_datagrams,
            "datagrams": li.datagrams,
            "bones": len(self.rt.slots),
            "shape_keys": sum(len(v) for v in self.rt.shape_keys.values()),
            "rig_kind": self.rig_kind,
            "address": f"{li.address[0]}:{li.address[1]}",
            "recording": self._recording,
        }

    def stop(self) -> None:
        """Stop the timer and the socket thread; recorded takes become audible on the NLA again."""
        global _current
        if self._recording is not None:
            self._listener.record_stop()
            self._recording = None
        if self._timer is not None and bpy.app.timers.is_registered(self._timer):
            bpy.app.timers.unregister(self._timer)
        self._timer = None
        self._listener.close()
        self._mute_takes(False)
        if _current is self:
            _current = None


def _mesh_of(rt: rigs.Retarget) -> Any | None:
    key = _key_of(rt)
    if key is None:
        return None
    for obj in bpy.data.objects:
        if obj.type == "MESH" and obj.data.shape_keys == key:
            return obj
    return None


def _key_of(rt: rigs.Retarget) -> Any | None:
    for blocks in rt.shape_keys.values():
        return blocks[0].id_data
    return None


def _rigify_fk(armature: Any) -> None:
    """Make a Rigify rig a plain FK hierarchy, which is what the retarget drives: limbs in FK and
    (``IK_FK`` = 1; ``FK_limb_follow`` stays 0: the limb follows its parent), neck and head
    following the chest (``neck_follow``, ``head_follow`` = 1)."""
    for pb in armature.pose.bones:
        for prop in ("IK_FK", "neck_follow", "head_follow"):
            if prop in pb:
                pb[prop] = 1.0


def start(host: str = "127.0.0.1", port: int = 39539, armature: Any = None, mesh: Any = None,
          *, hips_motion: bool = False, scene: Any = None) -> Receiver:  # fmt: skip
    """Listen for VMC on ``host:port`` and bind ``armature``/``mesh`` (None: auto-detect)."""
    global _current
    scene = bpy.context.scene if scene is None else scene
    armature = find_armature(scene) if armature is None else armature
    mesh = find_face_mesh(scene) if mesh is None else mesh
    listener = UdpListener(host, port)
    try:
        rx = Receiver(listener, scene, armature, mesh, hips_motion)
    except BaseException:
        listener.close()
        raise
    _current = rx
    return rx


def _redraw_sidebars() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm is not None else ():
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def run_timer(rx: Receiver) -> None:
    """Call ``rx.step()`` from ``bpy.app.timers`` at the scene's frame rate."""

    last_redraw = [0.0]

    def tick() -> float | None:
        if rx._timer is None:
            return None
        try:
            rx.step()
            now = time.perf_counter()
            if now - last_redraw[0] > 0.25:  # refresh the panel's figures a few times a second
                last_redraw[0] = now
                _redraw_sidebars()
        except ReferenceError:  # the armature or mesh was deleted: stop cleanly
            rx.stop()
            return None
        fps = float(rx.scene.render.fps / rx.scene.render.fps_base)
        return 1.0 / max(1.0, fps)

    rx._timer = tick
    bpy.app.timers.register(tick, first_interval=0.0, persistent=True)


__all__ += ["MASKS", "TakeSettings"]
