"""Runs inside a subprocess with bpy (Blender as a module): builds rigs in code, receives VMC with
the add-on's headless API and prints one JSON result line (prefixed ``RESULT ``).

Usage: python blender_driver.py ADDON_DIR JSON_ARGS

``JSON_ARGS["receivers"]``: one receiver per entry, each on its own ephemeral port, with
``rig`` (unity_t: Unity names in T-pose; mixamo_a: Mixamo names in A-pose with rolled bones;
rigify: a generated Rigify rig; or null), ``mesh`` (arkit: the 52 ARKit shape keys; vrm: VRoid
``Fcl_*`` keys; or null), ``yaw_deg`` (the armature object turned about Z), ``record`` (a take
name: record everything received), ``cost_repeat`` (apply the last frame N more times, timed).

Prints ``READY <port> <port>...``, calls every receiver's ``step()`` until no frame arrived for
``idle_s``; after each applied frame samples the bones' world directions and the shape keys.

Kept out of the pytest process so bpy never loads beside MediaPipe.
"""

from __future__ import annotations

import json
import math
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import bpy
from mathutils import Matrix, Vector

ARKIT = (
    "eyeBlinkLeft",
    "eyeLookDownLeft",
    "eyeLookInLeft",
    "eyeLookOutLeft",
    "eyeLookUpLeft",
    "eyeSquintLeft",
    "eyeWideLeft",
    "eyeBlinkRight",
    "eyeLookDownRight",
    "eyeLookInRight",
    "eyeLookOutRight",
    "eyeLookUpRight",
    "eyeSquintRight",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawRight",
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthLeft",
    "mouthRight",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "noseSneerLeft",
    "noseSneerRight",
    "tongueOut",
)  # fmt: skip  (typed out here so the test rig does not depend on the add-on's own table)

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


VRM_KEYS = ["Fcl_MTH_A", "Fcl_MTH_I", "Fcl_MTH_U", "Fcl_MTH_E", "Fcl_MTH_O", "Fcl_EYE_Close", "Fcl_ALL_Joy"]


MAPS = Path(__file__).resolve().parents[1] / "retarget_maps"


def bone_names(map_file: str) -> dict[str, str]:
    """Humanoid → rig bone names from the repository's retarget map (not the add-on's copy)."""
    return dict(tomllib.loads((MAPS / map_file).read_text(encoding="utf-8"))["bones"])


def humanoid_parents() -> dict[str, str | None]:
    """Unity humanoid hierarchy, typed out here for the test rigs."""
    p: dict[str, str | None] = {"Hips": None, "Spine": "Hips", "Chest": "Spine", "UpperChest": "Chest",
                                "Neck": "UpperChest", "Head": "Neck", "Jaw": "Head"}  # fmt: skip
    for s in ("Left", "Right"):
        p |= {f"{s}Eye": "Head", f"{s}Shoulder": "UpperChest", f"{s}UpperArm": f"{s}Shoulder",
              f"{s}LowerArm": f"{s}UpperArm", f"{s}Hand": f"{s}LowerArm", f"{s}UpperLeg": "Hips",
              f"{s}LowerLeg": f"{s}UpperLeg", f"{s}Foot": f"{s}LowerLeg", f"{s}Toes": f"{s}Foot"}  # fmt: skip
        for f in FINGERS:
            p |= {f"{s}{f}Proximal": f"{s}Hand", f"{s}{f}Intermediate": f"{s}{f}Proximal",
                  f"{s}{f}Distal": f"{s}{f}Intermediate"}  # fmt: skip
    return p


def build_rig(spec: dict[str, Any], index: int) -> Any:
    rig = spec["rig"]
    if rig == "unity_t":
        arm = build_armature(f"Unity{index}", bone_names("unity.toml"), humanoid_joints(), humanoid_parents())
    elif rig == "mixamo_a":
        bones = bone_names("mixamo.toml")
        arm = build_armature(
            f"Mixamo{index}", bones, a_pose(humanoid_joints()), humanoid_parents(), roll_deg=30.0
        )
    elif rig == "rigify":
        arm = build_rigify()
    else:
        raise SystemExit(f"unknown rig {rig}")
    arm.location.x = 2.0 * index
    arm.rotation_euler = (0.0, 0.0, math.radians(float(spec.get("yaw_deg", 0.0))))
    return arm


