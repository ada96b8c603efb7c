"""The pure export writers on deterministic RigFrames: timecodes, resampling, BVH bone-map
folding (read back by bvhio), error paths, and take folders that never overwrite."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import bvhio
import numpy as np
import pytest
from rigframes import rig_frame
from scipy.spatial.transform import Rotation

from mocap_bridge.errors import MocapBridgeError, ProtocolError, RecordingError
from mocap_bridge.export import ExportError, default_output, render
from mocap_bridge.export._common import resample
from mocap_bridge.export.bvh import bvh_skeleton, write_bvh
from mocap_bridge.export.llf_csv import format_timecode, llf_csv_header
from mocap_bridge.frames import HumanBone
from mocap_bridge.protocols.livelink import LiveLinkEncoder
from mocap_bridge.solve.body import REST_OFFSETS
from mocap_bridge.solve.maps import BoneMap
from mocap_bridge.takes import TakeRecorder, take_folder_name

# The header of a real Live Link Face take (alexdjulin/LiveLinkFace-CSV-Retarget-For-Motionbuilder,
# anim/alex_rom_3.csv, line 1): the independent oracle for our column names and order.
APP_HEADER = (
    "Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,EyeLookInLeft,EyeLookOutLeft,EyeLookUpLeft,"
    "EyeSquintLeft,EyeWideLeft,EyeBlinkRight,EyeLookDownRight,EyeLookInRight,EyeLookOutRight,EyeLookUpRight,"
    "EyeSquintRight,EyeWideRight,JawForward,JawRight,JawLeft,JawOpen,MouthClose,MouthFunnel,MouthPucker,"
    "MouthRight,MouthLeft,MouthSmileLeft,MouthSmileRight,MouthFrownLeft,MouthFrownRight,MouthDimpleLeft,"
    "MouthDimpleRight,MouthStretchLeft,MouthStretchRight,MouthRollLower,MouthRollUpper,MouthShrugLower,"
    "MouthShrugUpper,MouthPressLeft,MouthPressRight,MouthLowerDownLeft,MouthLowerDownRight,MouthUpperUpLeft,"
    "MouthUpperUpRight,BrowDownLeft,BrowDownRight,BrowInnerUp,BrowOuterUpLeft,BrowOuterUpRight,CheekPuff,"
    "CheekSquintLeft,CheekSquintRight,NoseSneerLeft,NoseSneerRight,TongueOut,HeadYaw,HeadPitch,HeadRoll,"
    "LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll"
)


def test_llf_header_is_the_apps() -> None:
    assert llf_csv_header() == APP_HEADER


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "00:00:00:00.000"),
        (3661.5, "01:01:01:30.000"),
        (13 * 3600 + 13 * 60 + 4 + 31.652 / 60, "13:13:04:31.652"),  # a row of the real take
        (59.999999, "00:00:59:59.999"),  # the fraction is truncated: never frame 60
        (86400.0 + 1.0, "00:00:01:00.000"),  # time of day wraps at midnight
    ],
)
def test_timecode_is_the_importers_fractional_frame_at_60fps(seconds: float, text: str) -> None:
    assert format_timecode(seconds) == text
    h, m, s, ff = text.split(":")
    assert (int(h) * 3600 + int(m) * 60 + int(s) + float(ff) / 60) == pytest.approx(
        seconds % 86400, abs=1e-3 / 60
    )


def test_resampling_takes_the_nearest_solved_frame() -> None:
    frames = [rig_frame(index=i, t_ms=1000 + 40 * i, seed=i) for i in range(26)]  # 25 fps, 1 s
    out = resample(frames, 10.0)
    assert [f.index for f in out] == [0, 2, 5, 7, 10, 12, 15, 17, 20, 22, 25]  # ties: the earlier
    assert resample(frames, None) == frames
    # 30 fps media time rounded to whole ms (0, 33, 67, 100, ...): its own rate gives every frame.
    steady = [rig_frame(index=i, t_ms=round(i * 1000 / 30), seed=i) for i in range(31)]
    assert [f.index for f in resample(steady, 30.0)] == list(range(31))
    # A live recording with uneven spacing and a dropped frame goes onto an even grid.
    live = [rig_frame(index=i, t_ms=t, seed=i) for i, t in enumerate([0, 31, 70, 135, 166])]
    assert [f.index for f in resample(live, 30.0)] == [0, 1, 2, 2, 3, 4]
    with pytest.raises(ProtocolError):
        resample(frames, 0.0)


def _map_without(*missing: HumanBone) -> BoneMap:
    bones = {b: f"b_{b.name}" for b in HumanBone if b not in missing}
    return BoneMap(name="test", target="test", bones=MappingProxyType(bones))


def test_bvh_folds_bones_a_map_leaves_out(tmp_path: Path) -> None:
    frames = [rig_frame(index=i, t_ms=1000 + 33 * i, seed=i) for i in range(3)]
    bone_map = _map_without(HumanBone.Chest, HumanBone.Jaw)
    text = write_bvh(frames, frame_time_s=1 / 30, bone_map=bone_map, scale=100.0)
    path = tmp_path / "fold.bvh"
    path.write_text(text)
    bvh = bvhio.readAsBvh(str(path))
    joints = {}
    stack = [bvh.Root]
    while stack:
        j = stack.pop()
        joints[j.Name] = j
        stack.extend(j.Children)
    assert "b_Chest" not in joints and "b_Jaw" not in joints and len(joints) == len(HumanBone) - 2
    upper = joints["b_UpperChest"]
    off = np.array([upper.Offset.x, upper.Offset.y, upper.Offset.z])
    assert off == pytest.approx((REST_OFFSETS[HumanBone.Chest] + REST_OFFSETS[HumanBone.UpperChest]) * 100)
    for k, f in enumerate(frames):
        want = Rotation.from_quat(f.bone_rotations[HumanBone.Chest]) * Rotation.from_quat(
            f.bone_rotations[HumanBone.UpperChest]
        )
        q = upper.Keyframes[k].Rotation
        got = Rotation.from_quat([q.x, q.y, q.z, q.w])
        assert (want.inv() * got).magnitude() < 1e-5
    assert all(j.EndSite is not None for j in joints.values() if not j.Children)


def test_bvh_refuses_what_it_cannot_write() -> None:
    frames = [rig_frame()]
    with pytest.raises(ProtocolError, match="no Hips"):
        bvh_skeleton(_map_without(HumanBone.Hips))
    with pytest.raises(ProtocolError, match="spaces"):
        bvh_skeleton(BoneMap("x", "x", MappingProxyType({HumanBone.Hips: "my hips"})))
    with pytest.raises(ProtocolError, match="rest offsets"):
        write_bvh(frames, frame_time_s=0.04, offsets=np.zeros((3, 3)))
    with pytest.raises(ExportError, match="unknown export format"):
        render(frames, "fbx", fps=None, source_fps=30.0, bone_map=None)
    with pytest.raises(ExportError, match="no frames"):
        render([], "bvh", fps=None, source_fps=30.0, bone_map=None)
    assert issubclass(ExportError, MocapBridgeError)


def test_default_outputs_sit_beside_the_recording() -> None:
    assert default_output("/r/take.jsonl.gz", "bvh") == Path("/r/take.bvh")
    assert default_output("/r/take.jsonl", "llf-csv") == Path("/r/take_llf.csv")
    assert default_output("take.JSONL.GZ", "vrma") == Path("take.vrma")


def _recorder(root: Path) -> TakeRecorder:
    enc = LiveLinkEncoder(device_id="test", subject="Face")
    return TakeRecorder(root, livelink=enc, subject="Face", source="test", mode="video",
                        mirror=False, fps=30.0, models={}, calibration=None, settings={},
                        time_of_day_offset_s=3600.0)  # fmt: skip


def test_takes_never_overwrite_and_name_files_as_the_app(tmp_path: Path) -> None:
    assert take_folder_name("Scene 1/../x", 2) == "Scene-1-x_2"
    rec = _recorder(tmp_path)
    (tmp_path / "S_1").mkdir()
    (tmp_path / "S_1" / "keep.txt").write_text("mine")
    first = rec.start_take("S", 1, now_ms=0.0)
    assert first.folder == tmp_path / "S_2" and first.start_timecode == "01:00:00:00.000"
    for i in range(3):
        f = rig_frame(index=i, t_ms=1000 + 40 * i, seed=i)
        rec.write(f.tracked)
        rec.send(f)
    done = rec.stop_take(now_ms=2000.0)
    assert done.frames == 3 and done.stop_timecode == "01:00:02:00.000"
    assert done.csv.name == "S_2_Face_cal.csv" and len(done.csv.read_text().splitlines()) == 4
    assert (tmp_path / "S_1" / "keep.txt").read_text() == "mine"
    second = rec.start_take("S", 1, now_ms=3000.0)
    assert second.folder == tmp_path / "S_3"
    rec.close()  # end of run during a take: stopped, files closed
    assert rec.active is None and (second.folder / "take.json").is_file()
    with pytest.raises(RecordingError):
        rec.stop_take(now_ms=0.0)
