#!/usr/bin/python
"""Ansible module command_batch: several read-only commands of the host in one call."""

from __future__ import annotations

from typing import Any

DOCUMENTATION = r"""
module: command_batch
author: Bloomberg Dashboard contributors
short_description: Run several commands that only read, in one call
description:
  - One module call where a loop of C(ansible.builtin.command), or several command tasks,
    make one each, for commands that report state (C(ssh -Q kex), C(ufw status)) and
    change nothing, so the call never reports a change and runs in check mode too.
  - Each command runs without a shell, from its argv; one that fails (a non-zero exit,
    or a program that is not there) does not stop the others and does not fail the call;
    its rc says so.
options:
  commands:
    description:
      - Each an argv list, or C({argv, item}); C(item) is any value, returned as it is in
        that command's result.
    type: list
    elements: raw
    required: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Read the algorithms the installed OpenSSH supports
  bbdash.stack.command_batch:
    commands: [[ssh, -Q, kex], [ssh, -Q, cipher]]
  register: supported
"""

RETURN = r"""
results:
  description:
    - One per command, in the order given. C(cmd), C(rc) (127 when the program is not
      there), C(stdout), C(stdout_lines), C(stderr), and C(item) when given.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def run_one(module: AnsibleModule, entry: Any) -> dict[str, Any]:
    if isinstance(entry, list):
        entry = {"argv": entry}
    if not isinstance(entry, dict) or not entry.get("argv"):
        module.fail_json(msg=f"every command needs an argv list: {entry!r}")
    argv = [str(arg) for arg in entry["argv"]]
    result: dict[str, Any] = {"cmd": argv}
    if "item" in entry:
        result["item"] = entry["item"]
    if module.get_bin_path(argv[0]) is None:
        result.update(rc=127, stdout="", stdout_lines=[], stderr=f"{argv[0]}: not found")
        return result
    # As written: no ~ or $VARIABLE expansion (ansible.builtin.command expands them).
    rc, out, err = module.run_command(argv, expand_user_and_vars=False)
    result.update(rc=rc, stdout=out.rstrip("\n"), stdout_lines=out.splitlines(), stderr=err)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={"commands": {"type": "list", "elements": "raw", "required": True}},
        supports_check_mode=True,
    )
    results = [run_one(module, entry) for entry in module.params["commands"]]
    module.exit_json(changed=False, results=results)


if __name__ == "__main__":
    main()
