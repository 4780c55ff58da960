"""Spreadsheet-safe CSV cells. Pure.

A cell that starts with =, +, - or @ (or a tab or carriage return, which some
spreadsheets skip before reading a formula) is run as a formula when the file is
opened; a leading apostrophe makes it text. OWASP, "CSV Injection":
https://owasp.org/www-community/attacks/CSV_Injection

The start of the cell is not the only start: a spreadsheet set to another list
separator (`;` in much of Europe) splits `Ann;=1+1;Z` into three cells and runs the
middle one, and a reader that splits lines does the same after a line break. Spaces
and quotes in front of the sign do not stop every importer either. So every piece
after `,`, `;` or a line break is checked, past any spaces and quotes, and each
piece that would start a formula gets its own apostrophe.
"""

import re

# A piece starts at the cell's start or after a separator some program may split on.
_DANGEROUS_PIECE = re.compile(r"""(^|[,;\r\n])(?=[ "']*[=+\-@]|[\t\r])""")


def neutralise_cell(value):
    text = "" if value is None else str(value)
    return _DANGEROUS_PIECE.sub(r"\1'", text)


def neutralise_row(values):
    return [neutralise_cell(value) for value in values]
