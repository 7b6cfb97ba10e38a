//! Money as integer minor units, converted per currency exponent.
//!
//! One exhaustive table of the currencies Stripe supports decides each
//! currency's exponent; every conversion goes through it and nothing is rounded.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An amount in the smallest unit of its currency (cents, yen, fils).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct MinorUnit(i64);

impl MinorUnit {
    pub const ZERO: MinorUnit = MinorUnit(0);

    pub const fn new(value: i64) -> Self {
        MinorUnit(value)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: MinorUnit) -> Option<MinorUnit> {
        self.0.checked_add(other.0).map(MinorUnit)
    }

    pub fn checked_sub(self, other: MinorUnit) -> Option<MinorUnit> {
        self.0.checked_sub(other.0).map(MinorUnit)
    }
}

impl fmt::Display for MinorUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown or unsupported currency code {0:?}")]
    UnknownCurrency(String),
    #[error("{amount} {currency} has more decimal places than the currency's {exponent}")]
    TooPrecise {
        amount: Decimal,
        currency: Currency,
        exponent: u32,
    },
    #[error("{minor} minor units of {currency} is not a multiple of {step}, as Stripe requires")]
    NotAMultipleOfStep {
        minor: i64,
        currency: Currency,
        step: i64,
    },
    #[error("{amount} {currency} does not fit in 64-bit minor units")]
    Overflow { amount: Decimal, currency: Currency },
}

macro_rules! currencies {
    ($( $variant:ident => $code:literal ),+ $(,)?) => {
        /// Every currency Stripe accepts for charges (ISO 4217, as Stripe spells them).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Currency { $( $variant ),+ }

        impl Currency {
            pub const ALL: &'static [Currency] = &[ $( Currency::$variant ),+ ];

            /// Lower-case ISO code, the form Stripe's API uses.
            pub const fn code(self) -> &'static str {
                match self { $( Currency::$variant => $code ),+ }
            }
        }

        impl FromStr for Currency {
            type Err = MoneyError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.to_ascii_lowercase().as_str() {
                    $( $code => Ok(Currency::$variant), )+
                    _ => Err(MoneyError::UnknownCurrency(s.to_string())),
                }
            }
        }
    };
}

currencies! {
    Aed => "aed", Afn => "afn", All => "all", Amd => "amd", Ang => "ang", Aoa => "aoa",
    Ars => "ars", Aud => "aud", Awg => "awg", Azn => "azn", Bam => "bam", Bbd => "bbd",
    Bdt => "bdt", Bgn => "bgn", Bhd => "bhd", Bif => "bif", Bmd => "bmd", Bnd => "bnd",
    Bob => "bob", Brl => "brl", Bsd => "bsd", Bwp => "bwp", Byn => "byn", Bzd => "bzd",
    Cad => "cad", Cdf => "cdf", Chf => "chf", Clp => "clp", Cny => "cny", Cop => "cop",
    Crc => "crc", Cve => "cve", Czk => "czk", Djf => "djf", Dkk => "dkk", Dop => "dop",
    Dzd => "dzd", Egp => "egp", Etb => "etb", Eur => "eur", Fjd => "fjd", Fkp => "fkp",
    Gbp => "gbp", Gel => "gel", Gip => "gip", Gmd => "gmd", Gnf => "gnf", Gtq => "gtq",
    Gyd => "gyd", Hkd => "hkd", Hnl => "hnl", Htg => "htg", Huf => "huf", Idr => "idr",
    Ils => "ils", Inr => "inr", Isk => "isk", Jmd => "jmd", Jod => "jod", Jpy => "jpy",
    Kes => "kes", Kgs => "kgs", Khr => "khr", Kmf => "kmf", Krw => "krw", Kwd => "kwd",
    Kyd => "kyd", Kzt => "kzt", Lak => "lak", Lbp => "lbp", Lkr => "lkr", Lrd => "lrd",
    Lsl => "lsl", Mad => "mad", Mdl => "mdl", Mga => "mga", Mkd => "mkd", Mmk => "mmk",
    Mnt => "mnt", Mop => "mop", Mur => "mur", Mvr => "mvr", Mwk => "mwk", Mxn => "mxn",
    Myr => "myr", Mzn => "mzn", Nad => "nad", Ngn => "ngn", Nio => "nio", Nok => "nok",
    Npr => "npr", Nzd => "nzd", Omr => "omr", Pab => "pab", Pen => "pen", Pgk => "pgk",
    Php => "php", Pkr => "pkr", Pln => "pln", Pyg => "pyg", Qar => "qar", Ron => "ron",
    Rsd => "rsd", Rub => "rub", Rwf => "rwf", Sar => "sar", Sbd => "sbd", Scr => "scr",
    Sek => "sek", Sgd => "sgd", Shp => "shp", Sle => "sle", Sos => "sos", Srd => "srd",
    Std => "std", Szl => "szl", Thb => "thb", Tjs => "tjs", Tnd => "tnd", Top => "top",
    Try => "try", Ttd => "ttd", Twd => "twd", Tzs => "tzs", Uah => "uah", Ugx => "ugx",
    Usd => "usd", Uyu => "uyu", Uzs => "uzs", Vnd => "vnd", Vuv => "vuv", Wst => "wst",
    Xaf => "xaf", Xcd => "xcd", Xof => "xof", Xpf => "xpf", Yer => "yer", Zar => "zar",
    Zmw => "zmw",
}

