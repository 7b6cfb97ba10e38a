"""HTTP simulators of the systems Tally talks to (Magento 2 REST, a generic ERP).

Run one with `python -m simulators.magento ...` or `python -m simulators.erp ...` from `tests/`.
"""
