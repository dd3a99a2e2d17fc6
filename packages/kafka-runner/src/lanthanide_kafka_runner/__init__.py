"""A real Apache Kafka broker (KRaft mode) from Maven-fetched jars, without Docker.

    from lanthanide_kafka_runner import KafkaCluster

The implementation is `runner.py` (stdlib only, runnable as a script by path, which its
watchdog child process relies on); `python -m lanthanide_kafka_runner fetch|start` is its CLI.
"""

from lanthanide_kafka_runner.runner import *  # noqa: F403
from lanthanide_kafka_runner.runner import __all__ as __all__
