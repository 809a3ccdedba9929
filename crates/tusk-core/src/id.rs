//! Mastodon-style snowflake ids: `(unix_ms << 16) | 16-bit sequence`, generated in PostgreSQL.
//! They travel as strings in JSON (JavaScript clients cannot hold 64-bit integers).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
pub struct Id(pub i64);

impl Id {
    /// The millisecond timestamp the id was minted at.
    pub fn unix_ms(self) -> i64 {
        self.0 >> 16
    }

    /// The smallest id minted at `unix_ms` (for turning a time into a pagination bound).
    pub fn from_unix_ms(unix_ms: i64) -> Self {
        Self(unix_ms << 16)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An id that was not a positive decimal integer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid id")]
pub struct InvalidId;

impl FromStr for Id {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<i64>() {
            Ok(n) if n > 0 && !s.starts_with('+') => Ok(Self(n)),
            _ => Err(InvalidId),
        }
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    /// Accepts `"123"` (what Mastodon sends) and `123` (what some clients send).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Str(String),
            Num(i64),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
            Raw::Num(n) if n > 0 => Ok(Self(n)),
            Raw::Num(_) => Err(serde::de::Error::custom(InvalidId)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_positive_decimal_only() {
        assert_eq!("42".parse::<Id>(), Ok(Id(42)));
        assert_eq!("0".parse::<Id>(), Err(InvalidId));
        assert_eq!("-5".parse::<Id>(), Err(InvalidId));
        assert_eq!("+5".parse::<Id>(), Err(InvalidId));
        assert_eq!("abc".parse::<Id>(), Err(InvalidId));
        assert_eq!("99999999999999999999".parse::<Id>(), Err(InvalidId));
    }

    #[test]
    fn round_trips_as_a_json_string() {
        let id = Id(113_456_789_012_345_678);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"113456789012345678\"");
        assert_eq!(serde_json::from_str::<Id>(&json).unwrap(), id);
        assert_eq!(serde_json::from_str::<Id>("7").unwrap(), Id(7));
    }

    #[test]
    fn timestamp_is_the_high_bits() {
        let id = Id((1_667_000_000_000 << 16) | 0x201);
        assert_eq!(id.unix_ms(), 1_667_000_000_000);
        assert!(Id::from_unix_ms(1_667_000_000_000) < id);
    }
}
