"""The reference Hedwig library (hedwig-python, `authedwig` 11) as the peer of owlpost's interop tests.

    python peer.py publish < spec.json    publishes spec["messages"] with hedwig-python
    python peer.py consume < spec.json    consumes spec["expect"] messages with hedwig-python's consumer
    python peer.py raw < spec.json        sends spec["raw"] through the broker's own client, as they are
                                          (what other Hedwig libraries send; hedwig-python is not involved)

Each prints, after the line RESULT_MARKER on stdout, one JSON object: {"messages": [observed, ...]},
where an observed message is {"id", "type", "version", "data", "publisher", "timestamp", "headers"}
as hedwig-python sees it (published, or received). Errors go to stderr and the exit code is 1.

The spec (written by tests/tests/interop/peer.rs):
    backend       "aws" | "gcp"
    mode          "attributes" | "container" (HEDWIG_USE_TRANSPORT_MESSAGE_ATTRIBUTES)
    schema        path of the schema file (the reference runs one minor ahead: see ahead())
    publisher     HEDWIG_PUBLISHER
    routes        [[type, major, topic], ...]          (publish)
    messages      [{type, version, data, id?, headers}] (publish)
    queue         HEDWIG_QUEUE                          (consume)
    topics        HEDWIG_SUBSCRIPTIONS (gcp)            (consume)
    handles       [[type, major], ...]                  (consume)
    expect        how many messages to wait for         (consume)
    timeout_s     give up after this long               (consume)
    raw           [{topic, body, attributes}]           (raw)
    aws           {"endpoint", "region", "account"}
    gcp           {"project"}
"""

import json
import logging
import os
import sys
import tempfile
import threading
import time
import types
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)  # distutils, imported by hedwig-python 11
from distutils.version import StrictVersion  # noqa: E402 (hedwig-python 11's version type)

RESULT_MARKER = "--- owlpost peer result ---"

# A minor the owlpost build under test does not know yet: user-created 1.2 adds `locale`.
AHEAD_TYPE, AHEAD_MAJOR, AHEAD_VERSION = "user-created", "1.*", "1.2"


def ahead(schema_path):
    """The schema file with user-created 1.* edited in place to 1.2 (a rolling deploy), as a
    temporary file that main() removes."""
    with open(schema_path) as f:
        schema = json.load(f)
    major = schema["schemas"][AHEAD_TYPE][AHEAD_MAJOR]
    major["x-version"] = AHEAD_VERSION
    major.setdefault("x-versions", []).append(AHEAD_VERSION)
    major["properties"]["locale"] = {"type": "string", "description": "added in 1.2"}
    out = tempfile.NamedTemporaryFile("w", prefix="owlpost-peer-", suffix=".json", delete=False)
    json.dump(schema, out)
    out.close()
    TEMPORARY.append(out.name)
    return out.name


TEMPORARY = []


def configure(spec, callbacks):
    backend = spec["backend"]
    settings = types.SimpleNamespace(
        HEDWIG_JSONSCHEMA_FILE=ahead(spec["schema"]),
        HEDWIG_PUBLISHER=spec.get("publisher", "hedwig-python"),
        HEDWIG_USE_TRANSPORT_MESSAGE_ATTRIBUTES=spec["mode"] == "attributes",
        HEDWIG_MESSAGE_ROUTING={(t, f"{major}.*"): topic for t, major, topic in spec.get("routes", [])},
        HEDWIG_CALLBACKS=callbacks,
        HEDWIG_QUEUE=spec.get("queue"),
        HEDWIG_SUBSCRIPTIONS=spec.get("topics", []),
    )
    if backend == "aws":
        aws = spec["aws"]
        settings.HEDWIG_PUBLISHER_BACKEND = "hedwig.backends.aws.AWSSNSPublisherBackend"
        settings.HEDWIG_CONSUMER_BACKEND = "hedwig.backends.aws.AWSSQSConsumerBackend"
        settings.AWS_REGION = aws["region"]
        settings.AWS_ACCOUNT_ID = aws["account"]
        settings.AWS_ACCESS_KEY = "test"
        settings.AWS_SECRET_KEY = "test"
        settings.AWS_ENDPOINT_SNS = aws["endpoint"]
        settings.AWS_ENDPOINT_SQS = aws["endpoint"]
    elif backend == "gcp":
        settings.HEDWIG_PUBLISHER_BACKEND = "hedwig.backends.gcp.GooglePubSubPublisherBackend"
        settings.HEDWIG_CONSUMER_BACKEND = "hedwig.backends.gcp.GooglePubSubConsumerBackend"
        settings.GOOGLE_CLOUD_PROJECT = spec["gcp"]["project"]
        assert os.environ.get("PUBSUB_EMULATOR_HOST"), "PUBSUB_EMULATOR_HOST must point at the emulator"
    else:
        raise ValueError(f"unknown backend {backend!r}")
    from hedwig.conf import settings as hedwig_settings

    hedwig_settings.configure_with_object(settings)


