"""Real MediaPipe on real footage (../shared/media); the LIVE_STREAM accounting test paces real time."""

from __future__ import annotations

import asyncio
import itertools
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import media

from mocap_bridge.capture.sources import open_source
from mocap_bridge.clock import monotonic_ms
from mocap_bridge.frames import MP_BLENDSHAPE_NAMES, Part, PartStatus, TrackedFrame
from mocap_bridge.settings import TrackingSettings
from mocap_bridge.tracking.assembler import Assembler
from mocap_bridge.tracking.landmarkers import Landmarkers
from mocap_bridge.tracking.offline import track_file


@pytest.fixture(scope="module")
def fist_frames() -> list[TrackedFrame]:
    return track_file(media("fist_thumbs_up.mp4"))


def test_portrait_face_pose_and_hand(model_paths: dict[str, Path]) -> None:
    [frame] = track_file(media("portrait_upper_body.jpg"))
    assert frame.pose is not None and frame.face is not None
    assert len(frame.hands) >= 1, "the visible hand (arms crossed) must be found"
    shapes = frame.face.blendshapes
    assert shapes.shape == (len(MP_BLENDSHAPE_NAMES),) == (52,)
    assert np.all((shapes >= 0) & (shapes <= 1))
    rot = frame.face.matrix[:3, :3]
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-3) and np.linalg.det(rot) == pytest.approx(1, abs=1e-3)
    assert np.allclose(frame.face.matrix[3], [0, 0, 0, 1])
    assert frame.face.matrix[2, 3] < -10  # face in front of the camera (cm, camera looks down -Z)
    # The hand's label agrees with the pose wrist it sits on (anatomical labels, un-mirrored).
    hand = frame.hands[0]
    wrists = {"Left": frame.pose.landmarks[15, :2], "Right": frame.pose.landmarks[16, :2]}
    nearest = min(wrists, key=lambda k: float(np.linalg.norm(wrists[k] - hand.landmarks[0, :2])))
    assert hand.label == nearest


def test_astronaut_from_scikit_image_has_a_face() -> None:
    skimage_data = pytest.importorskip("skimage.data")
    path = Path(skimage_data.__file__).parent / "astronaut.png"
    [frame] = track_file(path)
    assert frame.face is not None and frame.status[Part.FACE] is PartStatus.FOUND


def test_fist_video_mode_finds_face_pose_and_hand(fist_frames: list[TrackedFrame]) -> None:
    n = len(fist_frames)
    assert n == 195
    assert sum(f.face is not None for f in fist_frames) >= 0.95 * n
    assert sum(f.pose is not None for f in fist_frames) >= 0.95 * n
    assert sum(bool(f.hands) for f in fist_frames) >= 0.60 * n
    stamps = [f.t_ms for f in fist_frames]
    assert all(b > a for a, b in itertools.pairwise(stamps))


def test_mirroring_swaps_hand_labels() -> None:
    plain = track_file(media("runner_full_body.png"))[0]
    mirrored = track_file(media("runner_full_body.png"), mirror=True)[0]
    assert {h.label for h in plain.hands} == {"Left", "Right"}
    left = plain.hand("Left")
    m_right = mirrored.hand("Right")
    assert left is not None and m_right is not None
    # The hand labelled Left un-mirrored is labelled Right in the mirror image, at the mirrored x.
    assert abs((1 - m_right.landmarks[0, 0]) - left.landmarks[0, 0]) < 0.03


def test_dance_pose_world_landmarks_are_metres_around_the_hips() -> None:
    frames = track_file(media("dance_full_body_synthetic.mp4"))
    poses = [f.pose for f in frames if f.pose is not None]
    assert len(poses) >= 0.95 * len(frames)
    hips = np.array([(p.world[23] + p.world[24]) / 2 for p in poses])
    assert np.abs(hips).max() < 0.1  # origin at the hip midpoint
    heights = np.array([p.world[:, 1].max() - p.world[:, 1].min() for p in poses])
    assert 1.0 < float(np.median(heights)) < 2.2  # a person is 1-2 m tall: metres, not pixels


def test_live_stream_accounts_for_every_frame(model_paths: dict[str, Path]) -> None:
    """LIVE_STREAM at the clip's own rate: each frame is complete, partial or dropped; none stuck.

    The deadline logic itself is tested exactly, with the clock passed in (test_assembler.py). Here
    the bound only catches a frame left waiting: the loop's wake-ups on a loaded 2-core machine
    have been seen 50+ ms late, so the margin is generous (deadline + 400 ms).
    """
    clip = media("fist_thumbs_up.mp4")  # skip here, in the test's own thread, before MediaPipe starts
    deadline = 100.0
    margin = 400.0
    emitted: list[tuple[TrackedFrame, float]] = []
    asm = Assembler(deadline)
    errors: list[BaseException] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def take(frames: list[TrackedFrame]) -> None:
            now = monotonic_ms()
            emitted.extend((f, now) for f in frames)

        def on_result(part: Part, t: int, payload: object, source: int) -> None:
            loop.call_soon_threadsafe(
                lambda: take(asm.deliver(part, t, payload, monotonic_ms(), source))  # type: ignore[arg-type]
            )

        def on_submit(i: int, t: int) -> None:
            asm.submit(i, t, (True, True, True), (0, 0, 2))
            loop.call_later(deadline / 1000 + 0.001, lambda: take(asm.poll(monotonic_ms())))

        settings = TrackingSettings(adaptive_hands=False)
        with Landmarkers(settings, model_paths, live=True, on_result=on_result) as lm:

            def capture() -> None:
                try:
                    src = open_source(str(clip), realtime=True)
                    try:
                        for cap in src.frames():
                            loop.call_soon_threadsafe(on_submit, cap.index, cap.t_ms)
                            lm.submit(cap.rgb, cap.t_ms, (True, True, True), (0, 0, 2))
                    finally:
                        src.close()
                except BaseException as exc:  # reported by the test, never a hang
                    errors.append(exc)
                finally:
                    loop.call_soon_threadsafe(done.set)

            thread = threading.Thread(target=capture)
            thread.start()
            await done.wait()
            thread.join()
            await asyncio.sleep((deadline + 50) / 1000)
        take(asm.flush())

    asyncio.run(asyncio.wait_for(main(), 120))
    assert not errors, errors
    stats = asm.stats
    assert stats.submitted == 195
    assert stats.emitted + stats.dropped == 195
    assert stats.complete + stats.partial == stats.emitted
    for frame, at in emitted:
        assert at <= frame.t_ms + deadline + margin, f"frame {frame.index} left {at - frame.t_ms:.0f} ms late"
        if not frame.complete:
            assert PartStatus.MISSING in frame.status
    share = stats.complete / stats.submitted
    print(f"\nLIVE_STREAM complete frames: {share:.0%} ({stats.complete}/{stats.submitted}), "
          f"partial {stats.partial}, dropped {stats.dropped}, late answers {stats.late}")  # fmt: skip
