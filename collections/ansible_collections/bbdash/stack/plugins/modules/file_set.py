#!/usr/bin/python
"""Ansible module file_set: a role's folders, files and removals, reconciled in one call."""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

DOCUMENTATION = r"""
module: file_set
author: Bloomberg Dashboard contributors
short_description: Reconcile a set of folders, files and removals on the host in one call
description:
  - One module call where C(ansible.builtin.file), C(copy) and C(template) make two per
    path (a stat, then the write or the attribute check). A rerun that changes nothing
    costs one round trip for the whole set.
  - Always reads the live state. Content, owner, group and mode are compared with what is
    on disk at every run, so drift is repaired and check mode reports it.
  - Use it through its action plugin (../action/file_set.py), which renders
    C(template) entries and reads C(src) entries on the controller, like
    C(ansible.builtin.template) and C(ansible.builtin.copy) do.
  - Folders come first, then files, then existing paths' attributes, then removals and purges.
options:
  root:
    description: Folder that relative paths (directories, files' dest, absent, purge) are under.
    type: path
  owner:
    description: Owner of every folder and file that does not name its own.
    type: str
  group:
    description: Group of every folder and file that does not name its own.
    type: str
  mode:
    description: Mode of every file that does not name its own.
    type: raw
  directory_mode:
    description: Mode of every folder that does not name its own.
    type: raw
  directories:
    description:
      - Folders to create, each a path or C({path, owner, group, mode}). Missing parents are
        created with the same owner, group and mode, as C(ansible.builtin.file) does.
    type: list
    elements: raw
    default: []
  files:
    description:
      - Files to write. Each needs dest and content (the action plugin fills content from
        template or src), or remote_src, a file on the host copied as it is (its content
        never travels through the controller); owner, group and mode as for
        C(ansible.builtin.copy).
      - validate, as in C(ansible.builtin.copy), runs on a changed file before it replaces
        the live one (C(%s) is the candidate, already with its owner and mode).
      - force false writes a file only when it does not exist.
      - secret true keeps the content out of the diff.
    type: list
    elements: dict
    default: []
  existing:
    description:
      - Paths whose owner, group and mode are set when they exist (a path or
        C({path, owner, group, mode})), without touching their content. Links are
        followed to the file they lead to, which gets the attributes; a path that does not
        exist is skipped.
    type: list
    elements: raw
    default: []
  absent:
    description: Paths to remove (files, or folders with their content).
    type: list
    elements: str
    default: []
  purge:
    description:
      - Folders whose files matching one of patterns are removed unless listed in files.
        Each entry is C({path, patterns}); a folder that does not exist is skipped.
    type: list
    elements: dict
    default: []
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Write the component's configuration
  bbdash.stack.file_set:
    directories:
      - {path: /etc/bbdash/example, owner: root, group: root, mode: "0755"}
    files:
      - {dest: /etc/bbdash/example/app.yml, template: app.yml.j2, owner: root, group: root,
         mode: "0644", validate: "/usr/bin/example-check %s"}
      - {dest: /etc/bbdash/example/token, content: "{{ example_token }}", mode: "0600",
         secret: true}
    purge:
      - {path: /etc/bbdash/example/rules, patterns: ["*.yml"]}
  no_log: true
"""

RETURN = r"""
changed_paths:
  description: The paths this call created, rewrote, re-permissioned or removed.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

# Shown in --diff instead of a secret file's content.
HIDDEN = "(secret content: not shown)\n"
Diffs = list[dict[str, Any]]


def under_root(module: AnsibleModule, path: str) -> Path:
    """A path as given, or under root when it is relative."""
    root = module.params["root"]
    if Path(path).is_absolute() or not root:
        return Path(path)
    return Path(root) / path if path else Path(root)


def with_defaults(module: AnsibleModule, entry: Any, key: str, mode_option: str) -> dict[str, Any]:
    """One entry with its path under root and the task's owner, group and mode filled in."""
    if isinstance(entry, str):
        entry = {key: entry}
    # "" names root itself.
    if not isinstance(entry, dict) or not (entry.get(key) or module.params["root"]):
        module.fail_json(msg=f"every entry needs a {key}: {entry!r}")
    defaults = {
        "owner": module.params["owner"],
        "group": module.params["group"],
        "mode": module.params[mode_option],
    }
    filled = {name: value for name, value in defaults.items() if value is not None}
    filled.update({name: value for name, value in entry.items() if value is not None})
    filled[key] = str(under_root(module, str(entry[key])))
    return filled


