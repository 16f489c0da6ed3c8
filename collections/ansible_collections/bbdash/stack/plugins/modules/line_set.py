#!/usr/bin/python
"""Ansible module line_set: several lines of one file set in one call."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

DOCUMENTATION = r"""
module: line_set
author: Bloomberg Dashboard contributors
short_description: Set several lines of one existing file in one call
description:
  - One module call where a loop of C(ansible.builtin.lineinfile) makes one per line,
    for settings files a role edits but does not own (C(/etc/login.defs),
    C(/etc/default/ufw)).
  - Each line behaves as C(lineinfile) with C(regexp) and C(state=present) does; the last
    line matching regexp is replaced by line; when no line matches, line is added at the
    end of the file.
  - The file's owner, group and mode are kept. The file is replaced atomically, once,
    when a line differs; check and diff modes are full.
options:
  path:
    description: The file. It must exist.
    type: path
    required: true
  lines:
    description:
      - Each a C({regexp, line}); regexp is a Python regular expression searched in each
        line.
    type: list
    elements: dict
    required: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Hash local passwords with many SHA-512 rounds
  bbdash.stack.line_set:
    path: /etc/login.defs
    lines:
      - {regexp: '^\s*#?\s*ENCRYPT_METHOD\s', line: "ENCRYPT_METHOD\tSHA512"}
      - {regexp: '^\s*#?\s*SHA_CRYPT_MIN_ROUNDS\s', line: "SHA_CRYPT_MIN_ROUNDS\t65536"}
"""

RETURN = r"""
changed_lines:
  description: The lines this call replaced or added (or would, in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def apply(text: str, lines: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The file's text with every line set, and the lines that changed it."""
    had_final_newline = text.endswith("\n") or not text
    current = text.splitlines()
    changed: list[str] = []
    for entry in lines:
        pattern, wanted = re.compile(str(entry["regexp"])), str(entry["line"])
        matches = [index for index, line in enumerate(current) if pattern.search(line)]
        if matches:
            if current[matches[-1]] != wanted:
                current[matches[-1]] = wanted
                changed.append(wanted)
        else:
            current.append(wanted)
            changed.append(wanted)
    ending = "\n" if (had_final_newline or changed) and current else ""
    return "\n".join(current) + ending, changed


def replace(path: Path, text: str) -> None:
    """The new text in a temporary file beside path, with its attributes, then renamed over it."""
    info = path.stat()
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chown(name, info.st_uid, info.st_gid)
        Path(name).chmod(info.st_mode & 0o7777)
        Path(name).replace(path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "lines": {"type": "list", "elements": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    path = Path(module.params["path"])
    for entry in module.params["lines"]:
        if not entry.get("regexp") or "line" not in entry:
            module.fail_json(msg=f"every line needs a regexp and a line: {entry!r}")
        try:
            re.compile(str(entry["regexp"]))
        except re.error as error:
            module.fail_json(msg=f"bad regexp {entry['regexp']!r}: {error}")
    try:
        before = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        module.fail_json(msg=f"{path} does not exist")
    after, changed = apply(before, module.params["lines"])
    result: dict[str, Any] = {"changed": bool(changed), "changed_lines": changed}
    if module._diff:
        result["diff"] = {
            "before_header": str(path),
            "after_header": str(path),
            "before": before,
            "after": after,
        }
    if changed and not module.check_mode:
        replace(path, after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
