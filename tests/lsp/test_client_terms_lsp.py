"""Messages in the client's own terms: the server names settings as the connected editor's users write
them and names the Hugging Face cache folder huggingface_hub really uses (fixtures: `neovim_client`,
identified by its clientInfo, with HF_HOME set; `vscode_client`, identified by initializationOptions,
with only XDG_CACHE_HOME set). Both run a preset whose weights are not there, offline.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import server_command
from tests.lsp.lsp_support import client_capabilities, record_status, wait_for_status

HF_HOME = tempfile.mkdtemp(prefix="gemma-lsp-hf-home-")
XDG_CACHE = tempfile.mkdtemp(prefix="gemma-lsp-xdg-cache-")


def env(**extra: str) -> dict[str, str]:
    """The tests' environment without any Hugging Face cache variable, plus `extra`."""
    base = {k: v for k, v in os.environ.items() if k not in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    return {**base, **extra}


def config(**extra: str) -> ClientServerConfig:
    return ClientServerConfig(server_command=server_command("--model", "e2b", "--offline"), server_env=env(**extra))


async def start(client: LanguageClient, name: str, options: dict) -> None:
    record_status(client)
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(), client_info=types.ClientInfo(name=name, version="1"),
        initialization_options={"gemma": options}))
    await wait_for_status(client, {"error"}, timeout=60)


@pytest_lsp.fixture(config=config(HF_HOME=HF_HOME))
async def neovim_client(lsp_client: LanguageClient):
    await start(lsp_client, "Neovim", {"draftTokens": 99})
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=config(XDG_CACHE_HOME=XDG_CACHE))
async def vscode_client(lsp_client: LanguageClient):
    await start(lsp_client, "Some Editor", {"client": "vscode", "draftTokens": 99})
    yield
    await lsp_client.shutdown_session()


def errors(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if m.type == types.MessageType.Error]


async def test_neovim_users_read_the_setup_option_and_the_hf_home_cache(neovim_client: LanguageClient):
    shown = errors(neovim_client)
    assert "gemma-lsp settings: server.settings.draftTokens: must be between 1 and 16; keeping 4" in shown
    (missing,) = [m for m in shown if "google/gemma-4-E2B-it" in m]
    assert f"not in the Hugging Face cache ({Path(HF_HOME) / 'hub'})" in missing
    assert "or set server.settings.model to a local folder" in missing
    assert "gemma.model" not in missing and "~/.cache/huggingface" not in missing


async def test_vscode_users_read_the_vscode_setting_and_the_xdg_cache(vscode_client: LanguageClient):
    shown = errors(vscode_client)
    assert "gemma-lsp settings: gemma.draftTokens: must be between 1 and 16; keeping 4" in shown
    (missing,) = [m for m in shown if "google/gemma-4-E2B-it" in m]
    assert f"not in the Hugging Face cache ({Path(XDG_CACHE) / 'huggingface' / 'hub'})" in missing
    assert "or set gemma.model to a local folder" in missing and "server.settings" not in missing
