"""The committed generated code matches the .proto files (else run `make proto`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "src" / "tactful" / "v1"


def generated_files(root: Path) -> dict[str, bytes]:
    generated = [*root.glob("*_pb2*.py*"), *root.glob("*.binpb")]
    return {p.name: p.read_bytes() for p in sorted(generated)}


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_proto.py"), "--out", str(tmp_path)],
        check=True,
    )
    fresh = generated_files(tmp_path / "tactful" / "v1")
    committed = generated_files(GENERATED)
    assert fresh, "protoc produced nothing"
    stale = sorted(
        name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name)
    )
    assert stale == [], f"stale generated code {stale}: run `make proto` and commit"


def test_every_proto_has_generated_code() -> None:
    protos = {p.stem for p in GENERATED.glob("*.proto")}
    assert protos == {"common", "personalization", "access_log", "subjects", "insights", "journeys"}
    assert {p.name.removesuffix("_pb2.py") for p in GENERATED.glob("*_pb2.py")} == protos


def test_every_field_and_method_is_commented() -> None:
    """Each rpc and each field in the .proto files has a comment line just above it."""
    missing = []
    for proto in sorted(GENERATED.glob("*.proto")):
        lines = proto.read_text().splitlines()
        for number, line in enumerate(lines):
            text = line.strip()
            is_field = (
                text.endswith(";")
                and "=" in text
                and not text.startswith(("syntax", "package", "option"))
            )
            if (is_field or text.startswith("rpc ")) and not lines[number - 1].strip().startswith(
                "//"
            ):
                missing.append(f"{proto.name}:{number + 1}: {text}")
    assert missing == []
