"""Short human-readable tracking codes: no 0/O, 1/I/L, U or other look-alikes."""

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 8  # 30**8 ≈ 6.6e11 codes


def tracking_code_new() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def tracking_code_normalize(code: str) -> str:
    """Accept what people type: lower case, spaces, a missing dash."""
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    if len(cleaned) != LENGTH:
        return code.strip().upper()
    return f"{cleaned[:4]}-{cleaned[4:]}"
