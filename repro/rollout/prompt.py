"""Reply -> action projection and format validity (docs/gigpo.md §2.4)."""

from __future__ import annotations

import re

_CJK = re.compile("[\u4e00-\u9fff]")


def contains_cjk(text: str) -> bool:
    """A CJK character makes a reply invalid (docs/gigpo.md §2.4: the reference's language check)."""
    return _CJK.search(text) is not None


def project_action(reply: str, fallback_chars: int) -> tuple[str, bool]:
    """(action, valid) for a model reply.

    The action is the stripped text between the first ``<action>`` and the first ``</action>`` of
    the lower-cased reply; without both tags it is the reply's last ``fallback_chars`` characters
    (30 ALFWorld, 20 WebShop) and the step is invalid. A reply lacking ``<think>`` or ``</think>``,
    or containing a CJK character, is invalid too (its extracted action is still executed).
    """
    lower = reply.lower()
    start, end = lower.find("<action>"), lower.find("</action>")
    if start == -1 or end == -1:
        return lower[-fallback_chars:], False
    action = lower[start + len("<action>"):end].strip()
    valid = "<think>" in reply and "</think>" in reply and not contains_cjk(reply)
    return action, valid
