"""The one rule for identifiers a person types in (station ids): every command, endpoint and config check uses it.

A station id is an MQTT username, an ACL `%u`, a topic segment, a file name and a URL segment at once, so it
is kept to lower-case ASCII letters, digits and '-', 1-32 characters: no slashes, dots, spaces or wildcards.
"""

from __future__ import annotations

import re
from typing import TypeGuard

from protocol.errors import UserError
from protocol.i18n import N_

STATION_ID_RE = re.compile(r"[a-z0-9-]{1,32}")
RULE = "1-32 characters a-z, 0-9 or '-'"


class IdError(UserError, ValueError):
    """An identifier that breaks the rule (the message names the rule)."""


def is_station_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and STATION_ID_RE.fullmatch(value) is not None


def check_station_id(value: object) -> str:
    """Return the id if it follows the rule; raise IdError (a ValueError) otherwise."""
    if not is_station_id(value):
        raise IdError(N_("invalid station id '%(value)s': use 1-32 characters a-z, 0-9 or '-'"), value=value)
    return value


# Operator codes: ASCII letters, digits, '.', '_', '-', starting with a letter or digit (a login name).
OPERATOR_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
OPERATOR_RULE = "1-32 characters A-Z, a-z, 0-9, '.', '_' or '-', starting with a letter or digit"


def is_operator_code(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and OPERATOR_CODE_RE.fullmatch(value) is not None


def check_operator_code(value: object) -> str:
    if not is_operator_code(value):
        raise IdError(N_("invalid operator code '%(value)s': use 1-32 characters A-Z, a-z, 0-9, '.', '_' or '-', "
                         "starting with a letter or digit"), value=value)
    return value
