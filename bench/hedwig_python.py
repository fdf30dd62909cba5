"""hedwig-python 11's publish and consume paths on the data of owlpost's `speed` benchmark:
`cargo xtask bench` runs this with the interop suite's hedwig-python and prints its figures
next to owlpost's.

Prints one JSON object: benchmark id -> median nanoseconds per call, for
* `p1/<schema>/hedwig-python`: `Message.new(...)` and `.serialize()` (validate, envelope,
  attributes encoding), what its publisher does before its backend;
* `p2/<schema>/hedwig-python`: `Message.deserialize(body, attributes, None)` (decode,
  validate, message object), what its consumer does before the callback.
"""

import json
import statistics
import subprocess
import sys
import time
import types
import uuid

ROUNDS = 7


def main():
    root = sys.argv[1]
    cases = {
        "reference": (f"{root}/codegen/tests/fixtures/hedwig_reference.json", "1.0", {"user_id": "U_1001"}),
        "example": (
            f"{root}/schemas/example.json",
            "1.1",
            {"user_id": "U_1001", "email": "ada@example.com", "plan": "pro", "referrer": "newsletter"},
        ),
    }
    if len(sys.argv) > 2:
        name = sys.argv[2]
        print(json.dumps(measure(name, *cases[name])))
        return
    # One process per schema: hedwig-python loads its schema file once per process.
    results = {}
    for name in cases:
        out = subprocess.run([sys.executable, __file__, root, name], check=True, capture_output=True, text=True)
        results.update(json.loads(out.stdout))
    print(json.dumps(results))


def measure(name, schema, version, data):
    configure(schema)
    # Imported after configuring: hedwig reads its settings on first use.
    from hedwig.models import Message
    from distutils.version import StrictVersion
    from hedwig.validators.jsonschema import JSONSchemaValidator

    from hedwig.conf import settings

    settings.HEDWIG_DATA_VALIDATOR_CLASS = JSONSchemaValidator
    headers = {"request_id": "req-42"}

    def publish():
        message = Message.new("user-created", StrictVersion(version), data, headers=headers)
        return message.serialize()

    body, attributes = publish()

    def consume():
        return Message.deserialize(body, attributes, None)

    return {
        f"p1/{name}/hedwig-python": median_ns(publish),
        f"p2/{name}/hedwig-python": median_ns(consume),
    }


def configure(schema):
    from hedwig.conf import settings

    settings.configure_with_object(
        types.SimpleNamespace(
            HEDWIG_JSONSCHEMA_FILE=schema,
            HEDWIG_PUBLISHER="bench",
            HEDWIG_USE_TRANSPORT_MESSAGE_ATTRIBUTES=True,
            HEDWIG_MESSAGE_ROUTING={("user-created", "1.*"): "user-created-v1"},
            HEDWIG_CALLBACKS={},
            HEDWIG_PUBLISHER_BACKEND="hedwig.backends.aws.AWSSNSPublisherBackend",
            HEDWIG_CONSUMER_BACKEND="hedwig.backends.aws.AWSSQSConsumerBackend",
        )
    )


def median_ns(call):
    """The median over ROUNDS rounds of the mean time per call, each round about 0.2 s."""
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.2:
        call()
        calls += 1
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(calls):
            call()
        rounds.append((time.perf_counter_ns() - start) / calls)
    return statistics.median(rounds)


if __name__ == "__main__":
    uuid.uuid4()
    main()
