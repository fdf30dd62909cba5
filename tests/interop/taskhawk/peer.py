"""The reference Taskhawk library (taskhawk-python 4.7.0) as the peer of owlpost's interop tests.

    python peer.py dispatch < spec.json   dispatches spec["dispatch"] with taskhawk's own Task API
    python peer.py consume < spec.json    runs taskhawk's worker (listen_for_messages) on each priority of spec["expect"]
    python peer.py raw < spec.json        sends spec["raw"] through the broker's own client, as they are
                                          (what schedulers and other Taskhawk libraries send; taskhawk is not involved)

Each prints, after the line RESULT_MARKER on stdout, one JSON object {"messages": [...], "escaped": {...}}:
dispatch lists each task as taskhawk built it, with "error" (what dispatch() raised, or null); consume lists
each execution of a task as taskhawk called it, and "escaped" maps a priority to the exception that escaped
its worker. A task is {"id", "task", "priority", "timestamp", "headers", "args", "kwargs"}. Errors go to
stderr and the exit code is 1.

The spec (written by tests/tests/interop/tasks.rs):
    backend       "aws" | "gcp"
    queue         TASKHAWK_QUEUE: taskhawk derives every topic, queue and subscription name from it
    tasks         [[name, default priority], ...]            registered with an explicit name=
    dispatch      [{task, priority, kwargs, headers}]        (dispatch)
    expect        {priority: executions to wait for}         (consume)
    timeout_s     how long each priority's worker may take (consume; 20 s by default)
    raw           [{via: "sqs"|"sns"|"pubsub", to: queue name | topic ARN | topic path, body, attributes}] (raw)
    aws           {"endpoint", "region", "account"}
    gcp           {"project"}
"""

import json
import logging
import os
import sys
import threading
import types

RESULT_MARKER = "--- owlpost peer result ---"


def configure(spec):
    settings = types.SimpleNamespace(TASKHAWK_QUEUE=spec["queue"])
    if spec["backend"] == "aws":
        aws = spec["aws"]
        settings.TASKHAWK_PUBLISHER_BACKEND = "taskhawk.backends.aws.AWSSNSPublisherBackend"
        settings.TASKHAWK_CONSUMER_BACKEND = "taskhawk.backends.aws.AWSSQSConsumerBackend"
        settings.AWS_REGION = aws["region"]
        settings.AWS_ACCOUNT_ID = aws["account"]
        settings.AWS_ACCESS_KEY = "test"
        settings.AWS_SECRET_KEY = "test"
        settings.AWS_ENDPOINT_SNS = aws["endpoint"]
        settings.AWS_ENDPOINT_SQS = aws["endpoint"]
    elif spec["backend"] == "gcp":
        settings.TASKHAWK_PUBLISHER_BACKEND = "taskhawk.backends.gcp.GooglePubSubPublisherBackend"
        settings.TASKHAWK_CONSUMER_BACKEND = "taskhawk.backends.gcp.GooglePubSubConsumerBackend"
        settings.GOOGLE_CLOUD_PROJECT = spec["gcp"]["project"]
        assert os.environ.get("PUBSUB_EMULATOR_HOST"), "PUBSUB_EMULATOR_HOST must point at the emulator"
    else:
        raise ValueError(f"unknown backend {spec['backend']!r}")
    import taskhawk.conf

    taskhawk.conf.settings.configure_with_object(settings)


def observed(message_id, task, priority, timestamp, headers, args, kwargs):
    return {
        "id": message_id,
        "task": task,
        "priority": priority,
        "timestamp": timestamp,
        "headers": dict(headers),
        "args": list(args),
        "kwargs": dict(kwargs),
    }


def register(spec, run):
    """Registers every task of spec["tasks"] under its wire name; `run(name, metadata, headers, kwargs)` runs it."""
    import taskhawk

    tasks = {}
    for name, priority in spec["tasks"]:

        def task(*, metadata, headers, _name=name, **kwargs):
            run(_name, metadata, headers, kwargs)

        tasks[name] = taskhawk.task(name=name, priority=taskhawk.Priority[priority])(task)
    return tasks


