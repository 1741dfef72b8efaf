"""Precision/recall of bnlint's rules on the labelled real-code corpus.

Re-create the corpus first (see ``real_corpus/recreate.py``), then::

    python benchmarks/real_corpus_pr.py CORPUS_DIR                 # every labelled rule
    python benchmarks/real_corpus_pr.py CORPUS_DIR --rules BN101,BN102 --json summary.json

``CORPUS_DIR`` is the ``--out`` folder of ``recreate.py``: one folder per
repository (``owner__name``). bnlint (the real CLI, ``--format json
--no-cache``) runs once per repository folder, from inside it, so finding
paths are repository paths and that folder is the project root. Matching:

- a finding of the labelled rule in a file labelled ``positive`` whose line
  lies in one of the label's line windows (``lines``: line numbers and/or
  ``[first, last]`` pairs, widened by ``--slack`` lines) is a true
  positive, and so is one in a window of the label's optional ``alt`` places
  (``[{"path": ..., "lines": [...]}]``, e.g. the model's
  ``forward(source, target)`` in another file); a positive label without
  one is a miss (false negative);
- a finding of a rule in a file labelled ``negative`` for that rule is a false
  alarm (false positive; counted once per label, all its findings listed);
- findings in files or rules without a label are counted as "unlabelled" and
  not scored (``--show-unlabelled`` lists them: candidates for new labels).

Labels marked ``"confidence": "borderline"`` (true by the rule page's
definition, but arguable: e.g. labelled and unlabelled halves of one dataset)
are scored by default; ``--exclude-borderline`` leaves them out.

No network is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "real_corpus"))
from recreate import DEFAULT_LABELS, folder_for, load_labels  # noqa: E402


def run_bnlint(bnlint: list[str], repo_dir: Path, rules: list[str], jobs: int | None) -> dict:
    cmd = [*bnlint, "check", ".", "--format", "json", "--select", ",".join(rules),
           "--no-cache", "--exit-zero", "--quiet", "--no-color"]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    proc = subprocess.run(cmd, cwd=repo_dir, capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"})
    # exit 2 with a JSON report = an internal error on some file (listed in "errors"),
    # every other file and rule was still run; without JSON it is a usage error
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"bnlint printed no JSON in {repo_dir} (exit {proc.returncode}):\n"
                           f"{proc.stdout[-1000:]}\n{proc.stderr[-2000:]}") from None


def norm(path: str) -> str:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def windows(label: dict, slack: int) -> list[tuple[int, int]]:
    """Line windows of a positive label: ``lines`` holds line numbers and/or
    ``[first, last]`` pairs; each is widened by ``slack``. No lines: the whole file."""
    out = []
    for item in label.get("lines") or []:
        lo, hi = (item, item) if isinstance(item, int) else (min(item), max(item))
        out.append((lo - slack, hi + slack))
    return out or [(1, 10 ** 9)]


def in_windows(line: int, wins: list[tuple[int, int]]) -> bool:
    return any(lo <= line <= hi for lo, hi in wins)


def evaluate(labels: list[dict], findings_by_repo: dict[str, list[dict]], slack: int) -> dict:
    """Score ``labels`` (each with ``_folder``, its corpus folder) against the
    findings of each corpus folder."""
    per_rule: dict[str, dict] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0, "tn": 0,
                                                     "pos": 0, "neg": 0})
    misses, false_alarms, hits, outside = [], [], [], []
    labelled = {(lab["_folder"], lab["path"], lab["rule"]) for lab in labels}
    labelled |= {(lab["_folder"], alt["path"], lab["rule"]) for lab in labels for alt in lab.get("alt", [])}
    for lab in labels:
        rule, repo, path, folder = lab["rule"], lab["repo"], lab["path"], lab["_folder"]
        found = [f for f in findings_by_repo.get(folder, [])
                 if f["code"] == rule and norm(f["path"]) == path]
        # a positive may name other places where the finding also belongs
        # (e.g. the model's forward(source, target) in another file)
        alt_found = []
        for alt in lab.get("alt", []) if lab["label"] == "positive" else []:
            alt_wins = windows(alt, slack)
            alt_found += [f for f in findings_by_repo.get(folder, [])
                          if f["code"] == rule and norm(f["path"]) == alt["path"]
                          and in_windows(f["line"], alt_wins)]
        stats = per_rule[rule]
        entry = {"id": lab.get("id"), "repo": repo, "commit": lab["commit"], "path": path, "rule": rule,
                 "confidence": lab.get("confidence", "high"),
                 "lines": lab.get("lines"), "why": lab.get("why", ""),
                 "findings": [{"line": f["line"], "message": f["message"]} for f in found]}
        if lab["label"] == "positive":
            stats["pos"] += 1
            wins = windows(lab, slack)
            if any(in_windows(f["line"], wins) for f in found) or alt_found:
                stats["tp"] += 1
                hits.append(entry)
            else:
                stats["fn"] += 1
                misses.append(entry)
                if found:
                    outside.append(entry)
        elif lab["label"] == "negative":
            stats["neg"] += 1
            if found:
                stats["fp"] += 1
                false_alarms.append(entry)
            else:
                stats["tn"] += 1
        else:
            raise SystemExit(f"label {lab.get('id')}: label must be positive or negative")
    unlabelled = defaultdict(int)
    unlabelled_list = []
    for folder, fs in findings_by_repo.items():
        for f in fs:
            if (folder, norm(f["path"]), f["code"]) not in labelled:
                unlabelled[f["code"]] += 1
                unlabelled_list.append({"folder": folder, "path": norm(f["path"]), "rule": f["code"],
                                        "line": f["line"], "message": f["message"]})
    for stats in per_rule.values():
        tp, fp, fn = stats["tp"], stats["fp"], stats["fn"]
        stats["precision"] = tp / (tp + fp) if tp + fp else None
        stats["recall"] = tp / (tp + fn) if tp + fn else None
    return {"per_rule": dict(sorted(per_rule.items())), "misses": misses,
            "false_alarms": false_alarms, "hits": hits, "outside_window": outside,
            "unlabelled_findings": dict(sorted(unlabelled.items())),
            "unlabelled": unlabelled_list}


def fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:5.2f}"


def print_report(summary: dict, *, show_hits: bool = False, show_unlabelled: bool = False) -> None:
    rows = summary["per_rule"]
    print(f"{'rule':6} {'pos':>4} {'neg':>4} {'TP':>4} {'FN':>4} {'FP':>4} {'TN':>4} {'prec':>6} {'recall':>6}")
    tot = defaultdict(int)
    for rule, s in rows.items():
        print(f"{rule:6} {s['pos']:4} {s['neg']:4} {s['tp']:4} {s['fn']:4} {s['fp']:4} {s['tn']:4} "
              f"{fmt(s['precision']):>6} {fmt(s['recall']):>6}")
        for k in ("pos", "neg", "tp", "fn", "fp", "tn"):
            tot[k] += s[k]
    p = tot["tp"] / (tot["tp"] + tot["fp"]) if tot["tp"] + tot["fp"] else None
    r = tot["tp"] / (tot["tp"] + tot["fn"]) if tot["tp"] + tot["fn"] else None
    print(f"{'all':6} {tot['pos']:4} {tot['neg']:4} {tot['tp']:4} {tot['fn']:4} {tot['fp']:4} {tot['tn']:4} "
          f"{fmt(p):>6} {fmt(r):>6}")

    def show(title: str, items: list[dict]) -> None:
        print(f"\n{title} ({len(items)})")
        for e in items:
            where = ":" + ",".join(str(x) if isinstance(x, int) else f"{x[0]}-{x[-1]}"
                                   for x in e["lines"]) if e["lines"] else ""
            flag = "  (borderline)" if e.get("confidence") == "borderline" else ""
            print(f"  {e['rule']} {e['repo']}:{e['path']}{where}  [{e['id']}]{flag}")
            print(f"      why: {e['why']}")
            for f in e["findings"]:
                print(f"      finding at line {f['line']}: {f['message'][:160]}")

    show("misses (positives without a finding in their window)", summary["misses"])
    show("false alarms (findings in files labelled negative)", summary["false_alarms"])
    if show_hits:
        show("hits", summary["hits"])
    if summary["unlabelled_findings"]:
        print("\nunlabelled findings (not scored):",
              ", ".join(f"{k}: {v}" for k, v in summary["unlabelled_findings"].items()))
        if show_unlabelled:
            for u in summary["unlabelled"]:
                print(f"  {u['rule']} {u['folder']}/{u['path']}:{u['line']}: {u['message'][:160]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path, help="the --out folder of real_corpus/recreate.py")
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    ap.add_argument("--rules", help="comma-separated rule codes to score (default: every labelled rule)")
    ap.add_argument("--slack", type=int, default=3, help="lines a finding may lie outside a positive's window")
    ap.add_argument("--bnlint", default=f"{shlex.quote(sys.executable)} -m bnlint",
                    help="command that runs bnlint (default: this Python's `-m bnlint`)")
    ap.add_argument("--jobs", "-j", type=int, default=None, help="passed to bnlint --jobs")
    ap.add_argument("--json", type=Path, help="also write the summary (counts, misses, false alarms) here")
    ap.add_argument("--show-hits", action="store_true", help="list the true positives too")
    ap.add_argument("--exclude-borderline", action="store_true",
                    help='score only labels without "confidence": "borderline"')
    ap.add_argument("--show-unlabelled", action="store_true",
                    help="list findings in files without a label for their rule (candidates to label)")
    args = ap.parse_args(argv)

    labels = load_labels(args.labels)
    if args.exclude_borderline:
        labels = [lab for lab in labels if lab.get("confidence", "high") != "borderline"]
    if args.rules:
        wanted = {r.strip() for r in args.rules.split(",") if r.strip()}
        labels = [lab for lab in labels if lab["rule"] in wanted]
    if not labels:
        print("no labels to score", file=sys.stderr)
        return 2
    folders = folder_for(load_labels(args.labels))  # folder names depend on every label
    rules_by_folder: dict[str, set[str]] = defaultdict(set)
    for lab in labels:
        rules_by_folder[folders[(lab["repo"], lab["commit"])]].add(lab["rule"])
    findings_by_repo: dict[str, list[dict]] = {}
    errors: list[str] = []
    for folder, rules in sorted(rules_by_folder.items()):
        repo_dir = args.corpus / folder
        if not repo_dir.is_dir():
            raise SystemExit(f"{repo_dir} is missing: run real_corpus/recreate.py first")
        report = run_bnlint(shlex.split(args.bnlint), repo_dir, sorted(rules), args.jobs)
        findings_by_repo[folder] = report.get("findings", [])
        for err in report.get("errors", []):
            errors.append(f"{folder}:{err.get('path')}: {err.get('kind')}: {err.get('message', '')[:200]}")
    for lab in labels:
        lab["_folder"] = folders[(lab["repo"], lab["commit"])]
    summary = evaluate(labels, findings_by_repo, args.slack)
    summary["bnlint_errors"] = errors
    print_report(summary, show_hits=args.show_hits, show_unlabelled=args.show_unlabelled)
    if errors:
        print(f"\nbnlint reported {len(errors)} file error(s):")
        for e in errors:
            print("  " + e)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(f"\nsummary written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
