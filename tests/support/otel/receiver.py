"""An OTLP/HTTP trace receiver for tests/api/otel: a few lines of http.server decoding
ExportTraceServiceRequest with the opentelemetry-proto package (what a collector would
read). It prints {"port": N} first, then one JSON line per span received:
{service, name, trace_id, span_id, parent_span_id, kind, links: [{trace_id, span_id}],
attributes}. Ids are lowercase hex, an absent parent is "".

    receiver.py
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

# The largest export taken (the server's batches are far smaller).
MAX_BODY = 16 * 1024 * 1024


def value(any_value):
    kind = any_value.WhichOneof("value")
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(any_value, kind)
    return str(any_value)


def attributes(pairs):
    return {pair.key: value(pair.value) for pair in pairs}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if self.path != "/v1/traces" or length > MAX_BODY:
            self.send_error(404 if self.path != "/v1/traces" else 413)
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(length))
        lines = []
        for resource_spans in request.resource_spans:
            service = attributes(resource_spans.resource.attributes).get("service.name", "")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    lines.append(
                        json.dumps(
                            {
                                "service": service,
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_span_id": span.parent_span_id.hex(),
                                "kind": span.kind,
                                "links": [
                                    {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()}
                                    for link in span.links
                                ],
                                "attributes": attributes(span.attributes),
                            }
                        )
                    )
        if lines:
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
        body = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
