"""Smoke test of ``mocap-bridge bench``: the overhead section only, on a handful of frames."""

from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import media

from mocap_bridge.bench.data import person_frames
from mocap_bridge.frames import HandObservation


def test_overhead_section_keys_and_ratio(model_paths: object) -> None:
    media("fist_thumbs_up.mp4")
    from mocap_bridge.bench import run_overhead_section

    figures, notes = run_overhead_section(passes=2, max_frames=12)
    for key in ("overhead_p50_us", "overhead_p99_us", "overhead_naive_p50_us", "overhead_speedup"):
        assert isinstance(figures[key], float) and math.isfinite(figures[key]), key
    assert figures["overhead_p50_us"] > 0
    assert figures["overhead_speedup"] > 1.0  # ours beats the obvious implementation
    assert notes


def test_naive_encoders_match_ours(model_paths: object) -> None:
    """The baseline does the same work: Live Link bytes identical, VMC/OSC messages equal."""
    media("fist_thumbs_up.mp4")
    from mocap_bridge.broadcast import resolve_data_path
    from mocap_bridge.solve.settings import SolveSettings
    from pythonosc.osc_bundle import OscBundle

    from mocap_bridge.bench.data import recorded_frames
    from mocap_bridge.bench.naive import NaiveLiveLink, NaiveOsc, NaiveVmc
    from mocap_bridge.protocols.livelink import LiveLinkEncoder
    from mocap_bridge.protocols.osc import OscEncoder
    from mocap_bridge.protocols.vmc import VmcEncoder, load_expression_map
    from mocap_bridge.solve.rig import RigSolver

    frames = person_frames(recorded_frames()[0]).frames[:5]
    solver = RigSolver(SolveSettings())
    rigs = [solver.solve(f) for f in frames]
    expr = load_expression_map(resolve_data_path("retarget_maps/arkit_to_vrm0.toml", "map"))
    ours_ll, naive_ll = LiveLinkEncoder(device_id="dev", subject="S", rate=60), NaiveLiveLink("dev", "S", 60)
    ours_vmc, naive_vmc = VmcEncoder(expressions=expr), NaiveVmc(expr)
    ours_osc, naive_osc = OscEncoder(), NaiveOsc()

    def messages(datagrams: list[bytes]) -> list[tuple[str, list[Any]]]:
        out: list[tuple[str, list[Any]]] = []
        for d in datagrams:
            for m in OscBundle(d):
                out.append(
                    (m.address, [pytest.approx(p, abs=1e-6) if isinstance(p, float) else p for p in m.params])
                )
        return out

    for rig in rigs:
        assert naive_ll.encode(rig, 1234.5) == ours_ll.encode(rig, 1234.5)
        assert messages(naive_vmc.encode(rig)) == messages(ours_vmc.encode(rig))
        assert messages(naive_osc.encode(rig)) == messages(ours_osc.encode(rig))


def test_mirrored_second_hand() -> None:
    import numpy as np

    from mocap_bridge.frames import FaceObservation, PoseObservation, TrackedFrame

    lm = np.random.default_rng(0).random((21, 3), dtype=np.float32)
    hand = HandObservation("Left", 0.9, lm, lm.copy())
    pose = PoseObservation(np.zeros((33, 5), np.float32), np.zeros((33, 3), np.float32))
    face = FaceObservation(np.zeros((478, 3), np.float32), np.zeros(52, np.float32), np.eye(4))
    bf = person_frames([TrackedFrame(0, 0, pose, face, (hand,))])
    assert bf.synthesised == 1
    left, right = bf.frames[0].hand("Left"), bf.frames[0].hand("Right")
    assert left is hand and right is not None
    assert np.allclose(right.landmarks[:, 0], 1.0 - lm[:, 0])
    assert np.allclose(right.world[:, 0], -lm[:, 0])
