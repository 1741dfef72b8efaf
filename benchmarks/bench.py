"""Speed benchmark: bnlint against raw LibCST parsing (and TorchFix / Fixit when installed).

Builds its corpus offline from what is installed. The default ``ml`` corpus is real ML
project code: the installed ``torch`` wheel's ``nn``, ``optim``, ``utils``, ``ao`` and
``distributed`` trees, plus generated projects shaped like domain-adaptation and GAN
repositories (``ml_projects.py``: models, datasets, trainers and scripts that import each
other), where nearly every file passes the pre-filter. ``torch`` (the whole package) and
``stdlib`` (the CPython standard library) remain available. The files are copied into a
temporary project (so the project index sees exactly that tree). Every measurement runs
in a fresh child process, one after another, and is reported as a ratio to the time
``libcst.parse_module`` alone takes over the same files in one process.

    python benchmarks/bench.py                   # ML corpus, default rules, -j 2
    python benchmarks/bench.py --repeat 1        # one round: a third of the time, noisier ratios
    python benchmarks/bench.py --sample 400      # about 400 torch files plus the generated projects
    python benchmarks/bench.py --memory-tree 5000  # also: peak RSS of a cold run over 5,000 generated files
    python benchmarks/bench.py --corpus both --select ALL --sample 600  # the earlier stdlib+torch run

Wall times on a busy machine are noisy, and a shared machine drifts by tens of percent within
minutes. So the rows are measured in rounds (``--repeat``, default 3): each round measures every
row once, raw parsing next to bnlint, and each row reports its fastest round (the JSON keeps all of
them); a ratio then compares two best cases taken at the same moments. CPU seconds are reported
alongside. bnlint's bytecode is
cached (compiled once before the first measurement, as in an installed bnlint) even where the
environment sets ``PYTHONDONTWRITEBYTECODE``. A warm row measured after bnlint's own sources
changed (a checkout edited during the run, which moves the cache to a new fingerprint folder)
is marked INVALID.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ml_projects  # noqa: E402  (beside this file)

ML_TORCH_TREES = ("nn", "optim", "utils", "ao", "distributed")  # the parts of torch ML code imports and resembles
CHANGED_FILE = os.path.join("torch", "nn", "modules", "batchnorm.py")  # the "one file changed"
# In the ml corpus the torch trees sit under pytorch/ (module names ``pytorch.torch...``), so that
# the generated projects' ``import torch`` means the library, as in a user's project, not the
# copied sources; the changed file is then a model module that every trainer and script imports.
ML_TORCH_DIR = "pytorch"
ML_CHANGED_FILE = os.path.join("mlproj0", "models", "heads.py")


# -- corpus ---------------------------------------------------------------------------
def _sources(base: str) -> List[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "site-packages", "dist-packages"))
        out.extend(os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py"))
    return out


def build_corpus(dest: str, which: str, limit: Optional[int], sample: Optional[int] = None,
                 projects: int = 4) -> List[str]:
    """Copy the chosen sources under ``dest`` (a project root); returns the relative paths."""
    bases = []
    if which in ("torch", "both", "ml"):
        try:
            import importlib.util

            spec = importlib.util.find_spec("torch")  # located, never imported
        except ImportError:
            spec = None
        if spec is None or not spec.submodule_search_locations:
            sys.exit("torch is not installed: use --corpus stdlib")
        bases.append(("torch", list(spec.submodule_search_locations)[0]))
    if which in ("stdlib", "both"):
        bases.append(("stdlib", sysconfig.get_paths()["stdlib"]))
    rels = []
    for name, base in bases:
        if which == "ml":
            for sub in ML_TORCH_TREES:
                rels.extend((name, os.path.relpath(p, base), p) for p in _sources(os.path.join(base, sub)))
            init = os.path.join(base, "__init__.py")
            rels.append((name, "__init__.py", init))
        else:
            rels.extend((name, os.path.relpath(p, base), p) for p in _sources(base))
    if sample:
        # Every k-th file in path order (a spread over every package), plus the changed file.
        rels = sorted(rels, key=lambda r: (r[0], r[1]))
        step = max(1, len(rels) // sample)
        rels = [r for i, r in enumerate(rels) if i % step == 0 or os.path.join(r[0], r[1]) == CHANGED_FILE]
    if limit:
        # Keep the changed file in a limited corpus; otherwise the first files in path order.
        rels = sorted(rels, key=lambda r: (os.path.join(r[0], r[1]) != CHANGED_FILE, r[0], r[1]))[:limit]
    out = []
    for name, rel, src in rels:
        target = os.path.join(dest, ML_TORCH_DIR if which == "ml" else "", name, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(src, target)
        out.append(os.path.relpath(target, dest))
    if which == "ml" and projects:
        out.extend(ml_projects.generate(dest, projects))  # never sampled: each is one connected project
    with open(os.path.join(dest, "pyproject.toml"), "w", encoding="utf-8") as fh:
        fh.write("[tool.bnlint]\n")
    return sorted(out)


def count_lines(root: str, files: List[str]) -> int:
    total = 0
    for rel in files:
        with open(os.path.join(root, rel), "rb") as fh:
            total += fh.read().count(b"\n")
    return total


# -- measurements (each in a fresh child process) -----------------------------------------
def _child_parse(root: str, part: str = "0/1") -> None:
    import libcst

    k, n = (int(x) for x in part.split("/"))
    files = [os.path.join(root, f) for f in json.load(open(os.path.join(root, ".files.json")))][k::n]
    failed = 0
    for path in files:
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            libcst.parse_module(data)
        except Exception:  # syntax the parser rejects counts as parsed (it was read and tried)
            failed += 1
    print(json.dumps({"failed": failed}))


def _parse_in_processes(root: str, jobs: int) -> None:
    """Raw parsing split evenly over ``jobs`` processes at once: how much faster this machine can
    run ``jobs`` independent parses than one (the ceiling for any ``-j`` speed-up measured here)."""
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "bench.py"), "--_parse", root,
                               "--_part", f"{k}/{jobs}"], stdout=subprocess.DEVNULL) for k in range(jobs)]
    if any(p.wait() != 0 for p in procs):
        raise SystemExit(1)


def measure(cmd: List[str], cwd: str, env: Optional[Dict[str, str]] = None) -> Dict[str, float]:
    """Run ``cmd``; wall seconds, CPU seconds of it and its children, peak RSS (MiB) of the process tree."""
    wrapper = [sys.executable, os.path.join(HERE, "bench.py"), "--_measure", json.dumps(cmd)]
    start = time.perf_counter()
    proc = subprocess.run(wrapper, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    data["wall_outer"] = wall
    return data


def _child_measure(cmd: List[str]) -> None:
    import resource

    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024,
                      "rc": proc.returncode, "stdout_lines": proc.stdout.count("\n"),
                      "stderr_tail": proc.stderr[-300:]}))


def prime_bytecode(work: str, env: Dict[str, str], select: Optional[str]) -> None:
    """One unmeasured run over a tiny project that imports everything a measured run does, so that
    bnlint's modules are compiled (and their bytecode cached) before the first measurement."""
    tiny = os.path.join(work, "prime")
    os.makedirs(tiny)
    with open(os.path.join(tiny, "pyproject.toml"), "w", encoding="utf-8") as fh:
        fh.write("[tool.bnlint]\n")
    with open(os.path.join(tiny, "train.py"), "w", encoding="utf-8") as fh:
        fh.write("import torch.nn as nn\n\nnet = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))\n"
                 "for x in []:\n    net(x).sum().backward()\n")
    subprocess.run(bnlint_cmd(tiny, 1, cache=False, select=select), cwd=tiny, env=env, capture_output=True)


