#!/usr/bin/env python3
"""The Kafka runner's CLI for a bare Python without the workspace's venv (e.g. deploy/images/build.sh):

    python3 deploy/kafka/kafka_runner.py fetch | start [...]

The runner is the workspace's dev member lanthanide-kafka-runner (packages/kafka-runner, stdlib
only); inside the venv use `python -m lanthanide_kafka_runner` or `import lanthanide_kafka_runner`.
"""

import runpy
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "packages" / "kafka-runner" / "src" / "lanthanide_kafka_runner"
RUNNER = PACKAGE / "runner.py"

if __name__ == "__main__":
    runpy.run_path(str(RUNNER), run_name="__main__")