def dispatch(spec):
    configure(spec)
    import taskhawk
    from taskhawk.models import Message

    # Task.dispatch() returns None (TASKHAWK.md §6.4), so the task is read where taskhawk builds
    # it: Message.new, wrapped to keep what it returns, unchanged.
    built = []
    new = Message.new.__func__

    def keep(cls, *args, **kwargs):
        built.append(new(cls, *args, **kwargs))
        return built[-1]

    Message.new = classmethod(keep)
    tasks = register(spec, lambda *_: None)
    sent = []
    for d in spec["dispatch"]:
        invocation = tasks[d["task"]].with_priority(taskhawk.Priority[d["priority"]]).with_headers(**d["headers"])
        error = None
        try:
            invocation.dispatch(**d["kwargs"])
        except Exception as e:  # reported, for the test to hold against what it expects
            logging.exception("dispatch raised")
            error = repr(e)
        m = built[-1]
        sent.append(
            {
                **observed(m.id, m.task_name, m.priority.name, m.timestamp, m.headers, m.args, m.kwargs),
                "error": error,
            }
        )
    return sent, {}


class ReceivedBodies(logging.Handler):
    """taskhawk's own "Received message" debug records: the body it is about to call the task with.
    The task functions take no positional parameters, so `args` is read from here."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.last = None

    def emit(self, record):
        if record.getMessage() == "Received message":
            self.last = record.message_body


def consume(spec):
    configure(spec)
    import taskhawk

    bodies = ReceivedBodies()
    base = logging.getLogger("taskhawk.backends.base")
    base.addHandler(bodies)
    base.setLevel(logging.DEBUG)
    executions, escaped = [], {}
    current = types.SimpleNamespace(count=0, want=0, done=threading.Event())

    def run(name, metadata, headers, kwargs):
        executions.append(
            observed(
                metadata.id,
                name,
                metadata.priority.name,
                metadata.timestamp,
                headers,
                bodies.last["args"],
                kwargs,
            )
        )
        current.count += 1
        if current.count >= current.want:
            current.done.set()

    register(spec, run)
    for priority, want in spec["expect"].items():
        current.count, current.want, current.done = 0, want, threading.Event()
        timer = threading.Timer(spec.get("timeout_s", 20), current.done.set)
        timer.daemon = True
        timer.start()
        try:
            taskhawk.listen_for_messages(
                taskhawk.Priority[priority], num_messages=10, visibility_timeout_s=30, shutdown_event=current.done
            )
        except Exception as e:
            logging.exception("listen_for_messages(%s) raised", priority)
            escaped[priority] = f"{type(e).__name__}: {e}"
        timer.cancel()
        if current.count < want and priority not in escaped:
            raise TimeoutError(f"{priority}: ran {current.count} of {want} tasks: {executions}")
    return executions, escaped


def raw(spec):
    """Sends each body and its attributes unchanged: boto3's SQS or SNS client, or google-cloud-pubsub's."""
    for m in spec["raw"]:
        attributes = m["attributes"]
        if m["via"] in ("sqs", "sns"):
            import boto3

            aws = spec["aws"]
            client = boto3.client(
                m["via"],
                region_name=aws["region"],
                endpoint_url=aws["endpoint"],
                aws_access_key_id="test",
                aws_secret_access_key="test",
            )
            extra = {}
            if attributes:
                extra["MessageAttributes"] = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
            if m["via"] == "sqs":
                url = client.get_queue_url(QueueName=m["to"])["QueueUrl"]
                client.send_message(QueueUrl=url, MessageBody=m["body"], **extra)
            else:
                client.publish(TopicArn=m["to"], Message=m["body"], **extra)
        elif m["via"] == "pubsub":
            from google.cloud import pubsub_v1

            publisher = pubsub_v1.PublisherClient()
            publisher.publish(m["to"], data=m["body"].encode("utf8"), **attributes).result(timeout=30)
        else:
            raise ValueError(f"unknown via {m['via']!r}")
    return [], {}


def main():
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="peer %(levelname)s %(name)s: %(message)s")
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    commands = {"dispatch": dispatch, "consume": consume, "raw": raw}
    if command not in commands:
        print(f"usage: {sys.argv[0]} dispatch|consume|raw < spec.json", file=sys.stderr)
        return 2
    try:
        messages, escaped = commands[command](json.load(sys.stdin))
    except Exception:
        logging.exception("%s failed", command)
        return 1
    print(RESULT_MARKER)
    json.dump({"messages": messages, "escaped": escaped}, sys.stdout)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    # Skips interpreter shutdown: the Pub/Sub client's background threads would delay it.
    os._exit(main())
