"""Serve `danlu-pipeline` as a scheduled Prefect deployment (runs in this process).

    export PREFECT_API_URL=http://127.0.0.1:4200/api   # a running `prefect server start`
    python -m flows.deploy --cron "0 3 * * *" --params /path/to/project/params.yaml

Flow runs then appear in the Prefect UI; they can also be started there with other overrides.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import flows  # noqa: F401  (Prefect environment defaults)
from flows.pipeline import danlu_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cron", default="0 3 * * *", help="schedule (default: 03:00 daily)")
    parser.add_argument("--params", default="params.yaml", help="the project's params.yaml")
    parser.add_argument("--name", default="danlu-nightly")
    args = parser.parse_args()
    danlu_pipeline.serve(name=args.name, cron=args.cron,
                         parameters={"params_path": str(Path(args.params).resolve()),
                                     "overrides": []})


if __name__ == "__main__":
    main()
