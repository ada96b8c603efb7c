"""MediaPipe's landmarkers driven through its C API, with results read straight into numpy.

mediapipe 1.x runs its graphs in C (``libmediapipe.so``) and wraps them in Python with ctypes. Two
things in that wrapper cost a live pipeline more than its own work:

* **results**: each C result is turned into one dataclass per landmark (478 for a face), with the
  GIL held, on MediaPipe's graph thread, then queued to one more Python thread per landmarker
  before the user's callback runs. Measured here on the fist clip: face 0.51 ms, pose 0.12 ms,
  hands 0.09 ms a frame for those objects, and 0.52 ms more to turn them into arrays.
* **calls**: every C call (``detect_async`` too) is sent to a one-thread executor per landmarker
  and waited for, i.e. two GIL hand-offs per landmarker per frame on the capture thread.

This module creates the same landmarkers through the same C functions, with the library's own
option and result structs and status checks, but calls the C functions on the calling thread and
reads results with numpy views of the C arrays (:func:`read_pose`, :func:`read_face`,
:func:`read_hands`), handing the observation over from the graph thread directly. The tasks are
MediaPipe's own classes (``detect_async`` and ``close`` are theirs).

Each part's calls stay on one thread at a time, as the library's executor ensured: the capture
thread submits (or one video worker detects), and the session closes after capture has stopped.

It leans on the wrapper's internals (module-level ``_CTYPES_SIGNATURES`` and result structs,
pinned with ``mediapipe==1.2.2``); :func:`supported` checks them, and :mod:`.landmarkers` falls
back to the public API, read by :mod:`.convert`, when they differ. ``tests/test_c_api.py`` proves
both readers give identical observations on real footage.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import dataclasses
import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ..frames import FaceObservation, HandObservation, Part, PoseObservation
from .convert import RawHand, blendshape_scores, face_observation, hands_observation, pose_observation

__all__ = ["create", "detect_for_video", "read_face", "read_hands", "read_pose", "supported"]

log = logging.getLogger(__name__)

Payload = PoseObservation | FaceObservation | tuple[HandObservation, ...] | None
OnPayload = Callable[[Payload, int], None]  # (observation, timestamp_ms), on a graph thread

#: Part → (module in mediapipe.tasks.python.vision, task class, C function prefix).
_TASKS = {
    Part.POSE: ("pose_landmarker", "PoseLandmarker"),
    Part.FACE: ("face_landmarker", "FaceLandmarker"),
    Part.HANDS: ("hand_landmarker", "HandLandmarker"),
}
_PYTHON_ONLY_OPTIONS = ("base_options", "running_mode", "result_callback")


@dataclass(frozen=True, slots=True)
class _Api:
    signatures: tuple[Any, ...]
    task_cls: Any
    options_c: Any
    result_c: Any
    callback_type: Any
    prefix: str


@cache
def _api(part: Part) -> _Api | None:
    """The wrapper internals one part needs, or None when this mediapipe lays them out otherwise."""
    name, cls = _TASKS[part]
    try:
        module = importlib.import_module(f"mediapipe.tasks.python.vision.{name}")
        api = _Api(
            signatures=tuple(module._CTYPES_SIGNATURES),
            task_cls=getattr(module, cls),
            options_c=getattr(module, f"Mp{cls}OptionsC"),
            result_c=getattr(module, f"Mp{cls}ResultC"),
            callback_type=module._C_TYPES_RESULT_CALLBACK,
            prefix=f"Mp{cls}",
        )
        calls = ("Create", "DetectAsync", "DetectForVideo", "CloseResult", "Close")
        wanted = {f"Mp{cls}{fn}" for fn in calls}
        if not wanted <= {s.func_name for s in api.signatures}:
            return None
        options = {f.name for f in dataclasses.fields(getattr(module, f"{cls}Options"))}
        if set(inspect.signature(api.options_c.from_c_options).parameters) != options:
            return None
        params = list(inspect.signature(api.task_cls.__init__).parameters)
        if params != ["self", "lib", "handle", "dispatcher", "async_callback"]:
            return None
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    return api


def supported() -> bool:
    """Whether this mediapipe's wrapper is the one this module knows (else: the public API)."""
    try:
        from mediapipe.tasks.python.core import async_result_dispatcher, mediapipe_c_bindings  # noqa: F401
        from mediapipe.tasks.python.vision.core import image  # noqa: F401
    except ImportError:
        return False
    return all(_api(p) is not None for p in Part)


