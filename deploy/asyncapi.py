"""`make docs`: one AsyncAPI 3.0 document per service, as the official AsyncAPI parser accepts.

What each service subscribes to is read from its FastStream app (the subscribers it registers);
what it publishes, and which event types travel on which topic, from the topic catalogue
(lanthanide.topics). Each event type is one message whose payload is its envelope's JSON Schema;
the schemas pydantic nests under $defs are lifted into components/schemas, so every $ref
resolves inside the document. Record keys (case_id) and headers (CloudEvents binary mode, W3C
trace context) are documented per message; servers carry their security scheme.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from lanthanide.cloudevents import CONTENT_TYPE, SPEC_VERSION, TYPE_PREFIX
from lanthanide.contracts.envelope import SCHEMA_VERSION
from lanthanide.serde import envelope_class
from lanthanide.topics import PUBLISHES, TOPIC_EVENTS
from lanthanide.version import __version__

KAFKA_BINDING = "0.5.0"


def service_brokers() -> dict[str, KafkaBroker]:
    """Build every service as it would run (nothing is started or connected)."""
    from lanthanide_audit.bootstrap import build as build_audit
    from lanthanide_intake.bootstrap import build as build_intake
    from lanthanide_notification.bootstrap import build as build_notification
    from lanthanide_review.bootstrap import build as build_review
    from lanthanide_screening.bootstrap import service_app as screening_app

    return {
        "intake": build_intake().broker,
        "screening": screening_app().broker,
        "review": build_review().broker,
        "notification": build_notification().broker,
        "audit": build_audit().broker,
    }


def subscribed_topics(service: str, broker: KafkaBroker) -> list[str]:
    """The topics a service's FastStream app subscribes to (as FastStream describes them)."""
    spec = json.loads(AsyncAPI(broker, title=service, version=__version__).to_specification().to_json())
    receiving = {
        op["channel"]["$ref"].rsplit("/", 1)[-1] for op in spec.get("operations", {}).values()
        if op.get("action") == "receive"
    }
    topics = {
        channel["address"] for name, channel in spec.get("channels", {}).items()
        if name in receiving or name.replace(",", "%2C") in receiving
    }
    return sorted(topics)


def _component_name(name: str) -> str:
    """A components key (AsyncAPI allows letters, digits, '.', '-' and '_')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")


def _relink(node: Any, names: dict[str, str]) -> Any:
    """Rewrite pydantic's local $defs references into components/schemas references."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = f"#/components/schemas/{names[value.removeprefix('#/$defs/')]}"
            else:
                out[key] = _relink(value, names)
        return out
    if isinstance(node, list):
        return [_relink(v, names) for v in node]
    return node


def event_schemas() -> tuple[dict[str, Any], dict[str, str]]:
    """Every event envelope's schema and the schemas it nests, as components/schemas; and the
    component name of each event type's envelope."""
    schemas: dict[str, Any] = {}
    envelope_of: dict[str, str] = {}
    for event_type in sorted({t for types in TOPIC_EVENTS.values() for t in types}):
        schema = envelope_class(event_type).model_json_schema(mode="serialization")
        defs = schema.pop("$defs", {})
        names = {name: _component_name(name) for name in defs}
        for name, sub in defs.items():
            schemas[names[name]] = _relink(sub, names)
        envelope = _component_name(f"{event_type}.envelope")
        schema["title"] = f"Lanthanide event {event_type}"
        schemas[envelope] = _relink(schema, names)
        envelope_of[event_type] = envelope
    return schemas, envelope_of


