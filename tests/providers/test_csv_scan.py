"""Which CSV files are read leniently from the start: those quoting a line break early on."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from cloudact_providers.rawselect.reading import quotes_line_break


@pytest.mark.parametrize(
    ("text", "quoted_break"),
    [
        ('a,b\n1,"x\ny"\n', True),
        ('a,b\n1,"say ""hi"", twice"\n2,"""env"": ""prod"""\n', False),
        ('a,b\r\n1,"x"\r\n', False),
        ("a,b\n1,2\n", False),
    ],
)
def test_a_line_with_an_odd_number_of_quotes_is_a_quoted_line_break(
    tmp_path: Path, text: str, quoted_break: bool
) -> None:
    plain = tmp_path / "export.csv"
    plain.write_text(text)
    packed = tmp_path / "export.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    assert quotes_line_break(plain) is quoted_break
    assert quotes_line_break(packed) is quoted_break


def test_only_the_first_bytes_are_looked_at(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("a,b\n" + "1,2\n" * 1000 + '3,"x\ny"\n')
    assert quotes_line_break(path)
    assert not quotes_line_break(path, prefix_bytes=100)