# ----------------------------------------------------------------------------------- C calls
class _Inline(concurrent.futures.Executor):
    """Runs each call at once on the calling thread (the library sends it to a worker thread)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # re-raised by .result() in the caller, as the library does
            future.set_exception(exc)
        return future


class _DirectLib:
    """What MediaPipe's ``SerialDispatcher`` offers a task (its C functions as methods, with their
    status checks, and ``close``), calling each on the caller's thread."""

    def __init__(self, signatures: tuple[Any, ...]) -> None:
        from mediapipe.tasks.python.core import mediapipe_c_bindings

        raw = mediapipe_c_bindings.load_raw_library(signatures)
        inline = _Inline()
        for sig in signatures:
            setattr(self, sig.func_name, sig.create_python_wrapper(raw, inline))

    def close(self) -> None:
        pass


def create(part: Part, options: Any, on_payload: OnPayload | None) -> Any:
    """A landmarker of ``part`` from its public options object (``result_callback`` is ignored:
    LIVE_STREAM results go to ``on_payload`` instead, already read; pass None otherwise)."""
    from mediapipe.tasks.python.core.async_result_dispatcher import AsyncResultDispatcher

    api = _api(part)
    if api is None:
        raise RuntimeError("this mediapipe's C layer is not the one mocap_bridge knows")
    read = _READERS[part]
    if on_payload is None:
        callback = api.callback_type()  # a null callback: IMAGE and VIDEO modes
    else:

        def on_result(status: int, result: Any, _image: Any, timestamp_ms: int) -> None:
            # On MediaPipe's graph thread, inside its C callback: read and hand over, nothing else.
            try:
                if status != 0:
                    log.error("MediaPipe %s result failed with status %d", part.name.lower(), status)
                    return
                try:
                    payload = read(result[0])
                except Exception:  # a bad result must not escape into C
                    log.exception("reading a %s result failed", part.name.lower())
                    payload = None
                on_payload(payload, int(timestamp_ms))
            except Exception:
                log.debug("handing over a %s result failed", part.name.lower(), exc_info=True)

        callback = api.callback_type(on_result)
    extra = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    for key in _PYTHON_ONLY_OPTIONS:
        extra.pop(key)
    options_c = api.options_c.from_c_options(
        base_options=options.base_options.to_ctypes(),
        running_mode=options.running_mode,
        result_callback=callback,
        **extra,
    )
    lib = _DirectLib(api.signatures)
    handle = ctypes.c_void_p()
    getattr(lib, f"{api.prefix}Create")(ctypes.byref(options_c), ctypes.byref(handle))
    # The task keeps the callback alive; its dispatcher never starts (close() is then a no-op).
    idle = AsyncResultDispatcher(converter=tuple)
    return api.task_cls(lib, handle, dispatcher=idle, async_callback=callback)


def detect_for_video(part: Part, task: Any, image: Any, timestamp_ms: int) -> Payload:
    """VIDEO mode: ``task.detect_for_video`` read by this module's reader."""
    api = _api(part)
    assert api is not None
    result = api.result_c()
    lib = task._lib
    getattr(lib, f"{api.prefix}DetectForVideo")(
        task._handle, image._image_ptr, None, timestamp_ms, ctypes.byref(result)
    )
    try:
        return _READERS[part](result)
    finally:
        getattr(lib, f"{api.prefix}CloseResult")(ctypes.byref(result))


# ----------------------------------------------------------------------------------- readers
_NUMPY_OF = {ctypes.c_float: np.float32, ctypes.c_bool: np.bool_}


