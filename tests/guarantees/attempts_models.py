"""Attempts on ``--model FILE.pt2``: archives that zip readers read differently, and graphs
whose operators reach outside the tensors. The payloads only write marker files."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from tests.guarantees import zip_attacks
from tests.guarantees.attempts import Verdict, attempt, expect_refusal


def _archive_attempt(build: Callable[[Path, Path], bytes], folder: Path) -> Verdict:
    from faithcam.io.model_sources import load_model

    marker = folder / "marker.txt"
    model_file = folder / "model.pt2"
    model_file.write_bytes(build(folder, marker))

    def load_and_run() -> None:
        loaded = load_model(str(model_file))
        loaded.model(torch.rand(1, 3, 16, 16))

    def harm() -> str | None:
        return "the archive's code ran (marker written)" if marker.exists() else None

    return expect_refusal(load_and_run, str(model_file), harm=harm)


# Each builder shows Python's zipfile (the inspector) and miniz (torch) different files, or
# lays the archive out ambiguously; zip_attacks checks that the differential is real.
ARCHIVE_ATTACKS = {
    "pt2_duplicate_entry_malicious_first": zip_attacks.duplicate_malicious_first,
    "pt2_nul_byte_in_entry_name": zip_attacks.null_byte_name,
    "pt2_polyglot_two_central_directories": zip_attacks.zip64_two_directories,
    "pt2_malicious_archive_prepended": zip_attacks.prepended_archive,
    "pt2_two_end_of_directory_records": zip_attacks.two_end_records,
    "pt2_local_header_disagrees_with_directory": zip_attacks.local_name_mismatch,
    "pt2_duplicate_name_in_other_case": zip_attacks.case_variant_duplicate,
}
for _name, _build in ARCHIVE_ATTACKS.items():
    attempt("security: .pt2 parser differential", name=_name)(
        functools.partial(_archive_attempt, _build)
    )


class _FileWriter(nn.Module):
    """A CAM-able model whose forward maps ``path`` shared and overwrites its first bytes."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.features = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mapped = torch.from_file(self.path, shared=True, size=8, dtype=torch.uint8)
        mapped.fill_(65)  # b"AAAAAAAA" into the file
        return self.fc(self.features(x).mean((2, 3))) + mapped.sum() * 0


def export_file_writer(victim: Path, out: Path) -> Path:
    """``torch.export`` of :class:`_FileWriter`: ``aten::from_file`` has no fake kernel, so one
    that only makes the output shape is registered for the export and removed after it."""
    library = torch.library.Library("aten", "IMPL")
    library.impl(
        "from_file",
        lambda filename, shared=None, size=0, *, dtype=None, layout=None, device=None,
        pin_memory=None: torch.empty(size, dtype=dtype, device="meta"),
        "Meta",
    )  # fmt: skip
    try:
        program = torch.export.export(_FileWriter(str(victim)).eval(), (torch.rand(1, 3, 8, 8),))
    finally:
        library._destroy()
    torch.export.save(program, out)
    return out


@attempt("security: graph with side effects")
def pt2_graph_calls_from_file(folder: Path) -> Verdict:
    from faithcam.io.model_sources import load_model

    victim = folder / "victim.bin"
    victim.write_bytes(b"precious file of the user")
    model_file = export_file_writer(victim, folder / "writer.pt2")

    def load_and_run() -> None:
        load_model(str(model_file)).model(torch.rand(1, 3, 8, 8))

    def harm() -> str | None:
        changed = victim.read_bytes() != b"precious file of the user"
        return (
            f"the graph overwrote {victim.name}: {victim.read_bytes()[:12]!r}" if changed else None
        )

    return expect_refusal(load_and_run, str(model_file), "from_file", harm=harm)
