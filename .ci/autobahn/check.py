#!/usr/bin/env python3
"""Reads an Autobahn|Testsuite report (index.json) and fails unless every case passed.

The rule is tungstenite's published expectation: every case OK or INFORMATIONAL, every close
OK or INFORMATIONAL, and NON-STRICT only for 6.4.3 and 6.4.4 (where a text message's invalid
UTF-8 is found a frame later than it could be). Prints one summary line; the failures, if
any, one per line after it.

usage: check.py MODE INDEX_JSON
"""
import json
import sys
from collections import Counter

PASSING = {"OK", "INFORMATIONAL"}
NON_STRICT_ALLOWED = {"6.4.3", "6.4.4"}


def case_key(case_id):
    return tuple(int(part) for part in case_id.split("."))


def main():
    mode, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        index = json.load(f)
    if len(index) != 1:
        sys.exit(f"{mode}: expected one agent in {path}, found {sorted(index)}")
    (agent, cases), = index.items()
    tally = Counter()
    failures = []
    for case_id in sorted(cases, key=case_key):
        result = cases[case_id]
        behavior, close = result["behavior"], result["behaviorClose"]
        tally[behavior] += 1
        ok = behavior in PASSING or (
            behavior == "NON-STRICT" and case_id in NON_STRICT_ALLOWED
        )
        if not ok or close not in PASSING:
            failures.append(
                f"  {case_id}: {behavior}, close {close} ({result.get('reportfile', '')})"
            )
    parts = ", ".join(f"{n} {b}" for b, n in sorted(tally.items()))
    print(f"autobahn {mode}: {len(cases)} cases for {agent}: {parts}; "
          f"{len(failures)} failed")
    for line in failures:
        print(line)
    sys.exit(1 if failures or not cases else 0)


if __name__ == "__main__":
    main()
