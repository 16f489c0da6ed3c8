"""Filter bbdash.stack.file_entries: {name: content} as file_set's files entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: file_entries
author: Bloomberg Dashboard contributors
short_description: Turn a mapping of file names to contents into bbdash.stack.file_set entries
description:
  - Each key becomes a dest (under I(folder)), each value its content (followed by I(end)).
  - Keys are sorted, so the entries (and the module's arguments) do not depend on dict order.
positional: folder
options:
  _input:
    description: File name (or relative path) to content.
    type: dict
    required: true
  folder:
    description: Folder the names are under, relative to the task's root or absolute.
    type: str
    default: ""
  secret:
    description: Keep the contents out of --diff (file_set's secret).
    type: bool
    default: false
  end:
    description: Text appended to every content, such as a final newline.
    type: str
    default: ""
"""

EXAMPLES = r"""
files: "{{ {'admin_password': password} | bbdash.stack.file_entries('secrets', secret=true) }}"
# -> [{dest: secrets/admin_password, content: ..., secret: true}]
"""

RETURN = r"""
_value:
  description: The entries, sorted by dest.
  type: list
  elements: dict
"""


def file_entries(
    files: Mapping[str, Any], folder: str = "", secret: bool = False, end: str = ""
) -> list[dict[str, Any]]:
    if not isinstance(files, Mapping):
        raise AnsibleFilterError(
            f"file_entries expects a mapping of names to contents, got {type(files).__name__}"
        )
    prefix = f"{folder.rstrip('/')}/" if folder else ""
    return [
        {"dest": f"{prefix}{name}", "content": f"{files[name]}{end}", "secret": bool(secret)}
        for name in sorted(files)
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"file_entries": file_entries}
