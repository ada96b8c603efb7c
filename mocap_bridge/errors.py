"""One exception tree for mocap_bridge.

::

    MocapBridgeError            root: the CLI turns any of these into one line and exit code 2
    ├── ConfigError             bad TOML, unknown key, invalid flag value, bad retarget map
    ├── ModelError              model missing, hash mismatch, no source reachable
    ├── CaptureError            camera/file/folder cannot be opened or decoded
    ├── TrackingError           MediaPipe refused to start or failed
    ├── RecordingError          unreadable or malformed recording
    └── ProtocolError           an encoder or decoder was given something it cannot represent

Always ``raise ... from exc`` so the cause survives in debug logs.
"""

from __future__ import annotations

__all__ = [
    "CaptureError",
    "ConfigError",
    "MocapBridgeError",
    "ModelError",
    "ProtocolError",
    "RecordingError",
    "TrackingError",
]


class MocapBridgeError(Exception):
    """Root of every error mocap_bridge raises on purpose."""


class ConfigError(MocapBridgeError):
    """Invalid configuration: a TOML file, a flag value or a retarget map."""


class ModelError(MocapBridgeError):
    """A MediaPipe model bundle is missing, corrupt or cannot be fetched."""


class CaptureError(MocapBridgeError):
    """A frame source cannot be opened or read."""


class TrackingError(MocapBridgeError):
    """MediaPipe failed to start or to process a frame."""


class RecordingError(MocapBridgeError):
    """A recording file cannot be read or written."""


class ProtocolError(MocapBridgeError):
    """A wire encoder or decoder met a value or packet it cannot handle."""
