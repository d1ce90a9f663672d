"""Reads a Kafka topic from the beginning as an independent client (kafka-python, with
isolation_level=read_committed) and checks each record with the CloudEvents SDK's Kafka
binding; prints the records as JSON lines' list on stdout.

usage: read_topic.py BOOTSTRAP TOPIC AT_LEAST WITHIN_SECONDS

Reads until it has AT_LEAST records and then until a poll brings nothing more and every
partition is read to its end (so duplicates past the count show), or until WITHIN_SECONDS.
"""

import json
import sys
import time

from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat
from kafka import KafkaConsumer, TopicPartition

bootstrap, topic, at_least, within = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.time() + within
consumer = KafkaConsumer(
    bootstrap_servers=bootstrap,
    isolation_level="read_committed",
    enable_auto_commit=False,
    group_id=None,
    auto_offset_reset="earliest",
)
partitions = None
while not partitions and time.time() < deadline:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        consumer.topics()  # refreshes the metadata
        time.sleep(0.2)
if not partitions:
    sys.exit(f"topic {topic} has no partitions within {within}s")
tps = [TopicPartition(topic, p) for p in sorted(partitions)]
consumer.assign(tps)
consumer.seek_to_beginning(*tps)
out = []
while time.time() < deadline:
    batch = consumer.poll(timeout_ms=500)
    for tp, records in sorted(batch.items(), key=lambda item: item[0].partition):
        for record in records:
            headers = {key: value for key, value in (record.headers or [])}
            message = KafkaMessage(headers=headers, key=record.key, value=record.value)
            # Raises on anything that is not a CloudEvent in a Kafka binding mode.
            event = from_kafka(message, JSONFormat())
            out.append(
                {
                    "partition": record.partition,
                    "offset": record.offset,
                    "key": record.key.decode() if record.key is not None else None,
                    "content_type": headers.get("content-type", b"").decode(),
                    "sdk": {
                        "specversion": event.get_specversion(),
                        "id": event.get_id(),
                        "source": event.get_source(),
                        "type": event.get_type(),
                    },
                    "event": json.loads(record.value),
                }
            )
    if len(out) >= at_least and not batch:
        ends = consumer.end_offsets(tps)
        if all(consumer.position(tp) >= ends[tp] for tp in tps):
            break
print(json.dumps(out))