impl Currency {
    /// Decimal places of the minor unit in Stripe's API.
    pub const fn exponent(self) -> u32 {
        use Currency::*;
        match self {
            Bif | Clp | Djf | Gnf | Jpy | Kmf | Krw | Mga | Pyg | Rwf | Ugx | Vnd | Vuv | Xaf
            | Xof | Xpf => 0,
            Bhd | Jod | Kwd | Omr | Tnd => 3,
            _ => 2,
        }
    }

    /// The granularity Stripe accepts: three-decimal amounts must end in 0
    /// because card networks settle them to two decimals; ISK has no minor unit
    /// in practice but Stripe keeps it two-decimal for backwards compatibility,
    /// so its amounts must end in 00.
    pub const fn minor_step(self) -> i64 {
        match self {
            Currency::Isk => 100,
            _ if self.exponent() == 3 => 10,
            _ => 1,
        }
    }

    /// Converts an amount Stripe will charge (e.g. an order's grand total) to
    /// minor units, refusing anything not exactly representable in the currency
    /// or not a multiple of Stripe's step for it (10 for three-decimal currencies).
    pub fn to_minor(self, amount: Decimal) -> Result<MinorUnit, MoneyError> {
        let minor = self.to_minor_exact(amount)?;
        self.check_step(minor.0)?;
        Ok(minor)
    }

    /// Converts any amount (a line total, a tax) to minor units, refusing only
    /// what the currency's exponent cannot represent exactly. Stripe's step
    /// applies to what is charged, not to the parts of an order.
    pub fn to_minor_exact(self, amount: Decimal) -> Result<MinorUnit, MoneyError> {
        let exponent = self.exponent();
        let normalized = amount.normalize();
        if normalized.scale() > exponent {
            return Err(MoneyError::TooPrecise {
                amount,
                currency: self,
                exponent,
            });
        }
        let overflow = || MoneyError::Overflow {
            amount,
            currency: self,
        };
        let scaled = normalized
            .checked_mul(Decimal::from(10_i64.pow(exponent)))
            .ok_or_else(overflow)?;
        let minor: i64 = scaled.trunc().try_into().map_err(|_| overflow())?;
        Ok(MinorUnit(minor))
    }

    /// Minor units back to a decimal with exactly the currency's scale (10.50, 1000, 1.230).
    pub fn to_major(self, minor: MinorUnit) -> Decimal {
        Decimal::new(minor.0, self.exponent())
    }

