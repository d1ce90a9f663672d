"""Sends records to Kafka as an independent client (kafka-python), each acknowledged
(acks=all) before the next is sent, so one key's records are stored in the order given.

usage: send.py BOOTSTRAP < {"create": [TOPIC...], "records": [{"topic", "key", "value", "headers"}]}

Topics in "create" are created first (one partition each) unless they exist.
"""

import json
import sys

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

bootstrap = sys.argv[1]
job = json.load(sys.stdin)
if job.get("create"):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    for topic in job["create"]:
        try:
            admin.create_topics([NewTopic(name=topic, num_partitions=1, replication_factor=1)])
        except TopicAlreadyExistsError:
            pass
    admin.close()
producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=16 << 20)
for record in job["records"]:
    headers = [(k, v.encode()) for k, v in (record.get("headers") or {}).items()]
    key = record["key"].encode() if record.get("key") is not None else None
    producer.send(record["topic"], key=key, value=record["value"].encode(), headers=headers).get(timeout=30)
producer.close()
