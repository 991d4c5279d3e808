"""The one comment line that starts the code the operator posts to a project, naming its owner.

    # agreement-operator: AgreementMetric labeling/sentiment, cluster default, uid 1b2c...; edits here are overwritten

A person who opens the project's settings sees where the code comes from. The line holds
nothing that changes by itself, so the same metric always posts the same code. Python reads it
as a comment; code compared with the project's is compared without it.
"""

import re

from agreement_operator.metric.owner import Owner

_PREFIX = "# agreement-operator: AgreementMetric "
_LINE = re.compile(r"^# agreement-operator: AgreementMetric (?P<namespace>[^/\s]+)/(?P<name>[^,\s]+), "
                   r"cluster (?P<cluster>[^,\s]+), uid (?P<uid>[^;\s]+);[^\n]*(\n|$)")


def line(owner: Owner) -> str:
    who = f"{owner.namespace}/{owner.name}, cluster {owner.cluster}, uid {owner.uid}"
    return f"{_PREFIX}{who}; edits here are overwritten"


def marked(code: str, owner: Owner) -> str:
    """The code as posted: the owner's line, then the code (without a marker it may already carry)."""
    return f"{line(owner)}\n{unmarked(code)}"


def unmarked(code: str) -> str:
    """The code without its first line when that line is a marker."""
    return _LINE.sub("", code, count=1) if code.startswith(_PREFIX) else code


def owner_of(code: str) -> Owner | None:
    """The owner the code's marker names; None for code without one (written by hand, or posted before markers)."""
    found = _LINE.match(code)
    return Owner(found["cluster"], found["namespace"], found["name"], found["uid"]) if found else None
