#!/usr/bin/python
"""Ansible module file_read: several files of the host read in one call."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

DOCUMENTATION = r"""
module: file_read
author: Bloomberg Dashboard contributors
short_description: Read several files of the host in one call
description:
  - One module call where a loop of C(ansible.builtin.slurp) (or of C(stat), then
    C(slurp)) makes one or two per file. A missing file is reported, not an error.
  - It only reads, so check mode runs it as it is.
options:
  files:
    description:
      - The files to read, each a path or C({path, item}). C(item) is any value, returned
        as it is in that file's result, as a loop's item is.
    type: list
    elements: raw
    required: true
  max_bytes:
    description:
      - A file larger than this fails the call (these are small configuration and token
        files).
    type: int
    default: 1048576
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Read the token files
  bbdash.stack.file_read:
    files: "{{ tokens | map(attribute='path') | list }}"
  register: token_files
  no_log: true
"""

RETURN = r"""
results:
  description:
    - One per file, in the order asked. C(path); C(exists); C(content), base64 as
      C(ansible.builtin.slurp) returns it, when the file exists; C(item) when given.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def read_one(module: AnsibleModule, entry: Any) -> dict[str, Any]:
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, dict) or not entry.get("path"):
        module.fail_json(msg=f"every file needs a path: {entry!r}")
    path = Path(str(entry["path"]))
    result: dict[str, Any] = {"path": str(path), "exists": path.is_file()}
    if "item" in entry:
        result["item"] = entry["item"]
    if result["exists"]:
        size = path.stat().st_size
        if size > module.params["max_bytes"]:
            module.fail_json(msg=f"{path} holds {size} bytes, more than max_bytes")
        result["content"] = base64.b64encode(path.read_bytes()).decode("ascii")
    elif path.exists():
        module.fail_json(msg=f"{path} exists and is not a file")
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "raw", "required": True},
            "max_bytes": {"type": "int", "default": 1048576},
        },
        supports_check_mode=True,
    )
    try:
        results = [read_one(module, entry) for entry in module.params["files"]]
    except OSError as error:
        module.fail_json(msg=f"cannot read {error.filename}: {error.strerror}")
    module.exit_json(changed=False, results=results)


if __name__ == "__main__":
    main()
