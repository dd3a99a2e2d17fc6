#!/bin/bash
# The healthcheck's probe, named like apache/kafka's script: a broker that answers ApiVersions.
exec java -Xmx64m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp '/opt/kafka/libs/*' \
  -Dlog4j.configuration=file:/opt/kafka/config/tools-log4j.properties kafka.admin.BrokerApiVersionsCommand "$@"
