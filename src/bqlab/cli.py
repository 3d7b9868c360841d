"""``python -m bqlab``: the entry point the Makefile calls.

Commands:
    report   validate params, check the table, run the notebooks, write the HTML reports
    check    validate params and check the table only (nothing runs, nothing is written)
"""

import argparse
import sys
from pathlib import Path

from bqlab.errors import BqlabError, PipelineError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bqlab", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["report", "check"], help="what to do")
    parser.add_argument("--profile", default=None, help="overlay params/profiles/<PROFILE>.yaml (e.g. ci)")
    parser.add_argument("--params-dir", type=Path, default=Path("params"), help="folder of the YAML params")
    parser.add_argument("--notebooks-dir", type=Path, default=Path("notebooks"), help="folder of the notebooks")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"), help="where reports are written")
    parser.add_argument("--quiet", action="store_true", help="print only errors and the final line")
    return parser


def _summary(record, reports_dir: Path) -> str:
    lines = [f"{'stage':<12} {'status':<8} {'time':>7}  report"]
    for stage in record.stages:
        report = reports_dir / "runs" / record.run_id / stage.html if stage.html else "-"
        lines.append(f"{stage.stage:<12} {stage.status:<8} {stage.seconds:>6.1f}s  {report}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run a command; return the process exit code (0 ok, 1 a notebook failed, 2 bad input)."""
    args = _parser().parse_args(argv)
    echo = (lambda _message: None) if args.quiet else (lambda message: print(message, flush=True))
    from bqlab.config import load_params
    from bqlab.pipeline import preflight, run_pipeline

    try:
        params = load_params(args.params_dir, args.profile)
        if args.command == "check":
            preflight(params, args.notebooks_dir)
            print(f"params and table OK: {', '.join(str(f) for f in params.files)}")
            return 0
        record = run_pipeline(params, notebooks_dir=args.notebooks_dir, reports_dir=args.reports_dir, echo=echo)
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        print(f"index: {args.reports_dir / 'index.html'}", file=sys.stderr)
        return 1
    except BqlabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the unfinished run was discarded; earlier reports are untouched", file=sys.stderr)
        return 130
    echo(_summary(record, args.reports_dir))
    print(f"report OK in {record.seconds:.1f}s: {args.reports_dir / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
