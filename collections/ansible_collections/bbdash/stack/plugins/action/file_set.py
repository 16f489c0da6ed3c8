"""Action plugin for bbdash.stack.file_set: renders templates and reads files on the controller.

Each files entry gives exactly one of:
- template: a template of the role (templates/), rendered with the task's variables
  the way ansible.builtin.template renders it (same Jinja settings, ansible_managed);
- src: a file of the role (files/) or an absolute path, sent as it is (a dest
  ending in / is the folder it goes into, under its own name);
- content: the text itself;
- remote_src: a file on the host, copied there by the module.

The module then compares and writes everything in one call on the host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template

try:  # ansible_managed and friends, as the template action sets them (ansible-core 2.19)
    from ansible._internal._templating import _template_vars
except ImportError:  # pragma: no cover - older or newer cores: templates that use them fail loudly
    _template_vars = None

SOURCES = ("template", "src", "content", "remote_src")
# ansible.builtin.template's defaults (trim_blocks on, lstrip_blocks off, "\n").
JINJA_OVERRIDES = {"trim_blocks": True, "lstrip_blocks": False, "newline_sequence": "\n"}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(
        (
            "root",
            "owner",
            "group",
            "mode",
            "directory_mode",
            "directories",
            "files",
            "existing",
            "absent",
            "purge",
        )
    )

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        files = args.get("files") or []
        if not isinstance(files, list):
            raise AnsibleActionFail("files must be a list of entries")
        args["files"] = [self._with_content(entry, task_vars) for entry in files]
        result.update(
            self._execute_module(
                module_name="bbdash.stack.file_set", module_args=args, task_vars=task_vars
            )
        )
        return result

    def _with_content(self, entry: Any, task_vars: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(entry, dict) or not entry.get("dest"):
            raise AnsibleActionFail(f"every files entry needs a dest: {entry!r}")
        given = [key for key in SOURCES if entry.get(key) is not None]
        if len(given) != 1:
            raise AnsibleActionFail(
                f"{entry['dest']}: give exactly one of template, src, content or remote_src"
                f" (got {given or 'none'})"
            )
        out = {key: value for key, value in entry.items() if key not in SOURCES}
        if "remote_src" in given:
            out["remote_src"] = str(entry["remote_src"])  # read by the module, on the host
        elif "template" in given:
            out["content"] = self._render(str(entry["template"]), str(entry["dest"]), task_vars)
        elif "src" in given:
            out["content"] = self._read(str(entry["src"]))
            # As with ansible.builtin.copy: a dest ending in / is a folder.
            if str(entry["dest"]).endswith("/"):
                out["dest"] = f"{entry['dest']}{Path(str(entry['src'])).name}"
        else:
            out["content"] = str(entry["content"])
        return out

    def _find(self, kind: str, name: str) -> str:
        try:
            return self._find_needle(kind, name)
        except AnsibleError as error:
            raise AnsibleActionFail(str(error)) from error

    def _read(self, name: str) -> str:
        return self._loader.get_text_file_contents(self._find("files", name))

    def _render(self, name: str, dest: str, task_vars: dict[str, Any]) -> str:
        source = self._find("templates", name)
        # Includes and imports are looked up as ansible.builtin.template does: each
        # search path, and its templates/ folder.
        paths = [
            *task_vars.get("ansible_search_path", []),
            self._loader.get_basedir(),
            str(Path(source).parent),
        ]
        searchpath = [found for path in paths for found in (str(Path(path) / "templates"), path)]
        variables = dict(task_vars)
        if _template_vars is not None:
            variables.update(
                _template_vars.generate_ansible_template_vars(
                    path=name,
                    fullpath=source,
                    dest_path=dest,
                    include_ansible_managed="ansible_managed" not in variables,
                )
            )
        templar = self._templar.copy_with_new_env(
            searchpath=searchpath, available_variables=variables
        )
        text = trust_as_template(self._loader.get_text_file_contents(source))
        rendered = templar.template(text, escape_backslashes=False, overrides=JINJA_OVERRIDES)
        return "" if rendered is None else str(rendered)
