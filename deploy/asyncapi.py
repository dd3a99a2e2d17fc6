"""`make docs`: AsyncAPI 3.0 documents generated from the services' FastStream apps.

FastStream describes what each app subscribes to; the stages decode raw bytes (so they can
dead-letter what does not parse), so the message payloads are filled in here from the event
contracts, and each service's publications are added from the topic catalogue.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from lanthanide import __version__
from lanthanide.serde import envelope_class
from lanthanide.topics import PUBLISHES, TOPIC_EVENTS


def service_brokers() -> dict[str, KafkaBroker]:
    """Build every service as it would run (nothing is started or connected)."""
    from lanthanide.kafka import make_broker
    from lanthanide_audit.bootstrap import build as build_audit
    from lanthanide_intake.bootstrap import bootstrap as build_intake
    from lanthanide_notification.bootstrap import build as build_notification
    from lanthanide_review.bootstrap import build as build_review
    from lanthanide_screening.bootstrap import bootstrap as build_screening
    from lanthanide_screening.entrypoints.stage import register as register_screening

    screening = build_screening()
    screening_broker = make_broker(screening.settings.kafka, "screening")
    register_screening(screening_broker, screening, screening.settings)
    return {
        "intake": build_intake().broker,
        "screening": screening_broker,
        "review": build_review().broker,
        "notification": build_notification().broker,
        "audit": build_audit().broker,
    }


def _payload_schema(topic: str) -> dict[str, Any]:
    schemas = [envelope_class(t).model_json_schema(mode="serialization") for t in TOPIC_EVENTS.get(topic, ())]
    return schemas[0] if len(schemas) == 1 else {"oneOf": schemas}


def document(service: str, broker: KafkaBroker) -> dict[str, Any]:
    spec = json.loads(AsyncAPI(
        broker, title=f"Lanthanide {service}", version=__version__,
        description=f"Events the {service} service consumes and produces. Key = case_id; JSON envelopes.",
    ).to_specification().to_json())
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for channel in spec.get("channels", {}).values():
        topic = channel["address"]
        for ref in channel.get("messages", {}).values():
            message = components["messages"][unquote(ref["$ref"].rsplit("/", 1)[-1])]
            schemas[unquote(message["payload"]["$ref"].rsplit("/", 1)[-1])] = _payload_schema(topic)
    for topic in PUBLISHES[service]:
        name = f"{service}:{topic}:publish"
        schemas[f"{name}:Payload"] = _payload_schema(topic)
        components["messages"][name] = {
            "title": name, "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{name}:Payload"},
        }
        spec.setdefault("channels", {})[name] = {
            "address": topic, "messages": {"Message": {"$ref": f"#/components/messages/{name}"}},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": "0.4.0"}},
        }
        spec.setdefault("operations", {})[name] = {
            "action": "send", "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/Message"}],
        }
    return spec


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
