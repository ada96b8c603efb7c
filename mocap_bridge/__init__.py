"""mocap_bridge: real-time webcam motion capture for 3D engines."""

from .errors import MocapBridgeError
from .frames import RigFrame, TrackedFrame

__all__ = ["MocapBridgeError", "RigFrame", "TrackedFrame", "__version__"]
__version__ = "0.1.0"
