"""HTTP simulators of the systems Tally talks to: Magento 2 REST (with signed
Adobe Commerce webhooks), a generic ERP, and the project's own Stripe simulator
for what localstripe lacks.

Run one from `tests/`: `python -m simulators.magento ...`, `python -m simulators.erp ...`,
`python -m simulators.stripe_sim ...` (`make up` starts them all; see scripts/simulators.sh).
"""