def observed(message):
    return {
        "id": message.id,
        "type": message.type,
        "version": str(message.version),
        "data": message.data,
        "publisher": message.publisher,
        "timestamp": message.timestamp,
        "headers": dict(message.headers),
    }


def publish(spec):
    configure(spec, {})
    from hedwig.models import Message

    sent = []
    for m in spec["messages"]:
        message = Message.new(
            m["type"], StrictVersion(m["version"]), m["data"], msg_id=m.get("id"), headers=m.get("headers") or {}
        )
        message.publish()
        sent.append(observed(message))
    return sent


def consume(spec):
    received = []
    done = threading.Event()

    def record(message):
        received.append(observed(message))
        if len(received) >= spec["expect"]:
            done.set()

    configure(spec, {(t, f"{major}.*"): record for t, major in spec["handles"]})
    from hedwig.consumer import listen_for_messages

    timer = threading.Timer(spec.get("timeout_s", 60), done.set)
    timer.daemon = True
    timer.start()
    listen_for_messages(num_messages=10, visibility_timeout_s=30, shutdown_event=done)
    timer.cancel()
    if len(received) < spec["expect"]:
        raise TimeoutError(f"received {len(received)} of {spec['expect']} messages: {received}")
    return received


def raw(spec):
    """Publishes each body and its attributes unchanged: boto3's SNS client or google-cloud-pubsub's."""
    for m in spec["raw"]:
        if spec["backend"] == "aws":
            import boto3

            aws = spec["aws"]
            sns = boto3.client(
                "sns",
                region_name=aws["region"],
                endpoint_url=aws["endpoint"],
                aws_access_key_id="test",
                aws_secret_access_key="test",
            )
            sns.publish(
                TopicArn=f"arn:aws:sns:{aws['region']}:{aws['account']}:hedwig-{m['topic']}",
                Message=m["body"],
                MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in m["attributes"].items()},
            )
        else:
            from google.cloud import pubsub_v1

            publisher = pubsub_v1.PublisherClient()
            topic = publisher.topic_path(spec["gcp"]["project"], f"hedwig-{m['topic']}")
            publisher.publish(topic, data=m["body"].encode("utf8"), **m["attributes"]).result(timeout=30)
    return []


def main():
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="peer %(levelname)s %(name)s: %(message)s")
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    commands = {"publish": publish, "consume": consume, "raw": raw}
    if command not in commands:
        print(f"usage: {sys.argv[0]} publish|consume|raw < spec.json", file=sys.stderr)
        return 2
    spec = json.load(sys.stdin)
    started = time.perf_counter()
    try:
        messages = commands[command](spec)
    except Exception:
        logging.exception("%s failed", command)
        return 1
    finally:
        for path in TEMPORARY:
            os.unlink(path)
    print(RESULT_MARKER)
    # `elapsed_s`: the command's own time, without the interpreter's start (for the
    # throughput benchmark of `cargo xtask bench`).
    json.dump({"messages": messages, "elapsed_s": time.perf_counter() - started}, sys.stdout)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    # Skips interpreter shutdown: the Pub/Sub client's background threads would delay it.
    os._exit(main())
