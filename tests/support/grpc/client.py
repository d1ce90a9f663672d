"""A gRPC client of clinicstream.v1.Events, generated at start with grpcio-tools from the
checked-in proto/clinicstream/v1/events.proto (what an integrator would do), driven by
tests/api/grpc: it prints one JSON line per event, then one line with the final status.

    client.py subscribe TARGET KEY PRACTICE [--after C] [--types A,B] [--count N]
                        [--delay SECONDS --window BYTES]
    client.py reflect TARGET
"""

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def generated():
    """Generates the Python modules from the .proto into a temporary directory."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="clinicstream-grpc-")
    proto_root = os.path.join(ROOT, "proto")
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            os.path.join(proto_root, "clinicstream", "v1", "events.proto"),
        ]
    )
    if code != 0:
        sys.exit(f"grpc_tools.protoc failed with {code}")
    sys.path.insert(0, out)
    from clinicstream.v1 import events_pb2, events_pb2_grpc

    return events_pb2, events_pb2_grpc


def emit(line):
    print(json.dumps(line), flush=True)


def subscribe(args):
    import grpc

    events_pb2, events_pb2_grpc = generated()
    # A slow reader: a small HTTP/2 stream window (no BDP probing to grow it) that the
    # server fills while the client waits before reading.
    options = [("grpc.http2.lookahead_bytes", args.window), ("grpc.http2.bdp_probe", 0)] if args.window else []
    with grpc.insecure_channel(args.target, options=options) as channel:
        stub = events_pb2_grpc.EventsStub(channel)
        request = events_pb2.SubscribeRequest(
            practice_id=args.practice,
            types=[t for t in args.types.split(",") if t] if args.types else [],
            after=args.after or "",
        )
        metadata = [("authorization", f"Bearer {args.key}")] if args.key else []
        stream = stub.Subscribe(request, metadata=metadata)
        emit({"opened": True})
        if args.delay:
            # Wait for the server to have opened the stream (its initial metadata), then
            # read nothing for a while.
            stream.initial_metadata()
            emit({"waiting": args.delay})
            time.sleep(args.delay)
        seen = 0
        try:
            for event in stream:
                emit(
                    {
                        "cursor": event.cursor,
                        "seq": event.seq,
                        "type": event.type,
                        "occurred_at": event.occurred_at,
                        "practice_id": event.practice_id,
                        "data": json.loads(event.data),
                    }
                )
                seen += 1
                if args.count and seen >= args.count:
                    stream.cancel()
                    emit({"status": "CANCELLED_BY_CLIENT", "details": ""})
                    return
            emit({"status": "OK", "details": ""})
        except grpc.RpcError as err:
            emit({"status": err.code().name, "details": err.details() or ""})


def reflect(args):
    import grpc
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    with grpc.insecure_channel(args.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(database.get_services())
        pool = DescriptorPool(database)
        method = pool.FindMethodByName("clinicstream.v1.Events.Subscribe")
        emit(
            {
                "services": services,
                "subscribe": {
                    "input": method.input_type.full_name,
                    "output": method.output_type.full_name,
                    "server_streaming": method.server_streaming if hasattr(method, "server_streaming") else None,
                    "event_fields": [f.name for f in method.output_type.fields],
                },
            }
        )
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service="clinicstream.v1.Events"))
        emit({"health": health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)})


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("subscribe")
    sub.add_argument("target")
    sub.add_argument("key")
    sub.add_argument("practice")
    sub.add_argument("--after")
    sub.add_argument("--types")
    sub.add_argument("--count", type=int)
    sub.add_argument("--delay", type=float, help="seconds to wait before reading")
    sub.add_argument("--window", type=int, help="the HTTP/2 stream window, in bytes")
    ref = commands.add_parser("reflect")
    ref.add_argument("target")
    args = parser.parse_args()
    {"subscribe": subscribe, "reflect": reflect}[args.command](args)


if __name__ == "__main__":
    main()
