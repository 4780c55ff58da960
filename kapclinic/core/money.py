"""Amounts of money for people, in the locale's way (Babel). Pure module (no Flask)."""

from decimal import Decimal

from babel.numbers import format_currency

from kapclinic.core.timezones import LOCALE


def format_money(cents, currency):
    """'$150' for a whole amount, '$150.50' otherwise."""
    if cents % 100 == 0:
        return format_currency(Decimal(cents) / 100, currency, format="¤#,##0", currency_digits=False, locale=LOCALE)
    return format_currency(Decimal(cents) / 100, currency, locale=LOCALE)