def _headers_schema(event_type: str) -> dict[str, Any]:
    def const(value: str, description: str) -> dict[str, Any]:
        return {"type": "string", "const": value, "description": description}

    def text(description: str, fmt: str | None = None) -> dict[str, Any]:
        return {"type": "string", "description": description, **({"format": fmt} if fmt else {})}

    return {
        "type": "object",
        "description": "Kafka record headers: CloudEvents 1.0 binary mode (ce_*), the pre-CloudEvents "
                       "headers, and the W3C trace context.",
        "required": ["content-type", "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time",
                     "event_type", "event_id", "schema_version"],
        "properties": {
            "content-type": const(CONTENT_TYPE, "CloudEvents datacontenttype: the value is the JSON envelope"),
            "ce_specversion": const(SPEC_VERSION, "CloudEvents spec version"),
            "ce_id": text("= envelope.event_id", "uuid"),
            "ce_source": text("/lanthanide/<producer.service>"),
            "ce_type": const(TYPE_PREFIX + event_type, "lanthanide.<event_type>"),
            "ce_time": text("= envelope.occurred_at (RFC 3339)", "date-time"),
            "ce_subject": text("= envelope.case_id (absent when the event has no case)", "uuid"),
            "ce_dataschema": text("urn:lanthanide:event:<event_type>:v<schema_version>"),
            "event_type": const(event_type, "envelope.event_type"),
            "event_id": text("envelope.event_id", "uuid"),
            "schema_version": text("envelope.schema_version (the contracts' major version)"),
            "traceparent": text("W3C trace context; trace id = the case's correlation_id"),
        },
    }


def _message(event_type: str, envelope: str) -> dict[str, Any]:
    doc = (envelope_class(event_type).model_fields["payload"].annotation.__doc__ or "").strip()
    return {
        "name": event_type,
        "title": event_type,
        "summary": doc.split("\n\n")[0].replace("\n", " ") if doc else event_type,
        "contentType": CONTENT_TYPE,
        "headers": _headers_schema(event_type),
        "payload": {"$ref": f"#/components/schemas/{envelope}"},
        "correlationId": {"description": "Follows the case from its first submission",
                          "location": "$message.payload#/correlation_id"},
        "bindings": {"kafka": {
            "key": {"type": "string", "format": "uuid",
                    "description": "case_id: one case stays ordered on one partition"},
            "bindingVersion": KAFKA_BINDING,
        }},
    }


def _channel_id(topic: str) -> str:
    return _component_name(topic.removeprefix("lanthanide."))


def document(service: str, broker: KafkaBroker) -> dict[str, Any]:
    """The AsyncAPI document of one service."""
    receives = subscribed_topics(service, broker)
    sends = list(PUBLISHES[service])
    schemas, envelope_of = event_schemas()
    used_types = sorted({t for topic in {*receives, *sends} for t in TOPIC_EVENTS.get(topic, ())})
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in sorted({*receives, *sends}):
        cid = _channel_id(topic)
        types = TOPIC_EVENTS.get(topic, ())
        channels[cid] = {
            "address": topic,
            "title": topic,
            "messages": {_component_name(t): {"$ref": f"#/components/messages/{_component_name(t)}"} for t in types},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING}},
        }
        for action, topics in (("receive", receives), ("send", sends)):
            if topic in topics:
                operations[f"{action}.{cid}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{cid}"},
                    "messages": [{"$ref": f"#/channels/{cid}/messages/{_component_name(t)}"} for t in types],
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"Lanthanide {service}",
            "version": __version__,
            "description": f"Events the {service} service consumes and produces. Key = case_id; "
                           f"JSON envelopes (contracts major version {SCHEMA_VERSION}) with CloudEvents "
                           "binary-mode headers.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "production": {
                "host": "kafka:9093", "protocol": "kafka-secure",
                "description": "SASL/SCRAM-SHA-512 over TLS, one principal per service",
                "security": [{"$ref": "#/components/securitySchemes/saslScram"}],
            },
            "development": {
                "host": "127.0.0.1:9092", "protocol": "kafka",
                "description": "`make run`: local single-node broker, plaintext",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas if used_types else {},
            "messages": {_component_name(t): _message(t, envelope_of[t]) for t in used_types},
            "securitySchemes": {"saslScram": {
                "type": "scramSha512", "description": "SASL SCRAM-SHA-512 credentials of the service's principal",
            }},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/asyncapi"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    # Building a service may open its store: keep that out of the working tree.
    os.environ["LANTHANIDE_DATA_DIR"] = tempfile.mkdtemp(prefix="lanthanide-docs-")
    for service, broker in service_brokers().items():
        path = args.out / f"{service}.json"
        path.write_text(json.dumps(document(service, broker), indent=2, sort_keys=True) + "\n")
        print(path)


if __name__ == "__main__":
    main()
