"""The date-first time picker, shared by the patient's pages and the front desk's "book for a caller".

A query string (zone, month or day, clinician, start) is checked once into a SlotQuery; the month's
days with their number of free start times, and the chosen day's times, come from _slot_month.
"""

from datetime import timedelta

from flask import url_for

from kapclinic.core.clinic import clinic
from kapclinic.core.timezones import (
    UnknownTimeZone,
    canonical_zone,
    day_title,
    format_clock,
    format_moment,
    format_time,
    get_zone,
    instant_param,
    month_title,
    parse_instant,
    parse_local_date,
    zone_choices,
    zone_label,
)
from kapclinic.scheduling import services
from kapclinic.scheduling.slots import month_days, utc_window_for_local_dates


class SlotQuery:
    """The query string of a slot page, checked: zone, first day, clinician, start.

    `rules` are the type's own unless given: the front desk's (services.staff_rules) reach
    further ahead and inside the notice a patient must give.
    """

    def __init__(self, consultation_type, args, now, default_tz=None, rules=None):
        self.errors = {}
        self.consultation_type = consultation_type
        self.rules = rules or consultation_type.slot_rules
        self.tz_name = args.get("tz") or default_tz or clinic().timezone
        self.tz_detected = "tz" in args
        try:
            self.zone = get_zone(self.tz_name)
            self.tz_name = canonical_zone(self.tz_name)  # an older name (Asia/Calcutta) shows as the picker has it
        except UnknownTimeZone:
            self.errors["tz"] = "We do not recognise that time zone. Please choose yours from the list."
            self.tz_name = clinic().timezone
            self.zone = get_zone(self.tz_name)
        today = now.astimezone(self.zone).date()
        last_offered = (now + self.rules.horizon).astimezone(self.zone).date()
        # The day whose times are shown (None: the month's first free day). `from` is the name
        # links from the weekly page used: a bookmarked one still opens its day.
        self.day = None
        day_arg = args.get("day") or args.get("from")
        if day_arg:
            try:
                self.day = min(max(parse_local_date(day_arg), today), last_offered)
            except ValueError as error:
                self.errors["day"] = str(error)
        self.month = (self.day or today).replace(day=1)
        if args.get("month") and self.day is None:
            try:
                asked = parse_local_date(f"{args['month']}-01")
            except ValueError:
                self.errors["month"] = "Use a month in the form YYYY-MM."
            else:
                self.month = min(max(asked, today.replace(day=1)), last_offered.replace(day=1))
        self.today, self.last_offered = today, last_offered
        self.clinician = None
        clinician_arg = args.get("clinician", "any")
        if clinician_arg != "any":
            is_number = clinician_arg.isascii() and clinician_arg.isdigit() and len(clinician_arg) < 10
            clinician_id = int(clinician_arg) if is_number else None
            self.clinician = services.clinician_for_type(consultation_type, clinician_id)
            if self.clinician is None:
                self.errors["clinician"] = "That clinician does not offer this consultation. Choose another."
        self.start_dt = None
        if "start" in args:
            try:
                self.start_dt = parse_instant(args["start"])
            except ValueError as error:
                self.errors["start"] = str(error)

    def url_args(self, **changes):
        values = {"tz": self.tz_name, "clinician": self.clinician.id if self.clinician else "any"}
        values.update(changes)
        return values


