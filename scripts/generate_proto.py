"""Generate the Python code for the Tactful API from src/tactful/v1/*.proto.

Usage: python scripts/generate_proto.py [--out DIR]

The generated modules are committed next to the .proto files; the test suite
regenerates them into a temporary folder and fails if they differ (stale code).
protoc writes the messages' stubs (*_pb2.pyi) itself; the services' stubs
(*_pb2_grpc.pyi: typed client stubs, servicer bases and add_*_to_server) come from
mypy-protobuf's plugin, installed beside this Python.
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
from pathlib import Path

import grpc_tools
from google.api import annotations_pb2
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent.parent / "src"
SOURCES = sorted((PROTO_ROOT / "tactful" / "v1").glob("*.proto"))


def generate(out: Path) -> None:
    """Write *_pb2.py, *_pb2.pyi, *_pb2_grpc.py and *_pb2_grpc.pyi for every source under
    `out`, and descriptors.binpb: the files' descriptors with their comments."""
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    googleapis = Path(annotations_pb2.__file__).parents[2]  # google/api/annotations.proto
    grpc_stubs = Path(sysconfig.get_path("scripts")) / "protoc-gen-mypy_grpc"
    (out / "tactful" / "v1").mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"-I{googleapis}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        f"--plugin=protoc-gen-mypy_grpc={grpc_stubs}",
        f"--mypy_grpc_out={out}",
        # The files with their comments, for reflection clients (api/reflection.py):
        # the descriptors inside *_pb2.py are written without them.
        "--include_source_info",
        f"--descriptor_set_out={out / 'tactful' / 'v1' / 'descriptors.binpb'}",
        *(str(source.relative_to(PROTO_ROOT)) for source in SOURCES),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed; see the messages above")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_ROOT, help="output root (default: src/)")
    generate(parser.parse_args().out)


if __name__ == "__main__":
    sys.exit(main())
