"""`countersign.agents`, what agent authors import: light to import, and the same objects as their homes."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import countersign.agents
from tests.stack import REPO_ROOT


def test_importing_the_public_module_loads_no_langgraph() -> None:
    probe = (
        "import sys, countersign.agents\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('langgraph', 'langchain', 'langchain_core')))"
    )

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT, check=True)

    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("name", countersign.agents.__all__)
def test_each_public_name_is_the_object_at_its_old_path(name: str) -> None:
    home = importlib.import_module(countersign.agents._HOMES[name])

    assert getattr(countersign.agents, name) is getattr(home, name)


def test_the_old_paths_still_import() -> None:
    from worker.gate import interrupt_before_when
    from worker.registry import agent

    assert countersign.agents.agent is agent
    assert countersign.agents.interrupt_before_when is interrupt_before_when


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        countersign.agents.no_such_name  # noqa: B018
