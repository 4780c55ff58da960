"""Run every benchmark once, print it, and write bench/RESULTS.md (`make bench`).

Speed goals are checked here, as ratios and figures from this one run on this machine,
never as timed assertions in the test suite.
"""

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_api  # noqa: E402
import bench_delivery  # noqa: E402
import bench_engine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _verdict(met):
    return "met" if met else "not met"


def main():
    engine = bench_engine.engine_curve()
    feed_events, feed_ms, feed_bytes = bench_engine.feed_generation()
    api = bench_api.run()
    bench_api.print_results(api)
    delivery = bench_delivery.run()
    bench_delivery.print_results(delivery)
    rows = dict((name, values) for name, values in api["rows"])
    bare_rate = api["rows"][0][1][0]
    cached_ratio = rows["GET /api/v1/slots, 30 days (cached)"][0] / bare_rate
    computed_ratio = rows["GET /api/v1/slots, 30 days (computed)"][0] / bare_rate
    busy_booking = next(values for name, values in api["rows"] if name.startswith("POST") and "(1 client)" not in name)
    ninety_by_ten = next(ms for days, clinicians, _, ms, _ in engine if days == 90 and clinicians == 10)
    per_day = [per for *_, per in engine]

    lines = [
        "# Benchmark results",
        "",
        f"One run of `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}. The load generator (Python threads) "
        "shares the cores with the server, as it does for every row, so the ratios compare like with like.",
        "",
        "## HTTP under gunicorn on PostgreSQL",
        "",
        api["setup"] + ".",
        "",
        "| endpoint | req/s | p50 ms | p99 ms | throughput vs bare | not 2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, (rate, p50, p99, statuses) in api["rows"]:
        lines.append(
            f"| {name} | {rate:.1f} | {p50:.1f} | {p99:.1f} | {rate / bare_rate:.1%} | {bench_api.not_ok(statuses)} |"
        )
    lines += [
        "",
        f"Bookings created: {api['created']} of {api['attempted']}.",
        "",
        "## Slot engine alone (best of runs)",
        "",
        "| days | clinicians | slots | ms | µs per clinician-day |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {days} | {clinicians} | {slots} | {ms:.1f} | {per:.1f} |" for days, clinicians, slots, ms, per in engine
    ]
    lines += [
        "",
        f"Cost per clinician-day ranges from {min(per_day):.0f} to {max(per_day):.0f} µs across a 365x50 / 7x1 span of "
        f"{365 * 50 // 7}x in size: growth is linear apart from the final merge of the clinicians' lists.",
        "",
        f"One-year clinician feed: {feed_events} events in {feed_ms:.0f} ms ({feed_bytes / 1024:.0f} KiB).",
        "",
        "## Goals",
        "",
        "| goal | this run | |",
        "| --- | --- | --- |",
        f"| slots API >= 50% of the bare endpoint's throughput | {cached_ratio:.1%} answered from the cache; "
        f"{computed_ratio:.1%} when every answer is computed | {_verdict(cached_ratio >= 0.5)} (cached), "
        f"{_verdict(computed_ratio >= 0.5)} (computed) |",
        f"| booking p99 < 100 ms at 16 concurrent clients | {busy_booking[2]:.0f} ms | {_verdict(busy_booking[2] < 100)} |",
        f"| 90-day, 10-clinician slot computation < 50 ms | {ninety_by_ten:.0f} ms | {_verdict(ninety_by_ten < 50)} |",
        "",
    ]
    lines += bench_delivery.section(delivery)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines[lines.index("## Slot engine alone (best of runs)") :]))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
