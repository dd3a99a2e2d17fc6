"""`python -m lanthanide_kafka_runner fetch|start ...`."""

import sys

from lanthanide_kafka_runner.runner import main

sys.exit(main())
