import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from tally_local import Stack, load_env  # noqa: E402


@pytest.fixture(scope="session")
def stack() -> Stack:
    """The stack `make up` deployed. Missing stack is an error, never a skip."""
    return Stack(load_env())


@pytest.fixture(scope="session")
def signature_cli() -> Path:
    """Tally's own signer/verifier binary (shared/core/src/bin/tally-stripe-signature.rs)."""
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "tally-core", "--bin", "tally-stripe-signature"],
        cwd=ROOT,
        check=True,
    )
    return ROOT / "target" / "debug" / "tally-stripe-signature"
