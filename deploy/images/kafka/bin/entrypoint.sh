#!/bin/bash
# KAFKA_* variables -> server.properties the way apache/kafka does it (strip KAFKA_, lower
# case, ___ -> '-', __ -> '_', _ -> '.'), format the log dir once with CLUSTER_ID, run the broker.
#
# Secured (docker compose): SASL_USERS_DIR names a directory with one file per principal, named
# after it and holding its password. Every one becomes a SCRAM-SHA-512 user at
# format time; "admin" (SASL_ADMIN_USER) is the super user the broker itself logs in as, with
# SCRAM on every SASL listener but the controller's, which takes PLAIN for admin only (KRaft
# controllers cannot check SCRAM credentials kept in the metadata they serve). SSL_KEYSTORE_FILE
# and SSL_KEYSTORE_PASSWORD_FILE (PKCS12) serve the SSL listeners. The admin's client settings
# for the internal listener go to /opt/kafka/config/admin.properties (the healthcheck's).
set -euo pipefail
conf=/opt/kafka/config/server.properties
admin_conf=/opt/kafka/config/admin.properties
: > "$conf"
skip=" KAFKA_HEAP_OPTS KAFKA_OPTS KAFKA_JVM_PERFORMANCE_OPTS KAFKA_LOG4J_OPTS KAFKA_JMX_OPTS KAFKA_GC_LOG_OPTS KAFKA_VERSION "
while IFS='=' read -r name value; do
  case "$skip" in *" $name "*) continue ;; esac
  key="${name#KAFKA_}"
  key="$(printf '%s' "$key" | tr '[:upper:]' '[:lower:]' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')"
  printf '%s=%s\n' "$key" "$value" >> "$conf"
done < <(env | grep -E '^KAFKA_[A-Z0-9_]+=' | sort)
prop() { sed -n "s/^$1=//p" "$conf"; }

scram=()
if [ -n "${SASL_USERS_DIR:-}" ]; then
  admin="${SASL_ADMIN_USER:-admin}"
  [ -s "$SASL_USERS_DIR/$admin" ] || { echo "no password for $admin in $SASL_USERS_DIR" >&2; exit 1; }
  admin_pw="$(tr -d '\n' < "$SASL_USERS_DIR/$admin")"
  for f in "$SASL_USERS_DIR"/*; do
    user="${f##*/}" pw="$(tr -d '\n' < "$f")"
    # They go into JAAS strings and --add-scram arguments: keep them plain.
    [[ "$user" =~ ^[A-Za-z0-9_-]+$ && "$pw" =~ ^[A-Za-z0-9]+$ ]] \
      || { echo "$f: names are [A-Za-z0-9_-], passwords [A-Za-z0-9]" >&2; exit 1; }
    scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$pw]")
  done
  controller="$(prop controller.listener.names | tr '[:upper:]' '[:lower:]')"
  scram_jaas="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$admin\" password=\"$admin_pw\";"
  plain_jaas="org.apache.kafka.common.security.plain.PlainLoginModule required username=\"$admin\" password=\"$admin_pw\" user_$admin=\"$admin_pw\";"
  {
    echo "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512"
    echo "sasl.mechanism.controller.protocol=PLAIN"
    for entry in $(prop listener.security.protocol.map | tr ',' ' '); do
      listener="$(printf '%s' "${entry%%:*}" | tr '[:upper:]' '[:lower:]')"
      case "${entry#*:}" in SASL_*) ;; *) continue ;; esac
      if [ "$listener" = "$controller" ]; then
        echo "listener.name.$listener.sasl.enabled.mechanisms=PLAIN"
        echo "listener.name.$listener.plain.sasl.jaas.config=$plain_jaas"
      else
        echo "listener.name.$listener.sasl.enabled.mechanisms=SCRAM-SHA-512"
        echo "listener.name.$listener.scram-sha-512.sasl.jaas.config=$scram_jaas"
      fi
    done
  } >> "$conf"
  umask 077
  printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=%s\n' "$scram_jaas" > "$admin_conf"
fi
if [ -n "${SSL_KEYSTORE_FILE:-}" ]; then
  store_pw="$(tr -d '\n' < "${SSL_KEYSTORE_PASSWORD_FILE:?set SSL_KEYSTORE_PASSWORD_FILE with SSL_KEYSTORE_FILE}")"
  printf 'ssl.keystore.type=PKCS12\nssl.keystore.location=%s\nssl.keystore.password=%s\nssl.key.password=%s\nssl.client.auth=none\n' \
    "$SSL_KEYSTORE_FILE" "$store_pw" "$store_pw" >> "$conf"
fi
chmod 600 "$conf"

log_dirs="$(prop log\\.dirs)"
if [ -z "$log_dirs" ]; then
  log_dirs=/var/lib/kafka/data
  echo "log.dirs=$log_dirs" >> "$conf"
fi
java_tool=(java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp '/opt/kafka/libs/*'
           -Dlog4j.configuration=file:/opt/kafka/config/tools-log4j.properties)
if [ ! -f "${log_dirs%%,*}/meta.properties" ]; then
  : "${CLUSTER_ID:?set CLUSTER_ID (22 characters, e.g. from kafka-storage random-uuid)}"
  # SCRAM users exist from the first start on (the metadata keeps them; later starts skip this).
  "${java_tool[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$conf" --ignore-formatted ${scram[@]+"${scram[@]}"}
fi
exec java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20} \
  ${KAFKA_OPTS:-} -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties \
  -cp '/opt/kafka/libs/*' kafka.Kafka "$conf"
