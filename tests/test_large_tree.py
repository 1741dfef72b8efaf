"""A large tree (20,000 generated files: small modules, models, training scripts) finishes, finds what it should, with bounded memory.

Peak RSS is measured in a wrapper child process with ``getrusage(RUSAGE_CHILDREN)``,
which covers bnlint and its worker processes, and printed (README quotes it).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

from .test_bad_inputs import BAD

N_FILES = 20_000
EVERY = 100  # one training script with a finding per 100 files
MODEL = ("import torch.nn as nn\n\n\nclass Block{i}(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
         "        self.conv = nn.Conv2d(3, 8, 3, bias=False)\n        self.bn = nn.BatchNorm2d(8)\n\n"
         "    def forward(self, x):\n        return self.bn(self.conv(x))\n")  # every 10th: a model module
PEAK_RSS_LIMIT_MB = 1024

_MEASURE = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
sys.stderr.write(proc.stderr[-2000:])
print(proc.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def test_twenty_thousand_files_with_bounded_memory(tmp_path):
    small = "import os\n\n\ndef helper_{i}(x):\n    return os.path.join(str(x), '{i}')\n"
    for i in range(N_FILES):
        folder = tmp_path / f"pkg{i // 500}"
        folder.mkdir(exist_ok=True)
        text = BAD if i % EVERY == 0 else (MODEL if i % 10 == 0 else small).format(i=i)
        (folder / f"mod{i}.py").write_text(text, encoding="utf-8")
    report = tmp_path / "report.json"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "bnlint", "--select", "ALL",
                           "-j", "2", "--no-cache", "--format", "json", "--output", str(report), "."],
                          cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    elapsed = time.monotonic() - start
    rc, peak_kb = map(int, proc.stdout.split())
    assert rc == 1, proc.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["files_checked"] == N_FILES and not data["errors"]
    assert len({f["path"] for f in data["findings"] if f["code"] == "BN103"}) == N_FILES // EVERY
    peak_mb = peak_kb / 1024
    print(f"\nlarge tree: {N_FILES} files in {elapsed:.0f} s, peak RSS of one process {peak_mb:.0f} MB")
    assert peak_mb < PEAK_RSS_LIMIT_MB
