"""Spreadsheet-safe CSV cells. Pure.

A cell that starts with =, +, - or @ (or a tab or carriage return, which some
spreadsheets skip before reading a formula) is run as a formula when the file is
opened; a leading apostrophe makes it text. OWASP, "CSV Injection":
https://owasp.org/www-community/attacks/CSV_Injection
"""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value):
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def neutralise_row(values):
    return [neutralise_cell(value) for value in values]
