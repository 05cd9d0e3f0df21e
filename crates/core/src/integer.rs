//! JSON integers as JSON Schema counts them: `5` and `5.0` are the same
//! integer, which serde alone refuses for an integer field. Use with
//! `#[serde(deserialize_with = …)]`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// The integer a JSON number stands for, if it stands for one that fits.
pub(crate) fn integral<T: TryFrom<i64> + TryFrom<u64>>(n: &serde_json::Number) -> Option<T> {
    if let Some(u) = n.as_u64() {
        return T::try_from(u).ok();
    }
    if let Some(i) = n.as_i64() {
        return T::try_from(i).ok();
    }
    // Beyond 2^53 a float no longer holds every integer; refuse it there.
    let f = n
        .as_f64()
        .filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0)?;
    T::try_from(f as i64).ok()
}

fn read<'de, D: Deserializer<'de>, T: TryFrom<i64> + TryFrom<u64>>(
    n: serde_json::Number,
) -> Result<T, D::Error> {
    integral(&n).ok_or_else(|| D::Error::custom(format!("expected an integer in range, got {n}")))
}

pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    read::<D, u64>(serde_json::Number::deserialize(d)?)
}

pub fn option_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?
        .map(read::<D, i64>)
        .transpose()
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::u64")]
        n: u64,
        #[serde(default, deserialize_with = "super::option_i64")]
        m: Option<i64>,
    }

    fn parse(s: &str) -> Option<(u64, Option<i64>)> {
        serde_json::from_str::<T>(s).ok().map(|t| (t.n, t.m))
    }

    #[test]
    fn integral_floats_are_integers() {
        assert_eq!(parse(r#"{"n": 5}"#), Some((5, None)));
        assert_eq!(parse(r#"{"n": 5.0, "m": -3.0}"#), Some((5, Some(-3))));
        assert_eq!(parse(r#"{"n": 5, "m": null}"#), Some((5, None)));
        assert_eq!(parse(r#"{"n": 5.5}"#), None);
        assert_eq!(parse(r#"{"n": -1}"#), None);
        assert_eq!(parse(r#"{"n": 1e300}"#), None);
        assert_eq!(parse(r#"{"n": "5"}"#), None);
    }
}
