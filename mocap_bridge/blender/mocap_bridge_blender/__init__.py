"""mocap_bridge receiver for Blender: live VMC into any humanoid rig, ARKit/VRM shape keys, takes.

Pure Python (stdlib + bpy). Installs as a legacy add-on (``bl_info``) or, on Blender 4.2+, as an
extension (``blender_manifest.toml``); see docs/blender.md of mocap_bridge.
"""

bl_info = {
    "name": "mocap_bridge receiver (VMC)",
    "author": "mocap_bridge",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "View3D > Sidebar > Mocap",
    "description": "Receive VMC (mocap_bridge, XR Animator, VSeeFace, Warudo) onto rigs and shape keys",
    "category": "Animation",
}


def register() -> None:
    from . import ui

    ui.register()


def unregister() -> None:
    from . import ui

    ui.unregister()