def rigify_available() -> bool:
    import addon_utils

    return any(m.__name__ == "rigify" for m in addon_utils.modules())


def install_main(args: dict[str, Any]) -> None:
    """Install the zip as a user would (legacy add-on or 4.2+ extension), then use the panel's
    operators: start on a Mixamo rig + ARKit face (auto-detected), apply what arrives, record."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if args["install"] == "legacy":
        assert bpy.ops.preferences.addon_install(filepath=args["zip"]) == {"FINISHED"}
        assert bpy.ops.preferences.addon_enable(module="mocap_bridge_blender") == {"FINISHED"}
        module = "mocap_bridge_blender"
    else:
        res = bpy.ops.extensions.package_install_files(
            filepath=args["zip"], repo="user_default", enable_on_install=True
        )
        assert res == {"FINISHED"}, res
        module = "bl_ext.user_default.mocap_bridge_blender"
    api = sys.modules[module + ".api"]
    arm = build_rig({"rig": "mixamo_a"}, 0)
    mesh = build_face(list(ARKIT))
    bpy.context.view_layer.objects.active = None  # let the add-on find the rig itself
    bpy.context.view_layer.update()
    settings = bpy.context.scene.mocap_bridge
    settings.port = int(args["port"])
    settings.slate = "slate"
    assert bpy.ops.mocap_bridge.start() == {"FINISHED"}
    rx = api.current()
    print("READY " + rx.stats()["address"].rsplit(":", 1)[1], flush=True)
    assert bpy.ops.mocap_bridge.record() == {"FINISHED"} and rx.recording
    deadline = time.monotonic() + 60.0
    while rx.stats()["frames_applied"] < int(args["frames"]) and time.monotonic() < deadline:
        if not rx.step():  # what the timer calls (background Blender runs no timers)
            time.sleep(0.001)
    st = rx.stats()
    assert bpy.ops.mocap_bridge.record() == {"FINISHED"}
    action = bpy.data.actions.get("slate_001")
    jaw = mesh.data.shape_keys.key_blocks["jawOpen"].value
    arm_q = list(arm.pose.bones["mixamorig:LeftArm"].rotation_quaternion)
    take = settings.take
    assert bpy.ops.mocap_bridge.stop() == {"FINISHED"}
    out = {"stats": st, "action": action.name if action else None, "next_take": take, "jaw": jaw,
           "arm_q": arm_q, "stopped": api.current() is None, "armature": settings.armature.name,
           "map_rows": len(settings.bone_map), "mesh": mesh.name}  # fmt: skip
    print("RESULT " + json.dumps(out), flush=True)


class FakeListener:
    """Stands in for the socket thread (``UdpListener``): frames are pushed by the check."""

    def __init__(self) -> None:
        self.frame: Any = None
        self.frames_received = 0
        self.datagrams = 0
        self.bad_datagrams = 0
        self.address = ("127.0.0.1", 0)
        self.buffer: list[Any] | None = None

    def push(self, frame: Any) -> None:
        self.frame = frame
        self.frames_received += 1
        if self.buffer is not None:
            self.buffer.append(frame)

    def latest(self) -> Any:
        return self.frame

    def record_start(self) -> None:
        self.buffer = []

    def record_stop(self) -> list[Any]:
        out, self.buffer = self.buffer or [], None
        return out

    def close(self) -> None:
        pass


def _frame(
    seq: int, t: float, bones: dict[str, tuple[float, ...]], blends: dict[str, float] | None = None
) -> Any:
    from mocap_bridge_blender.receiver import VmcFrame

    return VmcFrame(seq, t, 0.0, (0.0,) * 6 + (1.0,), bones, blends or {}, 1)


def _random_bones(seed: int) -> dict[str, tuple[float, ...]]:
    import random

    from mathutils import Quaternion

    rng = random.Random(seed)
    out: dict[str, tuple[float, ...]] = {}
    for h in humanoid_parents():
        q = Quaternion((1.0, rng.gauss(0, 0.35), rng.gauss(0, 0.35), rng.gauss(0, 0.35))).normalized()
        out[h] = (0.0, 0.1, 0.0, q.x, q.y, q.z, q.w)
    return out


def _world_rotations(arm: Any, names: dict[str, str]) -> dict[str, Any]:
    bpy.context.view_layer.update()
    w = arm.matrix_world.to_3x3().normalized()
    return {h: (w @ arm.pose.bones[b].matrix.to_3x3()).to_quaternion() for h, b in names.items()}


def check_calibrate(api: Any) -> dict[str, Any]:
    """A rig resting in neither T nor A (every bone turned at random about its head), posed back
    to the T-pose by hand and calibrated, moves exactly like the T-pose rig (full orientation)."""
    import random

    from mathutils import Quaternion

    names = bone_names("unity.toml")
    parents = humanoid_parents()
    ref = build_armature("Ref", names, humanoid_joints(), parents)
    odd = build_armature("Odd", names, humanoid_joints(), parents)
    t_matrices = {b.name: b.matrix_local.copy() for b in odd.data.bones}
    rng = random.Random(7)
    bpy.context.view_layer.objects.active = odd
    bpy.ops.object.mode_set(mode="EDIT")
    for human in sorted(names, key=lambda h: _depth(parents, h)):  # parents first: turn each subtree
        eb = odd.data.edit_bones[names[human]]
        rot = Quaternion((1.0, rng.gauss(0, 0.3), rng.gauss(0, 0.3), rng.gauss(0, 0.3))).normalized()
        pivot = eb.head.copy()
        m = Matrix.Translation(pivot) @ rot.to_matrix().to_4x4() @ Matrix.Translation(-pivot)
        for sub in [eb, *eb.children_recursive]:
            sub.matrix = m @ sub.matrix
    bpy.ops.object.mode_set(mode="OBJECT")
    bpy.context.view_layer.update()

    def errors(rx_odd: Any, rx_ref: Any, seed: int) -> float:
        bones = _random_bones(seed)
        for rx in (rx_odd, rx_ref):
            rx._listener.push(_frame(seed + 1, 0.0, bones))
            rx.step()
        a, b = _world_rotations(odd, names), _world_rotations(ref, names)
        return max(
            math.degrees(min(d, 2 * math.pi - d))
            for d in (a[h].rotation_difference(b[h]).angle for h in names)
        )

    rx_ref = api.Receiver(FakeListener(), bpy.context.scene, ref, None, False)
    rx_odd = api.Receiver(FakeListener(), bpy.context.scene, odd, None, False)
    before = errors(rx_odd, rx_ref, 1)
    # the user poses the rig into the T-pose (bone by bone, parents first), then calibrates
    for human in sorted(names, key=lambda h: _depth(parents, h)):
        odd.pose.bones[names[human]].matrix = t_matrices[names[human]]
        bpy.context.view_layer.update()
    rx_odd.calibrate_rest_pose()
    after = max(errors(rx_odd, rx_ref, seed) for seed in (2, 3, 4))
    return {"max_error_before_deg": before, "max_error_after_deg": after}


def _depth(parents: dict[str, str | None], h: str) -> int:
    d, p = 0, parents[h]
    while p is not None:
        d, p = d + 1, parents[p]
    return d


def check_hips(api: Any) -> dict[str, Any]:
    """Root motion: the sender's hips moving 0.2 m to the avatar's right and 0.1 m forward moves a
    rig turned 90° the same way relative to itself."""
    out = {}
    for yaw in (0.0, 90.0):
        arm = build_rig({"rig": "unity_t", "yaw_deg": yaw}, int(yaw))
        bpy.context.view_layer.update()
        rx = api.Receiver(FakeListener(), bpy.context.scene, arm, None, True)
        ident: dict[str, tuple[float, ...]] = {"Hips": (0.0, 0.95, 0.0, 0.0, 0.0, 0.0, 1.0)}
        rx._listener.push(_frame(1, 0.0, ident))
        rx.step()
        bpy.context.view_layer.update()
        start = arm.matrix_world @ arm.pose.bones["Hips"].head
        rx._listener.push(_frame(2, 0.1, {"Hips": (0.2, 0.95, 0.1, 0.0, 0.0, 0.0, 1.0)}))
        rx.step()
        bpy.context.view_layer.update()
        moved = arm.matrix_world @ arm.pose.bones["Hips"].head - start
        out[str(int(yaw))] = list(moved)
    return out


def check_take_options(api: Any) -> dict[str, Any]:
    """Masks, key reduction and whole-frame resampling of a take."""
    from mocap_bridge_blender.takes import TakeSettings

    arm = build_rig({"rig": "unity_t"}, 0)
    mesh = build_face(list(ARKIT))
    bpy.context.view_layer.update()
    rx = api.Receiver(FakeListener(), bpy.context.scene, arm, mesh, False)
    times = [0.0, 0.01, 0.045, 0.1, 0.15, 0.2, 0.26, 0.3]
    still = _random_bones(5)
    out: dict[str, Any] = {}
    for label, settings in {
        "face": TakeSettings(masks=frozenset({"face"})),
        "hands": TakeSettings(masks=frozenset({"hands"})),
        "reduced": TakeSettings(reduce_tolerance=1e-4),
        "resampled": TakeSettings(resample=True),
    }.items():
        rx.take_settings = settings
        rx.record_start(label)
        for i, t in enumerate(times):
            rx._listener.push(_frame(100 + i, t, still, {"jawopen": 0.5}))
        action = rx.record_stop()
        desc = describe_action(action, arm)
        out[label] = {k: v[0::2] for k, v in desc["curves"].items()}
    return out


DETECT_CASES = {  # map file → the rig kind detection must report
    "unity.toml": ("unity_humanoid",),
    "vrm0.toml": ("vrm0",),
    "vrm1.toml": ("vrm1",),
    "vroid.toml": ("vroid",),
    "mixamo.toml": ("mixamo",),
    "unreal_mannequin.toml": ("unreal_mannequin", "metahuman"),  # same body names
    "metahuman.toml": ("metahuman",),
}


def check_detect(api: Any) -> dict[str, Any]:
    """A T-pose rig named after each shipped map is detected as that kind and, with random VMC
    rotations, moves bone for bone like the Unity-named reference (world directions)."""
    parents = humanoid_parents()
    ref = build_armature("Ref", bone_names("unity.toml"), humanoid_joints(), parents)
    rx_ref = api.Receiver(FakeListener(), bpy.context.scene, ref, None, False)
    out = {}
    for i, map_file in enumerate(DETECT_CASES):
        names = bone_names(map_file)
        arm = build_armature(f"R{i}", names, a_pose(humanoid_joints(), 30.0), parents, roll_deg=20.0)
        bpy.context.view_layer.update()
        rx = api.Receiver(FakeListener(), bpy.context.scene, arm, None, False)
        bones = _random_bones(10 + i)
        for r in (rx, rx_ref):
            r._listener.push(_frame(i + 1, 0.0, bones))
            r.step()
        bpy.context.view_layer.update()
        worst = 0.0
        for human, name in names.items():
            a, b = arm.pose.bones[name], ref.pose.bones[human]
            da = arm.matrix_world.to_3x3() @ (a.tail - a.head)
            db = ref.matrix_world.to_3x3() @ (b.tail - b.head)
            worst = max(worst, math.degrees(da.angle(db)))
        out[map_file] = {
            "kind": rx.rig_kind,
            "bones": len(rx.rt.slots),
            "mapped": len(names),
            "worst_deg": worst,
        }
    return out


def checks_main(args: dict[str, Any]) -> None:
    from mocap_bridge_blender import api

    out = {}
    for name in args["checks"]:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.context.scene.render.fps = 30
        out[name] = {
            "calibrate": check_calibrate,
            "hips": check_hips,
            "take_options": check_take_options,
            "detect": check_detect,
        }[name](api)
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    addon_dir, raw = sys.argv[1], sys.argv[2]
    args = json.loads(raw)
    if "install" in args:
        install_main(args)
        return
    sys.path.insert(0, addon_dir)
    if "checks" in args:
        checks_main(args)
        return
    from mocap_bridge_blender import api

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = int(args.get("fps", 30))
    receivers = []
    for i, spec in enumerate(args["receivers"]):
        if spec["rig"] == "rigify" and not rigify_available():
            receivers.append({"spec": spec, "unavailable": "the rigify add-on is not in this bpy"})
            continue
        arm = build_rig(spec, i) if spec.get("rig") else None
        mesh = {"arkit": lambda: build_face(list(ARKIT)), "vrm": lambda: build_face(VRM_KEYS)}.get(
            spec.get("mesh") or "", lambda: None
        )()
        bpy.context.view_layer.update()
        rx = api.start("127.0.0.1", 0, arm, mesh, hips_motion=bool(spec.get("hips")))
        if spec.get("record"):
            rx.record_start(spec["record"])
        sampled = dict(rx.bone_map)
        if rx.rig_kind == "rigify":  # measure the deforming bones, which follow the FK controls
            assert arm is not None  # a rigify rig was detected on it
            deform = bone_names("rigify.toml")
            sampled = {h: b for h, b in deform.items() if b in arm.data.bones}
        receivers.append({"spec": spec, "rx": rx, "arm": arm, "mesh": mesh, "samples": [], "map": sampled})
    ports = [r["rx"].stats()["address"].rsplit(":", 1)[1] if "rx" in r else "-" for r in receivers]
    print("READY " + " ".join(ports), flush=True)
    idle_s = float(args.get("idle_s", 3.0))
    first_wait_s = float(args.get("first_wait_s", 240.0))
    live = [r for r in receivers if "rx" in r]
    last = time.monotonic()
    got_any = False
    while live:
        applied = False
        for r in live:
            if r["rx"].step():
                applied = True
                st = r["rx"].stats()
                s = sample(r["arm"], r["map"], r["mesh"])
                s["t"] = st["last_sender_time"]
                s["step_ms"] = st["last_step_ms"]
                if r["arm"] is not None:
                    pose = r["arm"].pose.bones
                    driven = r["rx"].bone_map.items()
                    s["quat"] = {h: list(pose[b].rotation_quaternion) for h, b in driven
                                 if h in ("LeftUpperArm", "LeftIndexProximal")}  # fmt: skip
                r["samples"].append(s)
        now = time.monotonic()
        if applied:
            got_any, last = True, now
        elif now - last > (idle_s if got_any else first_wait_s):
            break
        else:
            time.sleep(0.0005)
    out = []
    for r in receivers:
        if "rx" not in r:
            out.append({"unavailable": r["unavailable"]})
            continue
        rx = r["rx"]
        res: dict[str, Any] = {"stats": rx.stats(), "bone_map": r["map"], "rig_kind": rx.rig_kind,
                               "samples": r["samples"]}  # fmt: skip
        if r["spec"].get("cost_repeat"):
            res["cost_ms"] = measure_cost(rx, int(r["spec"]["cost_repeat"]))
        if r["spec"].get("record"):
            res["action"] = describe_action(rx.record_stop(), r["arm"])
        rx.stop()
        out.append(res)
    print("RESULT " + json.dumps(out), flush=True)


def sample(arm: Any, bone_map: dict[str, str], mesh: Any) -> dict[str, Any]:
    """World-space bone directions (head → tail) and shape-key values after the last step()."""
    bpy.context.view_layer.update()
    dirs = {}
    if arm is not None:
        mw = arm.matrix_world
        for human, name in bone_map.items():
            pb = arm.pose.bones[name]
            dirs[human] = list((mw @ pb.tail - mw @ pb.head).normalized())
    keys = {}
    if mesh is not None:
        keys = {kb.name: kb.value for kb in mesh.data.shape_keys.key_blocks}
    return {"dirs": dirs, "keys": keys}


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
    out: list[float] = []
    frame = rx.last_frame
    if frame is None:
        return out
    for _ in range(repeat):
        rx._applied_seq = frame.seq - 1  # the same frame counts as new: a full apply each time
        rx.step()
        out.append(rx.stats()["last_step_ms"])
    return out


if __name__ == "__main__":
    import os

    main()
    sys.stdout.flush()
    sys.stderr.flush()
    # bpy 4.2 can crash while tearing down after a Rigify generation (SIGSEGV at exit, after
    # RESULT was printed); the result is complete here, so skip the module teardown.
    os._exit(0)
