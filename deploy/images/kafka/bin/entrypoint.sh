#!/bin/bash
# KAFKA_* variables -> server.properties the way apache/kafka does it (strip KAFKA_, lower
# case, ___ -> '-', __ -> '_', _ -> '.'), format the log dir once with CLUSTER_ID, run the broker.
set -euo pipefail
conf=/opt/kafka/config/server.properties
: > "$conf"
skip=" KAFKA_HEAP_OPTS KAFKA_OPTS KAFKA_JVM_PERFORMANCE_OPTS KAFKA_LOG4J_OPTS KAFKA_JMX_OPTS KAFKA_GC_LOG_OPTS KAFKA_VERSION "
while IFS='=' read -r name value; do
  case "$skip" in *" $name "*) continue ;; esac
  key="${name#KAFKA_}"
  key="$(printf '%s' "$key" | tr '[:upper:]' '[:lower:]' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')"
  printf '%s=%s\n' "$key" "$value" >> "$conf"
done < <(env | grep -E '^KAFKA_[A-Z0-9_]+=' | sort)

log_dirs="$(sed -n 's/^log\.dirs=//p' "$conf")"
if [ -z "$log_dirs" ]; then
  log_dirs=/var/lib/kafka/data
  echo "log.dirs=$log_dirs" >> "$conf"
fi
java_tool=(java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp '/opt/kafka/libs/*'
           -Dlog4j.configuration=file:/opt/kafka/config/tools-log4j.properties)
if [ ! -f "${log_dirs%%,*}/meta.properties" ]; then
  : "${CLUSTER_ID:?set CLUSTER_ID (22 characters, e.g. from kafka-storage random-uuid)}"
  "${java_tool[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$conf" --ignore-formatted
fi
exec java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20} \
  ${KAFKA_OPTS:-} -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties \
  -cp '/opt/kafka/libs/*' kafka.Kafka "$conf"