@cache
def _dtype(struct: Any) -> np.dtype[Any]:
    """A numpy view of a C struct's numeric fields, at the offsets ctypes gives them."""
    fields = [(name, typ) for name, typ, *_ in struct._fields_ if typ in _NUMPY_OF]
    return np.dtype(
        {
            "names": [name for name, _ in fields],
            "formats": [_NUMPY_OF[typ] for _, typ in fields],
            "offsets": [getattr(struct, name).offset for name, _ in fields],
            "itemsize": ctypes.sizeof(struct),
        }
    )


def _records(landmarks: Any) -> np.ndarray:
    """An ``Mp(Normalized)LandmarksC`` list as a structured array viewing the C memory (read it
    before the result is closed)."""
    count = int(landmarks.landmarks_count)
    dtype = _dtype(landmarks.landmarks._type_)
    address = ctypes.cast(landmarks.landmarks, ctypes.c_void_p).value
    if not count or not address:
        return np.empty(0, dtype)
    view = memoryview((ctypes.c_char * (count * dtype.itemsize)).from_address(address))
    return np.frombuffer(view, dtype)


def _xyz(landmarks: Any) -> np.ndarray:
    r = _records(landmarks)
    out = np.empty((len(r), 3), dtype=np.float64)
    out[:, 0], out[:, 1], out[:, 2] = r["x"], r["y"], r["z"]
    return out


def _name(raw: bytes | None) -> str | None:
    return raw.decode("utf-8") if raw else None


def read_pose(result: Any) -> PoseObservation | None:
    """First pose of an ``MpPoseLandmarkerResultC`` (as :func:`.convert.pose_from_result`)."""
    if not result.pose_landmarks_count:
        return None
    r = _records(result.pose_landmarks[0])
    norm = np.empty((len(r), 5), dtype=np.float64)
    norm[:, 0], norm[:, 1], norm[:, 2] = r["x"], r["y"], r["z"]
    norm[:, 3] = np.where(r["has_visibility"], r["visibility"], 0.0)  # unset reads as 0
    norm[:, 4] = np.where(r["has_presence"], r["presence"], 0.0)
    world = _xyz(result.pose_world_landmarks[0]) if result.pose_world_landmarks_count else np.empty((0, 3))
    return pose_observation(norm, world, (lambda: _mask(result)) if result.segmentation_masks_count else None)


def _mask(result: Any) -> Any:
    from mediapipe.tasks.python.vision.core.image import Image

    return Image.create_from_ctypes(result.segmentation_masks[0]).numpy_view()


def read_face(result: Any) -> FaceObservation | None:
    """First face of an ``MpFaceLandmarkerResultC`` (as :func:`.convert.face_from_result`)."""
    if not result.face_landmarks_count:
        return None
    categories: list[tuple[str | None, float | None]] = []
    if result.face_blendshapes_count:
        cats = result.face_blendshapes[0]
        categories = [(_name(c.category_name), c.score) for c in cats.categories[: cats.categories_count]]
    matrix = None
    if result.facial_transformation_matrixes_count:
        matrix = result.facial_transformation_matrixes[0].to_numpy()
    return face_observation(_xyz(result.face_landmarks[0]), blendshape_scores(categories), matrix)


def read_hands(result: Any) -> tuple[HandObservation, ...]:
    """All hands of an ``MpHandLandmarkerResultC`` (as :func:`.convert.hands_from_result`)."""
    raw: list[RawHand | None] = []
    for i in range(result.hand_landmarks_count):
        cats = result.handedness[i] if i < result.handedness_count else None
        if cats is None or not cats.categories_count:
            raw.append(None)
            continue
        cat = cats.categories[0]
        landmarks = _xyz(result.hand_landmarks[i])
        has_world = i < result.hand_world_landmarks_count
        world = _xyz(result.hand_world_landmarks[i]) if has_world else landmarks.copy()
        raw.append((_name(cat.category_name), float(cat.score), landmarks, world))
    return hands_observation(raw)


_READERS: dict[Part, Callable[[Any], Payload]] = {
    Part.POSE: read_pose,
    Part.FACE: read_face,
    Part.HANDS: read_hands,
}
