"""统一社会信用代码 (unified social credit code), GB 32100-2015.

18 characters: registration authority (1), institution category (1), region code (6), organisation
code (9, the last being the GB 11714 check character) and the overall check character (1).
Letters I, O, Z, S, V are never used.
"""

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def check_character(first17):
    """The 18th character for the first 17 (GB 32100-2015 §4.3, modulus 31)."""
    total = sum(CHARSET.index(ch) * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def _org_check(first8):
    """The organisation code's check character (GB 11714, modulus 11; 10 is written X)."""
    total = sum(CHARSET.index(ch) * w for ch, w in zip(first8, _ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def normalize_credit_code(raw):
    """Return the code in upper case if it is valid, else None."""
    if not isinstance(raw, str):
        return None
    code = raw.strip().upper()
    if len(code) != 18 or not code.isascii() or any(ch not in CHARSET for ch in code):
        return None
    if check_character(code[:17]) != code[17]:
        return None
    org = code[8:17]
    # Codes given to bodies that had an organisation code keep its own check character.
    if org[:8].isdigit() and org[8] in "0123456789X" and _org_check(org[:8]) != org[8]:
        return None
    return code
