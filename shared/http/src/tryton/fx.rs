//! An entry in a currency other than the company's, as Tryton itself keeps
//! one: each line's debit or credit in the company currency at Tryton's own
//! rate for the entry's date (the merchant's rates, `currency.currency.rate`),
//! rounded as Tryton rounds (half to even, to the company currency's
//! rounding), and the exact amount in the entry's currency beside it
//! (`second_currency`, `amount_second_currency`). A move whose converted lines
//! would not balance is refused with the figures, never evened out silently.

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};
use tally_core::erp::ErpError;

use super::{Ledger, TrytonErp};
use crate::retry::Repeat;

/// Tryton's rates on one date between the company currency and another.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    /// The entry currency's `currency.currency` id.
    pub second_currency: i64,
    foreign_rate: Decimal,
    company_rate: Decimal,
    company_rounding: Decimal,
}

impl Conversion {
    /// `amount` in the entry's currency as the company's, as Tryton's
    /// `Currency.compute` gives it: `amount * to.rate / from.rate`, rounded.
    pub fn to_company(&self, amount: Decimal) -> Decimal {
        let exact = amount * self.company_rate / self.foreign_rate;
        if self.company_rounding.is_zero() {
            return exact;
        }
        (exact / self.company_rounding)
            .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
            * self.company_rounding
    }
}

fn decimal_of(v: &Value) -> Option<Decimal> {
    v["decimal"].as_str().and_then(|t| t.parse().ok())
}

impl TrytonErp {
    /// Tryton's rates for `code` and the company currency on `day`, or why not.
    pub(super) async fn conversion(
        &self,
        ledger: &Ledger,
        code: &str,
        day: &Value,
        text: &str,
    ) -> Result<Conversion, ErpError> {
        // `rate` is computed for the context's date: the latest rate on or before it.
        let found = self
            .rpc
            .call(
                "model.currency.currency.search_read",
                json!([[["code", "in", [code, ledger.currency.as_str()]]], 0, null, null,
                       ["code", "rate", "rounding"], {"company": ledger.company, "date": day}]),
                Repeat::Safe,
            )
            .await?;
        let by_code = |wanted: &str| {
            found
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["code"].as_str() == Some(wanted))
                .cloned()
        };
        let foreign = by_code(code).ok_or_else(|| {
            ErpError::Refused(format!(
                "Tryton has no currency {code}: add it with its rates to post in it"
            ))
        })?;
        let company = by_code(&ledger.currency).ok_or_else(|| {
            ErpError::InvalidResponse(format!("Tryton has no currency {}", ledger.currency))
        })?;
        let rate = |c: &Value| decimal_of(&c["rate"]).filter(|r| !r.is_zero());
        let (Some(foreign_rate), Some(company_rate)) = (rate(&foreign), rate(&company)) else {
            return Err(ErpError::Refused(format!(
                "Tryton has no rate for {code} or {} on {text}: add one (currency.currency.rate) and redrive",
                ledger.currency
            )));
        };
        Ok(Conversion {
            second_currency: foreign["id"]
                .as_i64()
                .ok_or_else(|| ErpError::InvalidResponse(format!("currency {foreign}")))?,
            foreign_rate,
            company_rate,
            company_rounding: decimal_of(&company["rounding"]).unwrap_or(Decimal::new(1, 2)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd_per(rate: &str) -> Conversion {
        Conversion {
            second_currency: 2,
            foreign_rate: rate.parse().unwrap(),
            company_rate: Decimal::ONE,
            company_rounding: Decimal::new(1, 2),
        }
    }

    #[test]
    fn amounts_convert_at_trytons_rate_rounded_half_to_even() {
        assert_eq!(
            usd_per("150").to_company(Decimal::new(1500, 0)),
            Decimal::new(1000, 2)
        );
        // 6.170 KWD at 0.3075 a dollar: 20.06504... dollars
        assert_eq!(
            usd_per("0.3075").to_company(Decimal::new(6170, 3)),
            Decimal::new(2007, 2)
        );
        // exactly half a cent goes to the even cent, as Tryton's Currency.round does
        assert_eq!(
            usd_per("2").to_company(Decimal::new(5, 2)),
            Decimal::new(2, 2)
        );
        assert_eq!(
            usd_per("2").to_company(Decimal::new(7, 2)),
            Decimal::new(4, 2)
        );
    }
}
