"""Phone numbers as staff read and dial them. Pure module (no Flask)."""

from dataclasses import dataclass

import phonenumbers


@dataclass(frozen=True)
class PhoneLink:
    href: str  # tel: with the E.164 number, which every phone dials the same way
    text: str  # as people in the clinic's region write it


def phone_link(number, region):
    """A stored number as a tel: link, shown in `region`'s national format (international when from elsewhere).

    None when the text is not a phone number at all (rows stored before numbers were checked).
    """
    try:
        parsed = phonenumbers.parse(number or "", region)
    except phonenumbers.NumberParseException:
        return None
    same_region = phonenumbers.region_code_for_number(parsed) == region
    style = phonenumbers.PhoneNumberFormat.NATIONAL if same_region else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return PhoneLink(
        href="tel:" + phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        text=phonenumbers.format_number(parsed, style),
    )
