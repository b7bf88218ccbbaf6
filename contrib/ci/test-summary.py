#!/usr/bin/env python3
"""test-summary.py [--line] [BUILDDIR] - count the results of the last
`make check` from automake's .trs and .log files and end with the line
`N passed, N failed` (`, N skipped` when any were).

Counts real test cases where a log shows them: TAP lines (tb_regress), the
`tests` row of CUnit's Run Summary, python unittest's `Ran N tests`. Any
other test program counts as one. A program that failed although its cases
passed (a crash at exit, a leak) adds one failure. Exit 1 if anything failed.
"""
import os
import re
import sys


def count(log, result):
    """(passed, failed, skipped) for one test program."""
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    p = f = s = 0
    found = False
    for m in re.finditer(r"^(not ok|ok) \d+\b(.*)$", text, re.M):
        found = True
        if m.group(1) == "not ok":
            f += 1
        elif re.search(r"#\s*SKIP", m.group(2), re.I):
            s += 1
        else:
            p += 1
    if not found:
        m = re.search(r"^\s+tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", text, re.M)
        if m:  # CUnit: tests Total Ran Passed Failed Inactive
            found, p, f = True, int(m.group(3)), int(m.group(4))
    if not found:
        m = re.search(r"^Ran (\d+) tests? in", text, re.M)
        if m:  # python unittest
            found = True
            ran = int(m.group(1))
            tail = text[m.end():]
            for kind, n in re.findall(r"(failures|errors|skipped)=(\d+)", tail):
                if kind == "skipped":
                    s += int(n)
                else:
                    f += int(n)
            p = ran - f - s
    if not found:
        if result in ("PASS", "XFAIL"):
            p = 1
        elif result == "SKIP":
            s = 1
        else:
            f = 1
    elif result in ("FAIL", "ERROR", "XPASS") and f == 0:
        f = 1
    return p, f, s


def main(argv):
    only_line = "--line" in argv
    args = [a for a in argv if a != "--line"]
    top = args[0] if args else "."
    rows = []
    for d, dirs, files in os.walk(top):
        dirs[:] = [x for x in dirs if x not in ("tmp_install", ".git", ".libs", ".deps")]
        for fn in files:
            if fn.endswith(".trs"):
                trs = os.path.join(d, fn)
                with open(trs, errors="replace") as fh:
                    m = re.search(r"^:test-result: (\S+)", fh.read(), re.M)
                res = m.group(1) if m else "ERROR"
                rows.append((trs[:-4] + ".log", res) + count(trs[:-4] + ".log", res))
    rows.sort()
    P = sum(r[2] for r in rows)
    F = sum(r[3] for r in rows)
    S = sum(r[4] for r in rows)
    if not only_line:
        for log, res, p, f, s in rows:
            print("%-5s %4d passed %3d failed %3d skipped  %s" % (res, p, f, s, os.path.relpath(log, top)))
    if not rows:
        print("no test results found under %s (did make check run?)" % top)
        F = 1
    print("%d passed, %d failed%s" % (P, F, ", %d skipped" % S if S else ""))
    return 1 if F else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
