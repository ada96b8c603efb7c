"""Sidebar panel (View3D > Sidebar > Mocap) and operators; every action goes through :mod:`.api`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from . import api, rigs

# bpy has no type stubs: its base classes are Any to mypy, hence the ignores on the classes below.
from .takes import TakeSettings, take_name


def _is_armature(_self: Any, obj: Any) -> bool:
    return bool(obj.type == "ARMATURE")


def _has_shape_keys(_self: Any, obj: Any) -> bool:
    return bool(obj.type == "MESH" and obj.data.shape_keys is not None)


class MOCAPBRIDGE_PG_bone(bpy.types.PropertyGroup):  # type: ignore[misc]
    human: StringProperty(name="Humanoid bone")  # type: ignore[valid-type]
    bone: StringProperty(name="Rig bone")  # type: ignore[valid-type]


class MOCAPBRIDGE_PG_settings(bpy.types.PropertyGroup):  # type: ignore[misc]
    host: StringProperty(name="Address", default="127.0.0.1")  # type: ignore[valid-type]
    port: IntProperty(name="Port", default=39539, min=1, max=65535)  # type: ignore[valid-type]
    armature: PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature)  # type: ignore[valid-type]
    mesh: PointerProperty(name="Face mesh", type=bpy.types.Object, poll=_has_shape_keys)  # type: ignore[valid-type]
    hips_motion: BoolProperty(name="Hips translation", default=False)  # type: ignore[valid-type]
    slate: StringProperty(name="Slate", default="take")  # type: ignore[valid-type]
    take: IntProperty(name="Take", default=1, min=1)  # type: ignore[valid-type]
    take_override: StringProperty(name="Name", description="Action name (empty: <slate>_<take>)")  # type: ignore[valid-type]
    record_body: BoolProperty(name="Body", default=True)  # type: ignore[valid-type]
    record_hands: BoolProperty(name="Hands", default=True)  # type: ignore[valid-type]
    record_face: BoolProperty(name="Face", default=True)  # type: ignore[valid-type]
    resample: BoolProperty(name="Whole frames", description="Key on scene frames instead of sender times")  # type: ignore[valid-type]
    reduce: FloatProperty(name="Key reduction", default=0.0, min=0.0, max=0.1, precision=4)  # type: ignore[valid-type]
    bone_map: CollectionProperty(type=MOCAPBRIDGE_PG_bone)  # type: ignore[valid-type]
    show_map: BoolProperty(name="Bone map", default=False)  # type: ignore[valid-type]


def _settings(context: Any) -> Any:
    return context.scene.mocap_bridge


def _take_settings(s: Any) -> TakeSettings:
    masks = {
        m for m, on in (("body", s.record_body), ("hands", s.record_hands), ("face", s.record_face)) if on
    }
    return TakeSettings(masks=frozenset(masks), resample=s.resample, reduce_tolerance=s.reduce)


class MOCAPBRIDGE_OT_start(bpy.types.Operator):  # type: ignore[misc]
    bl_idname = "mocap_bridge.start"
    bl_label = "Start receiving"
    bl_description = "Listen for VMC and drive the armature and face mesh"

    def execute(self, context: Any) -> set[str]:
        s = _settings(context)
        if api.current() is not None:
            api.current().stop()  # type: ignore[union-attr]
        try:
            rx = api.start(s.host, s.port, s.armature, s.mesh, hips_motion=s.hips_motion, scene=context.scene)
        except (OSError, LookupError) as exc:
            self.report({"ERROR"}, f"mocap_bridge: {exc}")
            return {"CANCELLED"}
        if rx.rt.armature is not None:
            s.armature = rx.rt.armature
            _fill_map(s, rx.bone_map)
        if s.mesh is None and rx.face_mesh is not None:
            s.mesh = rx.face_mesh
        rx.take_settings = _take_settings(s)
        api.run_timer(rx)
        return {"FINISHED"}


class MOCAPBRIDGE_OT_stop(bpy.types.Operator):  # type: ignore[misc]
    bl_idname = "mocap_bridge.stop"
    bl_label = "Stop"

    def execute(self, context: Any) -> set[str]:
        rx = api.current()
        if rx is not None:
            rx.stop()
        return {"FINISHED"}


class MOCAPBRIDGE_OT_record(bpy.types.Operator):  # type: ignore[misc]
    bl_idname = "mocap_bridge.record"
    bl_label = "Record"
    bl_description = "Start a take, or stop it and key it into a new Action on the NLA"

    def execute(self, context: Any) -> set[str]:
        s = _settings(context)
        rx = api.current()
        if rx is None:
            self.report({"ERROR"}, "mocap_bridge: start receiving first")
            return {"CANCELLED"}
        if not rx.recording:
            rx.take_settings = _take_settings(s)
            rx.record_start(s.take_override or take_name(s.slate, s.take))
            return {"FINISHED"}
        try:
            action = rx.record_stop()
        except ValueError as exc:
            self.report({"WARNING"}, f"mocap_bridge: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"mocap_bridge: take {action.name} recorded")
        s.take += 1
        s.take_override = ""
        return {"FINISHED"}


class MOCAPBRIDGE_OT_calibrate(bpy.types.Operator):  # type: ignore[misc]
    bl_idname = "mocap_bridge.calibrate"
    bl_label = "Calibrate rest pose"
    bl_description = (
        "Pose the rig in a T-pose first; stores per-bone offsets for rigs resting in neither T nor A"
    )

    def execute(self, context: Any) -> set[str]:
        rx = api.current()
        if rx is None or rx.rt.armature is None:
            self.report({"ERROR"}, "mocap_bridge: start receiving on an armature first")
            return {"CANCELLED"}
        rx.calibrate_rest_pose()
        return {"FINISHED"}


class MOCAPBRIDGE_OT_detect(bpy.types.Operator):  # type: ignore[misc]
    bl_idname = "mocap_bridge.detect_map"
    bl_label = "Detect bone map"

    def execute(self, context: Any) -> set[str]:
        s = _settings(context)
        arm = s.armature or api.find_armature(context.scene)
        if arm is None:
            self.report({"ERROR"}, "mocap_bridge: no armature in the scene")
            return {"CANCELLED"}
        try:
            kind = rigs.detect_rig(arm)
        except LookupError as exc:
            self.report({"ERROR"}, f"mocap_bridge: {exc}")
            return {"CANCELLED"}
        s.armature = arm
        arm.pop(api.BONE_MAP_PROP, None)
        _fill_map(s, kind.bones)
        self.report({"INFO"}, f"mocap_bridge: {kind.name} rig, {len(kind.bones)} bones")
        return {"FINISHED"}


class MOCAPBRIDGE_OT_apply_map(bpy.types.Operator):  # type: ignore[misc]
    bl_idname = "mocap_bridge.apply_map"
    bl_label = "Use this map"
    bl_description = "Store the edited bone map on the armature and re-resolve the rig"

    def execute(self, context: Any) -> set[str]:
        s = _settings(context)
        if s.armature is None:
            return {"CANCELLED"}
        m = {item.human: item.bone for item in s.bone_map if item.bone}
        s.armature[api.BONE_MAP_PROP] = json.dumps(m)
        rx = api.current()
        if rx is not None:
            rx.bind(s.armature, s.mesh or api.find_face_mesh(context.scene))
        return {"FINISHED"}


def _fill_map(s: Any, bones: Mapping[str, str]) -> None:
    s.bone_map.clear()
    for human in rigs.BONE_ORDER:
        item = s.bone_map.add()
        item.human = human
        item.bone = bones.get(human, "")


class MOCAPBRIDGE_PT_panel(bpy.types.Panel):  # type: ignore[misc]
    bl_label = "mocap_bridge"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Mocap"

    def draw(self, context: Any) -> None:
        s = _settings(context)
        rx = api.current()
        col = self.layout.column()
        row = col.row(align=True)
        row.prop(s, "host")
        row.prop(s, "port")
        col.prop(s, "armature")
        col.prop(s, "mesh")
        col.prop(s, "hips_motion")
        if rx is None:
            col.operator(MOCAPBRIDGE_OT_start.bl_idname, icon="PLAY")
        else:
            st = rx.stats()
            col.operator(MOCAPBRIDGE_OT_stop.bl_idname, icon="PAUSE")
            box = col.box()
            box.label(
                text=f"{st['address']}  rig: {st['rig_kind']}  bones {st['bones']}  keys {st['shape_keys']}"
            )
            box.label(text=f"frames {st['frames_received']} applied {st['frames_applied']} "
                           f"dropped {st['frames_dropped']}")  # fmt: skip
            box.label(text=f"step {st['last_step_ms']:.2f} ms (mean {st['mean_step_ms']:.2f} ms)")
            col.operator(MOCAPBRIDGE_OT_calibrate.bl_idname)
        take = col.box()
        row = take.row(align=True)
        row.prop(s, "slate")
        row.prop(s, "take")
        take.prop(s, "take_override")
        row = take.row(align=True)
        row.prop(s, "record_body", toggle=True)
        row.prop(s, "record_hands", toggle=True)
        row.prop(s, "record_face", toggle=True)
        row = take.row(align=True)
        row.prop(s, "resample")
        row.prop(s, "reduce")
        recording = rx is not None and rx.recording
        take.operator(MOCAPBRIDGE_OT_record.bl_idname, text="Stop take" if recording else "Record take",
                      icon="SNAP_FACE" if recording else "REC", depress=recording)  # fmt: skip
        col.prop(s, "show_map", icon="TRIA_DOWN" if s.show_map else "TRIA_RIGHT", emboss=False)
        if s.show_map:
            box = col.box()
            box.operator(MOCAPBRIDGE_OT_detect.bl_idname)
            if s.armature is not None:
                for item in s.bone_map:
                    box.prop_search(item, "bone", s.armature.data, "bones", text=item.human)
                box.operator(MOCAPBRIDGE_OT_apply_map.bl_idname)


_CLASSES = (
    MOCAPBRIDGE_PG_bone,
    MOCAPBRIDGE_PG_settings,
    MOCAPBRIDGE_OT_start,
    MOCAPBRIDGE_OT_stop,
    MOCAPBRIDGE_OT_record,
    MOCAPBRIDGE_OT_calibrate,
    MOCAPBRIDGE_OT_detect,
    MOCAPBRIDGE_OT_apply_map,
    MOCAPBRIDGE_PT_panel,
)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.mocap_bridge = PointerProperty(type=MOCAPBRIDGE_PG_settings)


def unregister() -> None:
    rx = api.current()
    if rx is not None:
        rx.stop()
    del bpy.types.Scene.mocap_bridge
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
