"""Every example block of README.md runs as written and writes the files it says it writes.

A fenced ```bash or ```python block is executed in a fresh temporary folder (bash blocks with the venv's
``grokjax`` first on PATH, python blocks with this interpreter) and must exit 0; each ``# -> FILE ...``
comment in it names files that must exist afterwards (``{a,b}`` is expanded as in the shell). A block preceded
by ``<!-- not-run: REASON -->`` is skipped (kept to the install commands). The paragraph right after each run
block states its time ("≈ N s on 2 cores") and its paper-size variant ("Paper size ... GPU: ..."); a block whose
shortest stated time (at most 30 s) runs in the default suite, the others are marked ``slow``
(``python -m pytest -m slow tests/test_readme.py``).
"""
from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent
FAST_LIMIT_S = 30.0  # the default-suite block must be stated to take at most this
LIMIT_S = 120.0  # the README promises every example block in <= 2 minutes on 2 cores

FENCE = re.compile(r"^```(\w*)\s*$")
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(.+?)\s*-->")
STATED = re.compile(r"≈\s*([\d.]+)\s*(s|min)\b[^.\n]*?on 2 cores")
WRITES = re.compile(r"#\s*->\s*(.+)$")


@dataclass
class Block:
    index: int
    lang: str
    line: int  # 1-based line of the opening fence
    code: str
    skip_reason: str | None
    after: str  # the text between this block and the next block or heading
    writes: list[str] = field(default_factory=list)

    @property
    def stated_s(self) -> float | None:
        match = STATED.search(self.after)
        if match is None:
            return None
        return float(match.group(1)) * (60 if match.group(2) == "min" else 1)

    @property
    def test_id(self) -> str:
        first = next((ln for ln in self.code.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
        first = first.split("#")[0]
        slug = re.sub(r"[^A-Za-z0-9]+", "-", first)[:40].strip("-")
        return f"L{self.line}-{self.lang}-{slug}"


def _expand(token: str) -> list[str]:
    """Shell-style brace expansion of one path (``figures/fig1.{png,pdf}``)."""
    parts = re.split(r"\{([^{}]*)\}", token)
    options = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(combo) for combo in itertools.product(*options)]


def parse_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match or not match.group(1):
            i += 1
            continue
        start, lang = i, match.group(1)
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        code = "\n".join(lines[start + 1:j]) + "\n"
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        marker = NOT_RUN.search(lines[k]) if k >= 0 else None
        end = j + 1
        while end < len(lines) and not lines[end].startswith(("```", "#")):
            end += 1
        writes = [path for m in map(WRITES.search, code.splitlines()) if m
                  for token in re.findall(r"(?:[^\s,{]|\{[^}]*\})+", m.group(1)) for path in _expand(token)]
        blocks.append(Block(len(blocks), lang, start + 1, code, marker.group(1) if marker else None,
                            "\n".join(lines[j + 1:end]), writes))
        i = j + 1
    return blocks


BLOCKS = parse_blocks(README.read_text(encoding="utf-8"))
RUN = [b for b in BLOCKS if b.lang in ("bash", "python") and b.skip_reason is None]


def test_readme_blocks_are_parsed_and_documented():
    assert len(RUN) >= 5, [b.test_id for b in BLOCKS]
    skipped = [b for b in BLOCKS if b.skip_reason is not None]
    assert len(skipped) <= 1, [(b.test_id, b.skip_reason) for b in skipped]  # the install commands only
    assert all(b.lang in ("bash", "python") for b in BLOCKS if b.skip_reason is None), "unknown block language"
    for block in RUN:
        assert block.stated_s is not None, f"{block.test_id}: no '≈ N s on 2 cores' after the block"
        assert block.stated_s <= LIMIT_S, f"{block.test_id}: stated {block.stated_s} s > {LIMIT_S} s"
        assert "Paper size" in block.after and "GPU" in block.after, \
            f"{block.test_id}: no paper-size variant with its CPU/GPU time after the block"
    assert any(b.stated_s <= FAST_LIMIT_S for b in RUN), "no README block short enough for the default suite"


def _params():
    stated = [b.stated_s if b.stated_s is not None else LIMIT_S for b in RUN]
    fastest = stated.index(min(stated)) if RUN else -1
    for i, block in enumerate(RUN):
        marks = [] if i == fastest and stated[i] <= FAST_LIMIT_S else [pytest.mark.slow]
        yield pytest.param(block, id=block.test_id, marks=marks)


@pytest.mark.parametrize("block", list(_params()))
def test_readme_block_runs_as_written(block, tmp_path):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "JAX_PLATFORMS": "cpu",
           "MPLBACKEND": "Agg"}
    if block.lang == "bash":
        cmd = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    else:
        script = tmp_path / "readme_block.py"
        script.write_text(block.code)
        cmd = [sys.executable, str(script)]
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - started
    print(f"README block at line {block.line}: {elapsed:.1f} s (stated ≈ {block.stated_s} s)")
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-5000:]
    missing = [p for p in block.writes if not (tmp_path / p).exists()]
    assert not missing, f"files the block says it writes are missing: {missing}\n{result.stdout[-2000:]}"


def test_parser_on_a_sample():
    sample = ("<!-- not-run: installs -->\n```bash\npip install .\n```\n\n```bash\n"
              "grokjax figure fig1  # -> figures/fig1.{png,pdf}, figures/data/fig1.nc\n```\n"
              "≈ 20 s on 2 cores. Paper size: x (CPU 1 s); GPU: not measured.\n## Next\n")
    skipped, run = parse_blocks(sample)
    assert skipped.skip_reason == "installs" and run.skip_reason is None
    assert run.writes == ["figures/fig1.png", "figures/fig1.pdf", "figures/data/fig1.nc"]
    assert run.stated_s == 20.0 and "Paper size" in run.after
