"""Run by tests/test_export_blender.py with a Python that has Blender's ``bpy``: import a BVH
with Blender's own importer and print, as JSON, the frame range and, per frame, the world
position of every bone head (the joints), in the file's axes (identity axis conversion)."""

import json
import sys

import bpy

path, names = sys.argv[1], sys.argv[2].split(",")
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_anim.bvh(
    filepath=path,
    axis_forward="Y",
    axis_up="Z",
    global_scale=1.0,
    use_fps_scale=False,
    update_scene_fps=True,
    update_scene_duration=True,
    rotate_mode="NATIVE",
)
scene = bpy.context.scene
arm = next(o for o in scene.objects if o.type == "ARMATURE")
action = arm.animation_data.action
# Blender 4.4+ stores F-curves in layered actions (layers → strips → channel bags).
curves = list(getattr(action, "fcurves", None) or [])
if not curves:
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                curves.extend(bag.fcurves)
keys = sorted({len(c.keyframe_points) for c in curves})
first, last = (round(v) for v in action.frame_range)
scene.frame_start, scene.frame_end = first, last  # the importer only ever extends the scene
heads = []
for f in range(scene.frame_start, scene.frame_end + 1):
    scene.frame_set(f)
    heads.append({n: list(arm.matrix_world @ arm.pose.bones[n].head) for n in names})
print(
    "RESULT "
    + json.dumps(
        {
            "frame_start": scene.frame_start,
            "frame_end": scene.frame_end,
            "fps": scene.render.fps,
            "fps_base": scene.render.fps_base,
            "keys_per_curve": keys,
            "bones": [b.name for b in arm.data.bones],
            "heads": heads,
        }
    )
)
