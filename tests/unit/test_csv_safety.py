"""Cells of the front desk's CSV download never run as formulas, whichever separator a spreadsheet splits on."""

import pytest

from kapclinic.frontdesk.csv_safety import neutralise_cell, neutralise_row


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        # A formula at the start of the cell.
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r'=1"),
        # Behind spaces or quotes, which some importers drop.
        (" =1+1", "' =1+1"),
        ('"=1+1"', '\'"=1+1"'),
        ('\' =HYPERLINK("x")', "'' =HYPERLINK(\"x\")"),
        # After a separator: a spreadsheet set to ';' or ',' makes each piece a cell of its own.
        ("Ann;=1+1;Z", "Ann;'=1+1;Z"),
        ("Ann,=1+1", "Ann,'=1+1"),
        ("Ann; @cmd", "Ann;' @cmd"),
        ('Ann;"=1+1"', 'Ann;\'"=1+1"'),
        ("Ann\n=1+1", "Ann\n'=1+1"),
        ("Ann;\t=1", "Ann;'\t=1"),
        ("a;=1;b,+2", "a;'=1;b,'+2"),
        # Ordinary text stays as typed.
        ("Ana", "Ana"),
        ("", ""),
        (None, ""),
        (42, "42"),
        ("a=b", "a=b"),
        ("O'Brien, Ann", "O'Brien, Ann"),
        ("ana-maria@example.com", "ana-maria@example.com"),
        ("Mon 7 Dec 2026, 09:00", "Mon 7 Dec 2026, 09:00"),
    ],
)
def test_csv_cells_that_could_run_as_formulas_are_made_text(cell, safe):
    assert neutralise_cell(cell) == safe


def test_a_row_is_neutralised_cell_by_cell():
    assert neutralise_row(["KC-1", "Ann;=1+1;Z", 17]) == ["KC-1", "Ann;'=1+1;Z", "17"]
