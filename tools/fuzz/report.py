"""Findings as reproducer files, and the campaign summary a person reads.

A reproducer is a small JSON file: which target, the minimised input (hex), the input
it was minimised from, what went wrong and the seed and input number that found it, so
`fuzz replay FILE` can re-run it and a bug report can quote it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

FORMAT = "smetslab-fuzz-finding/1"


class FindingFileError(ValueError):
    """A reproducer file that cannot be read: which file and what is wrong."""


@dataclass(slots=True)
class Finding:
    target: str
    kind: str  # "crash" or "invariant_violation"
    key: str
    summary: str
    input: bytes
    original: bytes = b""
    traceback: str = ""
    seed: int | None = None
    input_number: int | None = None  # which input of the campaign first showed it
    count: int = 1  # inputs of the campaign that failed this way
    file: str = ""

    def to_json(self) -> dict:
        out = asdict(self)
        out["input"] = self.input.hex().upper()
        out["original"] = self.original.hex().upper()
        return {"format": FORMAT, **out}

    @classmethod
    def from_json(cls, obj: dict, where: str = "") -> Finding:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise FindingFileError(f"{where}: not a {FORMAT} file")
        try:
            fields = {k: obj[k] for k in ("target", "kind", "key", "summary")}
            fields["input"] = bytes.fromhex(obj["input"])
            fields["original"] = bytes.fromhex(obj.get("original", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise FindingFileError(f"{where}: bad or missing field: {exc}") from None
        for name in ("traceback", "seed", "input_number", "count"):
            if name in obj:
                fields[name] = obj[name]
        return cls(**fields, file=where)

    def brief(self) -> dict:
        """What `--json` lists per finding (the input itself stays in the file)."""
        return {"kind": self.kind, "key": self.key, "summary": self.summary,
                "size": len(self.input), "count": self.count, "file": self.file}


def save(finding: Finding, folder: Path) -> Path:
    """Write the reproducer as `<target>-<kind>-<sha256 prefix>.json` under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(finding.key.encode() + finding.input).hexdigest()[:12]
    path = folder / f"{finding.target}-{finding.kind.replace('_', '-')}-{digest}.json"
    finding.file = str(path)
    path.write_text(json.dumps(finding.to_json(), indent=1) + "\n", encoding="utf-8")
    return path


def load(path: Path) -> Finding:
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FindingFileError(f"{path}: {exc}") from None
    return Finding.from_json(obj, str(path))


def text(summary: dict) -> str:
    """The campaign summary for a terminal."""
    pool = summary.get("pool")
    kept = f", pool {pool:,}" if pool is not None else f", guided by {summary.get('guided')}"
    lines = [f"{summary['target']}: {summary['inputs']:,} inputs in {summary['seconds']:.1f} s "
             f"({summary['inputs_per_second']:,.0f}/s), seed {summary['seed']}, "
             f"{summary['corpus']:,} seeds",
             f"crashes {summary['crashes']}, invariant violations "
             f"{summary['invariant_violations']}, rejected {summary['rejected']:,}{kept}"]
    for f in summary["findings"]:
        lines.append(f"  {f['kind']} x{f['count']}: {f['summary']}")
        lines.append(f"    reproducer ({f['size']} bytes): {f['file']}")
    return "\n".join(lines)
