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
    engine = bench_engine.engine_rows()
    feed = bench_engine.feed_generation()
    api = bench_api.run()
    bench_api.print_results(api)
    delivery = bench_delivery.run()
    bench_delivery.print_results(delivery)
    rows = dict(api["rows"])
    bare_rate = api["rows"][0][1][0]
    cached_ratio = rows["GET /api/v1/slots, 30 days (cached)"][0] / bare_rate
    computed_ratio = rows["GET /api/v1/slots, 30 days (computed)"][0] / bare_rate
    month_ratio = rows["GET /api/v1/availability, a month (computed)"][0] / bare_rate
    day_ratio = rows["GET /api/v1/times, a day (computed)"][0] / bare_rate
    sizes = api["sizes"]
    busy_booking = next(values for name, values in api["rows"] if name.startswith("POST") and "(1 client)" not in name)
    lone_booking_p50 = rows["POST /api/v1/bookings (1 client)"][1]
    lone_bare_p50 = rows["bare indexed query (1 client)"][1]
    engine_ratio = bench_engine.per_day_ratio(engine, 3)
    ninety_by_ten = next(ms for days, clinicians, _, ms, *_ in engine if days == 90 and clinicians == 10)

    lines = [
        "# Benchmark results",
        "",
        f"One run of `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}. The load generator "
        "(Python threads) shares the cores with the server, as it does for every row, so the ratios compare "
        "like with like.",
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
        f"Answer sizes: 30 days of slots {sizes['slots'] / 1024:.0f} KiB; a month's availability "
        f"{sizes['availability'] / 1024:.1f} KiB; a day's times {sizes['times'] / 1024:.1f} KiB.",
        "",
        bench_engine.engine_section(engine, feed, datetime.now(UTC)),
        "## Goals",
        "",
        "| goal | this run | |",
        "| --- | --- | --- |",
        f"| slots API >= 50% of the bare endpoint's throughput | {cached_ratio:.1%} answered from the cache; "
        f"{computed_ratio:.1%} when every answer is computed | {_verdict(cached_ratio >= 0.5)} (cached), "
        f"{_verdict(computed_ratio >= 0.5)} (computed) |",
        f"| date-first picker, computed, >= 50% of the bare endpoint's throughput | a month's availability "
        f"{month_ratio:.1%}; a day's times {day_ratio:.1%} | {_verdict(month_ratio >= 0.5)} (month), "
        f"{_verdict(day_ratio >= 0.5)} (day) |",
        f"| booking p99 < 100 ms at 16 concurrent clients | {busy_booking[2]:.0f} ms | "
        f"{_verdict(busy_booking[2] < 100)} |",
        f"| one client's booking p50 within 4x of the bare endpoint's | {lone_booking_p50:.1f} ms against "
        f"{lone_bare_p50:.1f} ms: {lone_booking_p50 / lone_bare_p50:.1f}x | "
        f"{_verdict(lone_booking_p50 <= 4 * lone_bare_p50)} |",
        f"| 90-day, 10-clinician slot computation < 50 ms | {ninety_by_ten:.0f} ms | {_verdict(ninety_by_ten < 50)} |",
        f"| slot engine: cost per clinician-day at 365 days x 50 clinicians within {bench_engine.GOAL_RATIO}x of "
        f"30 x 5 | {engine_ratio:.2f}x | {_verdict(engine_ratio <= bench_engine.GOAL_RATIO)} |",
        "",
    ]
    lines += bench_delivery.section(delivery)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines[lines.index("## Goals") :]))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