def bnlint_cmd(target: str, jobs: int, cache: bool = True, select: Optional[str] = None) -> List[str]:
    cmd = [sys.executable, "-m", "bnlint", "check", "--exit-zero", "-q", "--format", "json", "-j", str(jobs), target]
    if select:
        cmd += ["--select", select]
    return cmd if cache else cmd + ["--no-cache"]


def tool_cmd(name: str, target: str, jobs: int) -> Optional[List[str]]:
    exe = shutil.which(name, path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        return None
    if name == "torchfix":
        return [exe, "--select", "ALL", "-j", str(jobs), target]
    return [exe, "lint", target]  # Fixit has no process-count option: it uses every core


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=["ml", "torch", "stdlib", "both"], default="ml")
    ap.add_argument("--projects", type=int, default=4, help=f"generated ML projects in the ml corpus ({ml_projects.FILES_PER_PROJECT} files each)")
    ap.add_argument("--select", default=None, help="rules to select (default: bnlint's default rules; ALL: every rule)")
    ap.add_argument("--memory-tree", type=int, default=None, metavar="N",
                    help="also lint a generated tree of about N files cold at -j 1 and report its peak RSS")
    ap.add_argument("--limit", type=int, default=None, help="only the first N files (sorted)")
    ap.add_argument("--sample", type=int, default=None, help="about N files spread evenly over the corpus")
    ap.add_argument("--jobs", type=int, default=2, help="processes for the parallel runs and the other tools")
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds; each measures every row once, and each row reports its fastest round")
    ap.add_argument("--json", dest="json_out", help="also write the results to this file")
    ap.add_argument("--no-tools", action="store_true", help="skip TorchFix and Fixit even if installed")
    ap.add_argument("--keep", action="store_true", help="keep the temporary corpus")
    ap.add_argument("--_measure", help=argparse.SUPPRESS)
    ap.add_argument("--_parse", help=argparse.SUPPRESS)
    ap.add_argument("--_part", default="0/1", help=argparse.SUPPRESS)
    ap.add_argument("--_parse_parallel", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._parse_parallel:
        _parse_in_processes(args._parse_parallel, args.jobs)
        return 0
    if args._measure:
        _child_measure(json.loads(args._measure))
        return 0
    if args._parse:
        _child_parse(args._parse, args._part)
        return 0

    work = tempfile.mkdtemp(prefix="bnlint-bench-")
    root = os.path.join(work, "corpus")
    os.makedirs(root)
    try:
        files = build_corpus(root, args.corpus, args.limit, args.sample, args.projects)
        with open(os.path.join(root, ".files.json"), "w") as fh:
            json.dump(files, fh)
        lines = count_lines(root, files)
        env = dict(os.environ, NO_COLOR="1")
        env.pop("PRE_COMMIT", None)
        env.pop("BNLINT_NO_CACHE", None)
        # Bytecode as an installed bnlint has it (pip compiles on install; a checkout caches it on first
        # import): without it every run compiles bnlint's sources again, most of a one-file run.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        prime_bytecode(work, env, args.select)
        cache = os.path.join(root, ".bnlint_cache")
        res: Dict[str, Dict[str, float]] = {}

        def folders():
            # The cache's fingerprint folders: bnlint's own sources are part of the fingerprint, so a
            # new folder after the cold run means the sources changed (a checkout edited meanwhile) and
            # the "warm" rows linted everything again.
            try:
                return sorted(d for d in os.listdir(cache) if len(d) == 32)
            except OSError:
                return []

        def step(name, cmd, fresh_cache=False):
            if fresh_cache:
                shutil.rmtree(cache, ignore_errors=True)
            print(f"  {name} ...", file=sys.stderr, flush=True)
            got = measure(cmd, root, env)
            if name.startswith("cold_"):
                cold_folders[:] = folders()
            elif name in ("warm_j1", "one_file_precommit", "one_file_whole_tree") and folders() != cold_folders:
                got["sources_changed"] = True
                print(f"  warning: bnlint's sources changed during {name}: not a warm run", file=sys.stderr)
            # Best of the rounds (as timeit does): the machine's drift and other load only add time.
            # Every round measures every row, so raw parsing and bnlint see the same moments.
            best = res.get(name)
            walls = (best or {}).get("walls", []) + [round(got["wall"], 3)]
            if best is None or got["wall"] < best["wall"]:
                best = got
            best = dict(best, walls=walls, cpu=min(got["cpu"], (res.get(name) or got)["cpu"]),
                        sources_changed=got.get("sources_changed") or (res.get(name) or {}).get("sources_changed"))
            res[name] = best

        cold_folders: List[str] = []

        print(f"corpus: {len(files)} files, {lines} lines ({root})", file=sys.stderr)
        changed = os.path.join(root, ML_CHANGED_FILE if args.corpus == "ml" else CHANGED_FILE)
        for round_no in range(args.repeat):
            if args.repeat > 1:
                print(f" round {round_no + 1} of {args.repeat}", file=sys.stderr)
            step("parse", [sys.executable, os.path.join(HERE, "bench.py"), "--_parse", root])
            step("cold_j1", bnlint_cmd(root, 1, select=args.select), fresh_cache=True)
            step("warm_j1", bnlint_cmd(root, 1, select=args.select))
            step("parse_jN", [sys.executable, os.path.join(HERE, "bench.py"), "--_parse_parallel", root,
                              "--jobs", str(args.jobs)])
            step("cold_jN", bnlint_cmd(root, args.jobs, select=args.select), fresh_cache=True)
            if os.path.exists(changed):
                with open(changed, "a", encoding="utf-8") as fh:
                    fh.write(f"\n# edited by the benchmark (round {round_no + 1})\n")
                # only the staged file (the index still covers the tree); then the whole tree, whose
                # cache is valid except for the files that depend on the edited one
                step("one_file_precommit", bnlint_cmd(changed, 1, select=args.select))
                step("one_file_whole_tree", bnlint_cmd(root, 1, select=args.select))
        if not args.no_tools:
            for tool in ("torchfix", "fixit"):
                cmd = tool_cmd(tool, root, args.jobs)
                if cmd is None:
                    print(f"  {tool}: not installed, skipped", file=sys.stderr)
                    continue
                try:
                    step(tool, cmd)
                except RuntimeError as exc:
                    print(f"  {tool}: failed, skipped ({exc})", file=sys.stderr)
        if args.memory_tree:
            # Peak memory on a large tree: generated projects only, cold, one process.
            big = os.path.join(work, "memory_tree")
            os.makedirs(big)
            n_big = len(ml_projects.generate(big, max(1, -(-args.memory_tree // ml_projects.FILES_PER_PROJECT))))
            with open(os.path.join(big, "pyproject.toml"), "w", encoding="utf-8") as fh:
                fh.write("[tool.bnlint]\n")
            print(f"  memory tree: {n_big} files ...", file=sys.stderr, flush=True)
            res["memory_tree"] = measure(bnlint_cmd(big, 1, select=args.select), big, env)
            res["memory_tree"]["files"] = n_big
        report = {"files": len(files), "lines": lines, "jobs": args.jobs, "corpus": args.corpus,
                  "projects": args.projects if args.corpus == "ml" else 0, "select": args.select or "default",
                  "limit": args.limit, "sample": args.sample, "repeat": args.repeat,
                  "python": sys.version.split()[0], "results": res}
        print(render(report))
        if args.json_out:
            with open(args.json_out, "w", encoding="utf-8") as fh:
                json.dump(report, fh, indent=2)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def render(report: dict) -> str:
    res = report["results"]
    base = res["parse"]["wall"]
    base_cpu = res["parse"]["cpu"]
    rules = "all rules" if str(report.get("select", "")).upper() == "ALL" else f"rules: {report.get('select')}"
    rows = [f"corpus: {report['corpus']}, {report['files']} files, {report['lines']} lines; "
            f"python {report['python']}; {rules}; parallel runs and other tools with -j {report['jobs']}; "
            f"each row the fastest of {report.get('repeat', 1)} interleaved rounds",
            "",
            "| measurement | wall s | × raw parse (wall) | CPU s | × raw parse (CPU) | peak RSS MiB |",
            "|---|---|---|---|---|---|"]
    labels = {
        "parse": "raw `libcst.parse_module`, 1 process",
        "parse_jN": f"raw `libcst.parse_module`, split over {report['jobs']} processes at once",
        "cold_j1": "bnlint cold, -j 1",
        "cold_jN": f"bnlint cold, -j {report['jobs']}",
        "warm_j1": "bnlint warm cache, nothing changed",
        "one_file_precommit": "one changed file passed (pre-commit), index over the tree",
        "one_file_whole_tree": "whole tree after one file changed (warm otherwise)",
        "torchfix": f"TorchFix, -j {report['jobs']}",
        "fixit": "Fixit (its own process pool)",
        "memory_tree": f"memory tree: {res.get('memory_tree', {}).get('files', 0)} generated files, cold, -j 1",
    }
    for key, label in labels.items():
        if key in res:
            r = res[key]
            if r.get("sources_changed"):
                label += " (INVALID: bnlint's sources changed since the cold run)"
            rows.append(f"| {label} | {r['wall']:.2f} | {r['wall'] / base:.2f} | {r['cpu']:.2f} | "
                        f"{r['cpu'] / base_cpu:.2f} | {r['rss_mib']:.0f} |")
    rows.append("")
    if "cold_j1" in res and "cold_jN" in res:
        line = f"speed-up -j {report['jobs']} vs -j 1: {res['cold_j1']['wall'] / res['cold_jN']['wall']:.2f}×"
        if "parse_jN" in res:  # what this machine gives independent processes (shared or busy cores)
            line += (f" (raw parsing in {report['jobs']} processes: "
                     f"{res['parse']['wall'] / res['parse_jN']['wall']:.2f}× faster than in one)")
        rows.append(line)
    if "cold_j1" in res:
        cold = res["cold_j1"]["wall"]
        for key in ("warm_j1", "one_file_precommit", "one_file_whole_tree"):
            if key in res:
                rows.append(f"{labels[key]}: {100 * res[key]['wall'] / cold:.1f}% of cold -j 1 "
                            f"(CPU: {100 * res[key]['cpu'] / res['cold_j1']['cpu']:.1f}%)")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