def attributes(module: AnsibleModule, path: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """The file-attribute arguments AnsibleModule's setters take, for one entry."""
    wanted = {key: entry.get(key) for key in ("owner", "group", "mode")}
    return module.load_file_common_arguments({"path": str(path), **wanted})


def note(diffs: Diffs, path: Path, before: str, after: str) -> None:
    header = str(path)
    diffs.append(
        {"before_header": header, "after_header": header, "before": before, "after": after}
    )


def ensure_directory(module: AnsibleModule, entry: dict[str, Any], diffs: Diffs) -> bool:
    path = Path(entry["path"])
    changed = False
    if not path.is_dir():
        if path.is_symlink() or path.exists():
            module.fail_json(msg=f"{path} exists and is not a folder")
        changed = True
        note(diffs, path, "(absent)\n", "(folder)\n")
        if not module.check_mode:
            # As ansible.builtin.file does: every folder created on the way
            # gets the entry's owner, group and mode.
            missing = [path, *(parent for parent in path.parents if not parent.exists())]
            for folder in reversed(missing):
                folder.mkdir()
                module.set_fs_attributes_if_different(attributes(module, folder, entry), True)
    if path.is_dir():
        changed = module.set_fs_attributes_if_different(attributes(module, path, entry), changed)
    return changed


def read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def as_text(data: bytes | None) -> str:
    return "" if data is None else data.decode("utf-8", errors="replace")


def write_candidate(module: AnsibleModule, entry: dict[str, Any], wanted: bytes) -> Path:
    """The new content in a temporary file beside dest, with its final attributes and
    validated: the live file is only replaced by a candidate that passed."""
    dest = Path(entry["dest"])
    handle, name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    candidate = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(wanted)
        module.set_fs_attributes_if_different(attributes(module, candidate, entry), False)
        validate = entry.get("validate")
        if validate:
            if "%s" not in validate:
                module.fail_json(msg=f"validate for {dest} must contain %s: {validate}")
            rc, out, err = module.run_command(validate % candidate)
            if rc != 0:
                module.fail_json(msg=f"failed to validate {dest}", rc=rc, stdout=out, stderr=err)
    except BaseException:
        candidate.unlink(missing_ok=True)
        raise
    return candidate


def ensure_file(module: AnsibleModule, entry: dict[str, Any], diffs: Diffs) -> bool:
    dest = Path(entry["dest"])
    if entry.get("remote_src"):
        wanted = read_bytes(Path(entry["remote_src"]))
        if wanted is None:
            module.fail_json(msg=f"{dest}: remote_src {entry['remote_src']} does not exist")
    elif entry.get("content") is None:
        module.fail_json(msg=f"{dest}: no content (give template, src, content or remote_src)")
    else:
        wanted = str(entry["content"]).encode("utf-8")
    current = read_bytes(dest)
    changed = current is None or (bool(entry.get("force", True)) and current != wanted)
    if changed:
        hidden = bool(entry.get("secret", False))
        before = HIDDEN if hidden and current is not None else as_text(current)
        note(diffs, dest, before, HIDDEN if hidden else as_text(wanted))
        if not module.check_mode:
            module.atomic_move(str(write_candidate(module, entry, wanted)), str(dest))
    if dest.exists():
        changed = module.set_fs_attributes_if_different(attributes(module, dest, entry), changed)
    return changed


def existing_target(entry: dict[str, Any]) -> Path | None:
    """The file a path leads to, links followed; None when there is no such file."""
    path = Path(entry["path"])
    return path.resolve() if path.exists() else None


def remove(module: AnsibleModule, path: Path, diffs: Diffs) -> bool:
    if not (path.is_symlink() or path.exists()):
        return False
    note(diffs, path, "(present)\n", "(absent)\n")
    if not module.check_mode:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return True


def purged(entry: dict[str, Any], wanted: set[Path]) -> list[Path]:
    """Files in a purge folder that match its patterns and are not wanted."""
    folder = Path(entry["path"])
    if not folder.is_dir():
        return []
    patterns = entry.get("patterns") or ["*"]
    return sorted(
        path
        for path in folder.iterdir()
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)
        and path not in wanted
        and path.is_file()
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path"},
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "mode": {"type": "raw"},
            "directory_mode": {"type": "raw"},
            "directories": {"type": "list", "elements": "raw", "default": []},
            "files": {"type": "list", "elements": "dict", "default": []},
            "existing": {"type": "list", "elements": "raw", "default": []},
            "absent": {"type": "list", "elements": "str", "default": []},
            "purge": {"type": "list", "elements": "dict", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    directories = [
        with_defaults(module, entry, "path", "directory_mode") for entry in params["directories"]
    ]
    files = [with_defaults(module, entry, "dest", "mode") for entry in params["files"]]
    diffs: Diffs = []
    changed_paths: list[str] = []
    for entry in directories:
        if ensure_directory(module, entry, diffs):
            changed_paths.append(entry["path"])
    for entry in files:
        if ensure_file(module, entry, diffs):
            changed_paths.append(entry["dest"])
    for entry in params["existing"]:
        entry = with_defaults(module, entry, "path", "mode")
        target = existing_target(entry)
        if target is not None and module.set_fs_attributes_if_different(
            attributes(module, target, entry), False
        ):
            changed_paths.append(str(target))
    wanted = {Path(entry["dest"]) for entry in files}
    removals = [under_root(module, path) for path in params["absent"]]
    for entry in params["purge"]:
        removals.extend(purged(with_defaults(module, entry, "path", "directory_mode"), wanted))
    changed_paths.extend(str(path) for path in removals if remove(module, path, diffs))
    result: dict[str, Any] = {"changed": bool(changed_paths), "changed_paths": changed_paths}
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