def slot_month(consultation_type, query, now, choose_endpoint, page_endpoint, exclude_booking_id=None, **route):
    """The month calendar (each day with its number of free start times) and the chosen day's times, each once."""
    zone, month = query.zone, query.month
    days = month_days(month)
    found = services.find_slots(
        consultation_type,
        utc_window_for_local_dates(days[0], days[-1], zone),
        now,
        query.clinician,
        exclude_booking_id,
        query.rules,
    )
    counts = {day: count for day, (count, _) in zip(days, found.starts_per_day(days, zone), strict=True)}
    chosen = query.day if query.day in counts else next((day for day in days if counts[day]), None)

    def page(**changes):
        return url_for(page_endpoint, **route, **query.url_args(**changes))

    times = []
    if chosen is not None:
        window = utc_window_for_local_dates(chosen, chosen, zone)
        # The heading names the zone, so a time is just its clock; on the day the clocks change a
        # time may come twice (1:30 AM), and then each says which (EDT, EST).
        clocks_change = window.start_dt.astimezone(zone).utcoffset() != window.end_dt.astimezone(zone).utcoffset()
        for start_dt, _, _ in found.starts():
            if window.start_dt <= start_dt < window.end_dt:
                label = format_time(start_dt, zone) if clocks_change else format_clock(start_dt, zone)
                href = url_for(choose_endpoint, **route, **query.url_args(start=instant_param(start_dt)))
                times.append({"href": href, "label": label, "name": f"{day_title(chosen)}, {label}"})
    cells = [None] * days[0].weekday() + [
        {
            "day": day,
            "count": count,
            "href": page(day=day.isoformat()) if count else None,
            "name": f"{day_title(day)}, {_times_in_words(count)}",
            "chosen": day == chosen,
            "today": day == query.today,
        }
        for day, count in counts.items()
    ]
    cells += [None] * (-len(cells) % 7)
    previous_month = (month - timedelta(days=1)).replace(day=1)
    next_month = days[-1] + timedelta(days=1)
    return {
        "calendar": {
            "title": month_title(month),
            "weeks": [cells[row : row + 7] for row in range(0, len(cells), 7)],
            "previous_url": page(month=f"{previous_month:%Y-%m}") if month > query.today else None,
            "previous_title": month_title(previous_month, with_year=False),
            "next_url": page(month=f"{next_month:%Y-%m}") if next_month <= query.last_offered else None,
            "next_title": month_title(next_month, with_year=False),
            "next_available": _next_available(consultation_type, query, now, exclude_booking_id, days, counts, page),
        },
        "chosen_day": chosen,
        "chosen_title": day_title(chosen) if chosen else "",
        "times": times,
        "zone_choices": zone_choices(now, query.tz_name),
        "zone_label": zone_label(query.tz_name, now),
    }


def _times_in_words(count):
    return f"{count} time{'s' if count != 1 else ''} free" if count else "no free times"


def _next_available(consultation_type, query, now, exclude_booking_id, days, counts, page):
    """When the month shown has nothing left, the first later day that has: (its name, its link), or None."""
    if any(counts[day] for day in days if day >= query.today):
        return None
    first_later = max(days[-1] + timedelta(days=1), query.today)
    if first_later > query.last_offered:
        return None
    later = services.find_slots(
        consultation_type,
        utc_window_for_local_dates(first_later, query.last_offered, query.zone),
        now,
        query.clinician,
        exclude_booking_id,
        query.rules,
    )
    if not later:
        return None
    day = later[0].start_dt.astimezone(query.zone).date()
    return {"name": day_title(day), "href": page(day=day.isoformat())}


def place_refusal(refused, form, query, message=str):
    """Show a refused booking's message where it belongs: by the form's field, or with the chosen time or clinician."""
    if refused.field in ("idempotency_key", "email", "phone", "date_of_birth"):
        form[refused.field].errors = [message(refused)]
    else:
        query.errors["clinician" if refused.field == "clinician" else "start"] = str(refused)


def clinician_cards(consultation_type, query, page_endpoint, **route):
    """One card per clinician who offers the type, after "first available": choosing one keeps the zone and month."""
    month_shown = f"{query.month:%Y-%m}"
    return [
        {
            "clinician": clinician,
            "href": url_for(
                page_endpoint,
                **route,
                **query.url_args(clinician=clinician.id if clinician else "any", month=month_shown),
            ),
            "current": clinician == query.clinician,
        }
        for clinician in (None, *consultation_type.active_clinicians)
    ]


def details_context(consultation_type, query, form, alternatives=()):
    """What a booking details page shows around its form: the time chosen, and the nearest others when it was taken."""
    return {
        "consultation_type": consultation_type,
        "query": query,
        "form": form,
        "when": format_moment(query.start_dt, query.zone) if query.start_dt else "",
        "alternatives": [
            {"param": instant_param(slot.start_dt), "label": format_moment(slot.start_dt, query.zone)}
            for slot in alternatives
        ],
    }
