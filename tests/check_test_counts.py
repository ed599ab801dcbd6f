#!/usr/bin/env python3
"""Every Catch test case declared must be a ctest entry that ran, and nothing else.

catch_discover_tests splits a test name at ';' into entries that match no test case; a
binary that does not build or list leaves its test cases out. Either way ctest alone would
still say "100% tests passed". This compares, per Catch binary, the test cases it declares
(`--list-test-names-only`) with the ctest entries of its label that ran (ctest's JUnit
report: passed, failed or skipped by SKIP_RETURN_CODE).

Usage: check_test_counts.py BUILD_DIR JUNIT_XML
Prints one line per binary; exits 1 on any mismatch, naming the test cases.
"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    build, junit = sys.argv[1], sys.argv[2]
    shown = json.loads(subprocess.run(["ctest", "--show-only=json-v1"], cwd=build, check=True,
                                      capture_output=True, text=True).stdout)
    entries = {}  # label -> (binary, [ctest names])
    for t in shown.get("tests", []):
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        labels = [l for l in props.get("LABELS", []) if l.startswith("tend_") and l.endswith("_tests")]
        if not labels or not t.get("command"):
            continue
        binary, names = entries.setdefault(labels[0], (t["command"][0], []))
        names.append(t["name"])

    ran = {}
    skipped = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        status = case.get("status")
        skip = case.find("skipped")
        if status in ("run", "fail"):
            ran[case.get("name")] = status
        elif skip is not None and "SKIP_RETURN_CODE" in (skip.get("message") or ""):
            ran[case.get("name")] = "skipped"
            skipped.append(case.get("name"))

    bad = False
    total_declared = total_ran = 0
    # A binary whose discovery registered nothing has no label above: find it on disk.
    tests_dir = os.path.join(build, "tests")
    for f in sorted(os.listdir(tests_dir)) if os.path.isdir(tests_dir) else []:
        if f.startswith("tend_") and f.endswith("_tests") and f not in entries:
            entries[f] = (os.path.join(tests_dir, f), [])
    for label in sorted(entries):
        binary, names = entries[label]
        if not os.access(binary, os.X_OK):
            print(f"{label}: {binary} is not built")
            bad = True
            continue
        listed = subprocess.run([binary, "--list-test-names-only"], capture_output=True, text=True)
        declared = {l for l in listed.stdout.splitlines() if l.strip()}
        executed = {n for n in names if n in ran}
        total_declared += len(declared)
        total_ran += len(executed)
        line = f"{label}: {len(declared)} test cases declared, {len(executed)} ctest entries ran"
        n_skipped = sum(1 for n in executed if ran[n] == "skipped")
        if n_skipped:
            line += f" ({n_skipped} skipped)"
        print(line)
        if declared != executed:
            bad = True
            for n in sorted(declared - executed):
                print(f"  declared but not run: {n!r}")
            for n in sorted(executed - declared):
                print(f"  ran but matches no declared test case: {n!r}")
    print(f"Catch test cases: {total_declared} declared, {total_ran} ran"
          + (f", {len(skipped)} skipped" if skipped else ""))
    if bad:
        print("FAIL: the Catch test cases declared and the ctest entries that ran differ "
              "(a ';' in a test name? a binary that did not list?)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