    /// Validates a minor amount received from elsewhere (e.g. Stripe) against the step rule.
    pub fn check_step(self, minor: i64) -> Result<(), MoneyError> {
        let step = self.minor_step();
        if minor % step != 0 {
            return Err(MoneyError::NotAMultipleOfStep {
                minor,
                currency: self,
                step,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code().to_ascii_uppercase())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

/// An amount together with its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: MinorUnit,
    pub currency: Currency,
}

impl Money {
    pub fn from_major(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        Ok(Money {
            amount: currency.to_minor(amount)?,
            currency,
        })
    }

    pub fn to_major(self) -> Decimal {
        self.currency.to_major(self.amount)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_major(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn exponents_follow_stripe() {
        for code in [
            "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
            "vuv", "xaf", "xof", "xpf",
        ] {
            assert_eq!(Currency::from_str(code).unwrap().exponent(), 0, "{code}");
        }
        for code in ["bhd", "jod", "kwd", "omr", "tnd"] {
            assert_eq!(Currency::from_str(code).unwrap().exponent(), 3, "{code}");
        }
        let zero_or_three = Currency::ALL.iter().filter(|c| c.exponent() != 2).count();
        assert_eq!(zero_or_three, 21);
        assert_eq!(Currency::Usd.exponent(), 2);
    }

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in Currency::ALL {
            assert!(seen.insert(c.code()));
            assert_eq!(Currency::from_str(c.code()).unwrap(), *c);
            assert_eq!(Currency::from_str(&c.code().to_uppercase()).unwrap(), *c);
        }
        assert!(Currency::from_str("xxx").is_err());
    }

    #[test]
    fn converts_exactly_per_exponent() {
        assert_eq!(Currency::Usd.to_minor(dec("10.50")).unwrap().get(), 1050);
        assert_eq!(Currency::Usd.to_minor(dec("10.5")).unwrap().get(), 1050);
        assert_eq!(Currency::Usd.to_minor(dec("10.5000")).unwrap().get(), 1050);
        assert_eq!(Currency::Jpy.to_minor(dec("1500")).unwrap().get(), 1500);
        assert_eq!(Currency::Kwd.to_minor(dec("12.340")).unwrap().get(), 12340);
        assert_eq!(Currency::Usd.to_minor(dec("-3.01")).unwrap().get(), -301);
        assert_eq!(
            Currency::Usd.to_major(MinorUnit::new(1050)).to_string(),
            "10.50"
        );
        assert_eq!(
            Currency::Jpy.to_major(MinorUnit::new(1500)).to_string(),
            "1500"
        );
        assert_eq!(
            Currency::Kwd.to_major(MinorUnit::new(12340)).to_string(),
            "12.340"
        );
    }

    #[test]
    fn refuses_what_cannot_be_represented() {
        assert!(matches!(
            Currency::Usd.to_minor(dec("10.505")),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            Currency::Jpy.to_minor(dec("100.5")),
            Err(MoneyError::TooPrecise { .. })
        ));
        // KWD 12.345 is valid ISO but Stripe needs a multiple of 10 fils.
        assert!(matches!(
            Currency::Kwd.to_minor(dec("12.345")),
            Err(MoneyError::NotAMultipleOfStep { step: 10, .. })
        ));
        assert_eq!(Currency::Isk.to_minor(dec("500")).unwrap().get(), 50000);
        assert!(matches!(
            Currency::Isk.to_minor(dec("500.50")),
            Err(MoneyError::NotAMultipleOfStep { step: 100, .. })
        ));
        assert!(matches!(
            Currency::Usd.to_minor(Decimal::MAX),
            Err(MoneyError::Overflow { .. })
        ));
    }

    #[test]
    fn currency_serde_uses_stripe_codes() {
        let m = Money::from_major(dec("9.99"), Currency::Eur).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":999,"currency":"eur"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        assert!(serde_json::from_str::<Money>(r#"{"amount":1,"currency":"zzz"}"#).is_err());
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        proptest::sample::select(Currency::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn minor_to_major_to_minor_round_trips(c in any_currency(), raw in -10_000_000_000_000i64..10_000_000_000_000i64) {
            let minor = MinorUnit::new(raw - raw % c.minor_step());
            let major = c.to_major(minor);
            prop_assert_eq!(major.scale(), c.exponent());
            prop_assert_eq!(c.to_minor(major).unwrap(), minor);
        }

        #[test]
        fn extra_precision_is_always_an_error(c in any_currency(), raw in -1_000_000_000i64..1_000_000_000i64, extra in 1i64..10) {
            // raw minor units plus one more non-zero digit below the minor unit
            let too_precise = Decimal::new(raw * 10 + extra, c.exponent() + 1);
            let is_too_precise = matches!(c.to_minor(too_precise), Err(MoneyError::TooPrecise { .. }));
            prop_assert!(is_too_precise);
        }

        #[test]
        fn major_strings_parse_to_the_same_minor(c in any_currency(), raw in 0i64..1_000_000_000i64) {
            let minor = MinorUnit::new(raw - raw % c.minor_step());
            let text = c.to_major(minor).to_string();
            prop_assert_eq!(c.to_minor(Decimal::from_str(&text).unwrap()).unwrap(), minor);
        }
    }
}
