import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from tally_local import LOCALSTRIPE_ENV, TRYTON_ENV, TRYTON_SALES_ENV, LocalStack  # noqa: E402
from tally_platforms import PlatformSim  # noqa: E402

PLATFORMS = ["magento", "znode", "kentico", "clarity", "storefront"]


@pytest.fixture(scope="session")
def stack() -> LocalStack:
    """The main stack `make up` deployed (project's Stripe simulator). Missing is an error, never a skip."""
    return LocalStack()


@pytest.fixture(scope="session")
def ls_stack() -> LocalStack:
    """The same code deployed against localstripe."""
    return LocalStack(LOCALSTRIPE_ENV)


@pytest.fixture(scope="session")
def tryton_stack() -> LocalStack:
    """The same code posting to Tryton, a real ledger (its own Stripe simulator and Magento store)."""
    return LocalStack(TRYTON_ENV)


@pytest.fixture(scope="session")
def tryton_sales_stack() -> LocalStack:
    """The same code posting each paid order to Tryton as a sale (erp.paid_orders sales_order)."""
    return LocalStack(TRYTON_SALES_ENV)


@pytest.fixture(scope="session")
def signature_cli() -> Path:
    """Tally's own signer/verifier binary (shared/tools/src/bin/tally-stripe-signature.rs)."""
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "tally-tools", "--bin", "tally-stripe-signature"],
        cwd=ROOT,
        check=True,
    )
    return ROOT / "target" / "debug" / "tally-stripe-signature"



@pytest.fixture(params=PLATFORMS)
def platform(request, stack) -> PlatformSim:
    """A test taking `platform` runs once per platform; one the stack does not serve is an error."""
    return stack.platforms[request.param]
