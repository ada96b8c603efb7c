"""Runs inside a subprocess with bpy (Blender as a module): builds rigs in code, receives VMC with
the add-on's headless API and prints one JSON result line (prefixed ``RESULT ``).

Usage: python blender_driver.py ADDON_DIR SCENARIO JSON_ARGS

Scenarios:
* ``live``: build a rig (args: rig = unity_t | mixamo_a | rigify, mesh = bool, port), print
  ``READY <port>``, then call ``step()`` until no frame arrived for ``idle_s``; after each
  applied frame sample the bones' world matrices and shape keys (for the test to compare).
* ``take``: same rig; record everything received into a take, print the keys of the Action.
* ``cost``: apply one received frame ``repeat`` times and report the step cost.

Kept out of the pytest process so bpy never loads beside MediaPipe.
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any

import bpy
from mathutils import Matrix, Vector

FINGERS = ("Thumb", "Index", "Middle", "Ring", "Little")
JOINTS = ("Proximal", "Intermediate", "Distal")

# Humanoid T-pose joint positions, Blender axes (metres, avatar facing −Y, +X its left):
# humanoid bone → (head, tail).
_L = {
    "Shoulder": ((0.03, 0.0, 1.42), (0.17, 0.0, 1.44)),
    "UpperArm": ((0.17, 0.0, 1.44), (0.45, 0.0, 1.44)),
    "LowerArm": ((0.45, 0.0, 1.44), (0.71, 0.0, 1.44)),
    "Hand": ((0.71, 0.0, 1.44), (0.79, 0.0, 1.44)),
    "UpperLeg": ((0.09, 0.0, 0.92), (0.09, 0.0, 0.50)),
    "LowerLeg": ((0.09, 0.0, 0.50), (0.09, 0.0, 0.08)),
    "Foot": ((0.09, 0.0, 0.08), (0.09, -0.12, 0.02)),
    "Toes": ((0.09, -0.12, 0.02), (0.09, -0.18, 0.02)),
    "Eye": ((0.032, -0.08, 1.66), (0.032, -0.10, 1.66)),
}
_FINGER_ROOT = {"Thumb": (0.72, -0.025, 1.43), "Index": (0.79, -0.025, 1.44), "Middle": (0.79, -0.005, 1.44),
                "Ring": (0.785, 0.015, 1.44), "Little": (0.775, 0.035, 1.44)}  # fmt: skip
_FINGER_LEN = {"Thumb": (0.035, 0.03, 0.025), "Index": (0.04, 0.025, 0.02), "Middle": (0.045, 0.028, 0.02),
               "Ring": (0.04, 0.026, 0.02), "Little": (0.03, 0.02, 0.018)}  # fmt: skip
_CENTER = {
    "Hips": ((0.0, 0.0, 0.95), (0.0, 0.0, 1.05)),
    "Spine": ((0.0, 0.0, 1.05), (0.0, 0.0, 1.17)),
    "Chest": ((0.0, 0.0, 1.17), (0.0, 0.0, 1.29)),
    "UpperChest": ((0.0, 0.0, 1.29), (0.0, 0.0, 1.41)),
    "Neck": ((0.0, 0.0, 1.41), (0.0, 0.0, 1.53)),
    "Head": ((0.0, 0.0, 1.53), (0.0, 0.0, 1.75)),
    "Jaw": ((0.0, -0.02, 1.58), (0.0, -0.09, 1.56)),
}
PARENTS: dict[str, str | None] = {}


def humanoid_joints() -> dict[str, tuple[Vector, Vector]]:
    """T-pose head/tail per humanoid bone (all 55)."""
    out: dict[str, tuple[Vector, Vector]] = {k: (Vector(h), Vector(t)) for k, (h, t) in _CENTER.items()}
    for side, sx in (("Left", 1.0), ("Right", -1.0)):
        for name, (h, t) in _L.items():
            out[f"{side}{name}"] = (Vector((sx * h[0], h[1], h[2])), Vector((sx * t[0], t[1], t[2])))
        for f in FINGERS:
            x, y, z = _FINGER_ROOT[f]
            head = Vector((sx * x, y, z))
            for j, length in zip(JOINTS, _FINGER_LEN[f], strict=True):
                # thumbs point out and forward (−Y), the others along the arm
                d = Vector((sx, -1.0, 0.0)).normalized() if f == "Thumb" else Vector((sx, 0.0, 0.0))
                tail = head + d * length
                out[f"{side}{f}{j}"] = (head, tail)
                head = tail
    return out


def a_pose(
    joints: dict[str, tuple[Vector, Vector]], degrees: float = 45.0
) -> dict[str, tuple[Vector, Vector]]:
    """Arms rotated down about the avatar's forward axis at the shoulder (upper arm head)."""
    out = dict(joints)
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        pivot = joints[f"{side}UpperArm"][0]
        rot = Matrix.Rotation(math.radians(sign * degrees), 3, "Y")
        chain = [f"{side}UpperArm", f"{side}LowerArm", f"{side}Hand"]
        chain += [f"{side}{f}{j}" for f in FINGERS for j in JOINTS]
        for b in chain:
            h, t = joints[b]
            out[b] = (pivot + rot @ (h - pivot), pivot + rot @ (t - pivot))
    return out


