"""Creates the local Tryton ledger Tally posts to (run by scripts/simulators.sh with the
.venv-tryton interpreter, once per .tally/ directory): after `trytond-admin` has made the
database with the `account`, `account_invoice` and `sale` modules, a company keeping USD, fiscal
years for last year, this year and next with monthly periods (last year's January closed,
so tests can show the ledger refusing a closed period), Tryton's minimal chart of accounts
with Tally's accounts under it (erp.accounts' default codes, and 4560 for disputes), the
general journal `STRIPE`, the currencies Tally's tests post in with rates (units per US dollar,
from last year's first day; GBP deliberately without one, so tests can show a missing rate
refused), and the user Tally logs in as.

Usage: tryton_ledger.py <trytond.conf> <database> <login> <password>"""

import datetime
import sys
from decimal import Decimal

from proteus import Model, config
from trytond.modules.account.tests.tools import create_chart, create_fiscalyear
from trytond.modules.account_invoice.tests.tools import set_fiscalyear_invoice_sequences
from trytond.modules.company.tests.tools import create_company, get_company
from trytond.modules.currency.tests.tools import get_currency

# code, name, Tryton account type (of the minimal chart), as ErpAccounts::default() names them
TALLY_ACCOUNTS = [
    ("1000", "Bank", "Cash"),
    ("1150", "Stripe clearing", "Current"),
    ("1190", "Suspense (payout transactions matched to no order)", "Current"),
    ("1200", "Accounts receivable (web orders)", "Current"),
    ("4500", "Refunds", "Revenue"),
    ("4560", "Disputes", "Expense"),
    ("6150", "Stripe fees", "Expense"),
]

# code, name, rounding, units per USD (None: no rate)
CURRENCIES = [
    ("EUR", "Euro", "0.01", "0.92"),
    ("JPY", "Japanese Yen", "1", "150"),
    ("KWD", "Kuwaiti Dinar", "0.001", "0.3075"),
    ("GBP", "Pound Sterling", "0.01", None),
]


def add_currencies(since: datetime.date) -> None:
    Currency, Rate = Model.get("currency.currency"), Model.get("currency.currency.rate")
    for code, name, rounding, rate in CURRENCIES:
        found = Currency.find([("code", "=", code)])
        currency = found[0] if found else Currency(name=name, code=code, digits=max(0, -Decimal(rounding).as_tuple().exponent),
                                                  rounding=Decimal(rounding))
        currency.save()
        if rate is not None and not Rate.find([("currency", "=", currency.id)]):
            Rate(date=since, rate=Decimal(rate), currency=currency).save()


def main(conf: str, database: str, login: str, password: str) -> None:
    config.set_trytond(database=database, config_file=conf)
    create_company(currency=get_currency("USD"))
    company = get_company()
    this_year = datetime.date.today().year
    for year in (this_year - 1, this_year, this_year + 1):
        fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(
            company, today=(datetime.date(year, 1, 1), datetime.date(year, 12, 31))))
        fiscalyear.click("create_period")
    Period = Model.get("account.period")
    january, = Period.find([("start_date", "=", datetime.date(this_year - 1, 1, 1)), ("type", "=", "standard")])
    january.click("close")

    create_chart(company)
    Account, AccountType = Model.get("account.account"), Model.get("account.account.type")
    root, = Account.find([("parent", "=", None)])
    for code, name, type_name in TALLY_ACCOUNTS:
        kind, = AccountType.find([("name", "=", type_name), ("statement", "in", ["balance", "income"])], limit=1)
        Account(name=name, code=code, parent=root, type=kind, party_required=False).save()

    Model.get("account.journal")(name="Stripe", code="STRIPE", type="general").save()
    add_currencies(datetime.date(this_year - 1, 1, 1))

    Company, Group = Model.get("company.company"), Model.get("res.group")
    user = Model.get("res.user")(login=login, name="Tally integration", password=password)
    user.companies.append(Company(company.id))
    user.company = Company(company.id)
    # Account: moves and invoices; Sales: sale orders (erp.paid_orders sales_order)
    for group in Group.find([("name", "in", ["Account", "Sales"])]):
        user.groups.append(group)
    user.save()


if __name__ == "__main__":
    main(*sys.argv[1:5])
