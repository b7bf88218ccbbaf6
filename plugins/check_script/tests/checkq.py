#!/usr/bin/python3
"""checkq.py - print one field of one check from an agent HTTP endpoint.

usage: checkq.py URL CHECK_ID FIELD
URL answers either a map {id: check} (/v1/agent/checks) or a list of
checks (/v1/health/node/<node>, /v1/health/state/any). Prints the field
raw (no trailing newline); exits 1 when the check is absent or the
endpoint does not answer JSON.
"""
import json
import sys
import urllib.request


def main():
    url, cid, field = sys.argv[1:4]
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            data = json.load(r)
    except Exception:
        return 1
    checks = data.values() if isinstance(data, dict) else data
    for c in checks:
        if c.get("CheckID") == cid:
            sys.stdout.write(str(c.get(field, "")))
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