def build_armature(name: str, bone_names: dict[str, str], joints: dict[str, tuple[Vector, Vector]],
                   parents: dict[str, str | None], roll_deg: float = 0.0) -> Any:  # fmt: skip
    """An armature with the mapped humanoid bones (connected chain parents), in edit mode once."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    made: dict[str, Any] = {}
    for human, (head, tail) in joints.items():
        if human not in bone_names:
            continue
        eb = data.edit_bones.new(bone_names[human])
        eb.head, eb.tail = head, tail
        eb.roll = math.radians(roll_deg) * (1 + len(made) % 3)  # varied rolls: orientation-agnostic
        made[human] = eb
    for human, eb in made.items():
        p = parents.get(human)
        while p is not None and p not in made:
            p = parents.get(p)
        if p is not None:
            eb.parent = made[p]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def build_face(names: list[str]) -> Any:
    mesh = bpy.data.meshes.new("Face")
    verts = [(x * 0.01, 0.0, 1.6 + z * 0.01) for x in range(8) for z in range(8)]
    mesh.from_pydata(verts, [], [])
    obj = bpy.data.objects.new("Face", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for i, n in enumerate(names):
        kb = obj.shape_key_add(name=n, from_mix=False)
        kb.data[i % 64].co.y -= 0.01
    return obj


def build_rigify() -> Any:
    import addon_utils

    if addon_utils.enable("rigify", default_set=True, handle_error=lambda exc: print("rigify:", exc)) is None:
        raise SystemExit("rigify add-on could not be enabled")
    bpy.ops.object.armature_human_metarig_add()
    meta = bpy.context.view_layer.objects.active
    bpy.ops.pose.rigify_generate()
    rig = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE" and o is not meta)
    meta.hide_set(True)
    return rig


def setup(api: Any, args: dict[str, Any]) -> tuple[Any, Any]:
    from mocap_bridge_blender import rigs

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = int(args.get("fps", 30))
    kinds = {k.name: k for k in rigs.load_bone_maps()}
    rig = args["rig"]
    if rig == "unity_t":
        arm = build_armature("Unity", dict(kinds["unity_humanoid"].bones), humanoid_joints(), rigs.PARENT)
    elif rig == "mixamo_a":
        arm = build_armature("Mixamo", dict(kinds["mixamo"].bones), a_pose(humanoid_joints()), rigs.PARENT,
                             roll_deg=30.0)  # fmt: skip
        arm.rotation_euler = (0.0, 0.0, math.radians(float(args.get("yaw_deg", 0.0))))
    elif rig == "rigify":
        arm = build_rigify()
    else:
        raise SystemExit(f"unknown rig {rig}")
    mesh = build_face(list(rigs.ARKIT_NAMES)) if args.get("mesh") else None
    bpy.context.view_layer.update()
    return arm, mesh


def sample(arm: Any, bone_map: dict[str, str], mesh: Any) -> dict[str, Any]:
    """World-space bone directions (head → tail) and shape-key values after the last step()."""
    bpy.context.view_layer.update()
    mw = arm.matrix_world
    dirs = {}
    for human, name in bone_map.items():
        pb = arm.pose.bones[name]
        head = mw @ pb.head
        tail = mw @ pb.tail
        dirs[human] = list((tail - head).normalized())
    keys = {}
    if mesh is not None:
        keys = {kb.name: kb.value for kb in mesh.data.shape_keys.key_blocks}
    return {"dirs": dirs, "keys": keys}


def main() -> None:
    addon_dir, scenario, raw = sys.argv[1], sys.argv[2], sys.argv[3]
    args = json.loads(raw)
    sys.path.insert(0, addon_dir)
    from mocap_bridge_blender import api

    arm, mesh = setup(api, args)
    rx = api.start("127.0.0.1", int(args.get("port", 0)), arm, mesh, hips_motion=bool(args.get("hips")))
    port = rx.stats()["address"].rsplit(":", 1)[1]
    bone_map = dict(rx.bone_map)
    print(f"READY {port}", flush=True)
    idle_s = float(args.get("idle_s", 3.0))
    first_wait_s = float(args.get("first_wait_s", 120.0))
    samples: list[dict[str, Any]] = []
    if scenario == "take":
        rx.record_start(args.get("take", "slate_001"))
    last = time.monotonic()
    got_any = False
    while True:
        n = rx.step()
        now = time.monotonic()
        if n:
            got_any, last = True, now
            if scenario == "live":
                s = sample(arm, bone_map, mesh)
                s["t"] = rx.stats()["last_sender_time"]
                s["step_ms"] = rx.stats()["last_step_ms"]
                samples.append(s)
        elif now - last > (idle_s if got_any else first_wait_s):
            break
        else:
            time.sleep(0.0005)
    result: dict[str, Any] = {"stats": rx.stats(), "bone_map": bone_map, "rig_kind": rx.rig_kind}
    if scenario == "live":
        result["samples"] = samples
    elif scenario == "take":
        action = rx.record_stop()
        result["action"] = describe_action(action, arm)
    elif scenario == "cost":
        result["cost_ms"] = measure_cost(rx, int(args.get("repeat", 300)))
    rx.stop()
    print("RESULT " + json.dumps(result), flush=True)


def describe_action(action: Any, arm: Any) -> dict[str, Any]:
    """Key times and values per F-Curve (armature and shape-key channels)."""
    from bpy_extras import anim_utils

    curves: dict[str, Any] = {}
    bags = []
    if "slots" in bpy.types.Action.bl_rna.properties:
        bags = [anim_utils.action_get_channelbag_for_slot(action, s) for s in action.slots]
    else:
        bags = [action] + [a for a in bpy.data.actions if a.name == f"{action.name}_face"]
    for bag in bags:
        for fc in bag.fcurves:
            co = [0.0] * (2 * len(fc.keyframe_points))
            fc.keyframe_points.foreach_get("co", co)
            curves[f"{fc.data_path}[{fc.array_index}]"] = co
    tracks = [t.name for t in (arm.animation_data.nla_tracks if arm.animation_data else [])]
    return {"name": action.name, "curves": curves, "nla_tracks": tracks,
            "fps": bpy.context.scene.render.fps, "frame_start": bpy.context.scene.frame_current}  # fmt: skip


def measure_cost(rx: Any, repeat: int) -> list[float]:
    """Apply the latest frame ``repeat`` times (as a new frame each time) and time each step."""
    out = []
    frame = rx.last_frame
    if frame is None:
        return out
    for _ in range(repeat):
        rx._applied_seq = frame.seq - 1  # the same frame counts as new: a full apply each time
        rx.step()
        out.append(rx.stats()["last_step_ms"])
    return out


if __name__ == "__main__":
    main()
