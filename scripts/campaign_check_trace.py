#!/usr/bin/python3
"""Checks a session trace written against the campaign server (scripts/campaign-*.sh).

    campaign_check_trace.py TRACE STEPS [--steps-log FILE | --partial]

The trace must read (every line a JSON object; a crash's torn line is cut off by the next writer,
so none may remain), and the conversation in it must hold the campaign's steps exactly once:
assistant tool calls call-1..call-STEPS in order, one tool result for each, then the final text
"done: STEPS steps" once (the end of the text: an oversized reply puts filler before it). Prints one JSON line of facts; exits 1 with the first problem otherwise.
With --steps-log, also reports which settled ("not run") calls did in fact run. With --partial
(a run that ended early, e.g. on an API failure), the calls need only be a prefix of the steps,
each with at most one result, and the final text at most once.
"""
import json
import sys


def main():
    path, steps = sys.argv[1], int(sys.argv[2])
    steps_log = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--steps-log" else None
    partial = "--partial" in sys.argv[3:]
    events = []
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            try:
                events.append(json.loads(line))
            except ValueError:
                print(f"line {n} of {path} does not parse: {line[:80]!r}")
                return 1
    calls, results, finals, settled = [], [], 0, []
    for e in events:
        m = e.get("message")
        if e.get("type") not in ("message", "response", "tool") or not isinstance(m, dict):
            continue
        if m.get("role") == "assistant":
            calls += [c["id"] for c in m.get("tool_calls", [])]
            # (an oversized reply carries the answer after megabytes of filler)
            if (m.get("content") or "").endswith(f"done: {steps} steps"):
                finals += 1
        elif m.get("role") == "tool":
            results.append(m.get("tool_call_id"))
            if e.get("settled"):
                settled.append(m.get("tool_call_id"))
    want = [f"call-{k}" for k in range(1, steps + 1)]
    if partial:
        if calls != want[:len(calls)] or len(set(results)) != len(results) or \
                not set(results) <= set(calls) or finals > 1:
            print(f"calls {calls}, results {results}, {finals} final answers: a step duplicated")
            return 1
        print(json.dumps({"events": len(events), "calls": len(calls), "finals": finals}))
        return 0
    if calls != want:
        print(f"tool calls {calls}, want {want} (a step lost or duplicated)")
        return 1
    if sorted(results) != sorted(want):
        print(f"tool results for {results}, want one for each of {want}")
        return 1
    if finals != 1:
        print(f"the final answer appears {finals} times, want once")
        return 1
    ran = set()
    if steps_log:
        try:
            ran = {l.strip().replace("step-", "call-") for l in open(steps_log)}
        except OSError:
            pass
    print(json.dumps({"events": len(events), "settled": len(settled),
                      "settled_but_ran": len([c for c in settled if c in ran])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
