"""Per-frame helpers shared by the encoders (private)."""

from __future__ import annotations

from ..frames import RigFrame, Tracking

__all__ = ["overall_state"]

_OK = Tracking.OK
_LOST = Tracking.LOST
_ALL_LOST = (_LOST, _LOST)


def overall_state(frame: RigFrame) -> Tracking:
    """Same as :attr:`RigFrame.overall_state` in ~0.1 µs instead of ~1 µs (no tuple, no genexpr).

    OK when face and body are OK, LOST when every part is lost, else PARTIAL (tests check all 81
    combinations against the property).
    """
    face = frame.face_state
    body = frame.body_state
    if face is _OK and body is _OK:
        return _OK
    if face is _LOST and body is _LOST and frame.hand_states == _ALL_LOST:
        return _LOST
    return Tracking.PARTIAL
