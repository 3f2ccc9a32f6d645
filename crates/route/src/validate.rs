//! Checks on names and addresses typed by people, with errors that name the field, and the
//! same rules as JSON Schema patterns for the API description.

/// A mail or IM address: something@something, no spaces or control characters, ≤ 254
/// characters. [`schema`] states the same rules for the API description.
pub(crate) fn address(field: &str, a: &str) -> Result<(), String> {
    if a.chars().count() > 254 {
        return Err(format!(
            "{field} '{}…' is longer than 254 characters",
            truncate(a, 40)
        ));
    }
    address_shape(field, a)
}

/// [`address`] without the length limit (sender patterns, group members).
pub(crate) fn address_shape(field: &str, a: &str) -> Result<(), String> {
    if a.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if a.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{field} '{}' contains spaces or control characters",
            a.escape_debug()
        ));
    }
    match a.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(()),
        _ => Err(format!(
            "{field} '{a}' is not an address like name@example.org"
        )),
    }
}

/// A profile, group or label name: 1–64 characters, no spaces at either end, no control
/// characters; spaces inside are allowed ("Do not disturb").
pub(crate) fn name(field: &str, n: &str) -> Result<(), String> {
    if n.trim().is_empty() {
        return Err(format!("{field} is empty"));
    }
    if n.trim() != n {
        return Err(format!("{field} '{n}' starts or ends with spaces"));
    }
    if n.chars().count() > 64 {
        return Err(format!(
            "{field} '{}…' is longer than 64 characters",
            truncate(n, 40)
        ));
    }
    if n.chars().any(|c| c.is_control()) {
        return Err(format!(
            "{field} '{}' contains control characters",
            n.escape_debug()
        ));
    }
    Ok(())
}

pub(crate) fn truncate(s: &str, chars: usize) -> String {
    s.chars().take(chars).collect()
}

/// Integer fields that also take a JSON number with a zero fraction (`3.0`): JSON Schema
/// calls that an integer too, and clients written in languages without integers send it.
pub mod int {
    use serde::de::{Deserializer, Error, Visitor};
    use std::fmt;

    struct Whole;

    impl Visitor<'_> for Whole {
        type Value = i128;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<i128, E> {
            Ok(v.into())
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<i128, E> {
            Ok(v.into())
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<i128, E> {
            if v.fract() == 0.0 && v.abs() < 1e30 {
                Ok(v as i128)
            } else {
                Err(E::custom(format!("{v} is not a whole number")))
            }
        }
    }

    fn whole<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
        let v = d.deserialize_any(Whole)?;
        T::try_from(v).map_err(|_| D::Error::custom(format!("{v} is out of range")))
    }

    pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        whole(d)
    }

    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        whole(d)
    }

    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        whole(d)
    }

    /// For an optional field (absent or null: `None`).
    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        struct Opt;
        impl<'de> Visitor<'de> for Opt {
            type Value = Option<u32>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number or null")
            }
            fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                u32(d).map(Some)
            }
        }
        d.deserialize_option(Opt)
    }
}

/// Schemas of strings checked by these rules, for the API description.
#[cfg(feature = "openapi")]
#[allow(dead_code)] // only their schemas are used
pub mod schema {
    /// A name: 1–64 characters, no spaces at either end, no control characters.
    #[derive(utoipa::ToSchema)]
    #[schema(
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub struct RoutingName(pub String);

    /// An address (`name@example.org`) or a domain (`@example.org`).
    #[derive(utoipa::ToSchema)]
    #[schema(
        pattern = r"^(?:[^\s\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+|@[^\s@\x00-\x1f\x7f-\x9f]+)$"
    )]
    pub struct GroupMember(pub String);

    /// An address, a domain (`@example.org`) or a contact group (`group:VIP`).
    #[derive(utoipa::ToSchema)]
    #[schema(
        pattern = r"^(?:[^\s\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+|@[^\s@\x00-\x1f\x7f-\x9f]+|group:[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?)$"
    )]
    pub struct VipSender(pub String);

    /// A local time of day, `HH:MM`.
    #[derive(utoipa::ToSchema)]
    #[schema(pattern = r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$")]
    pub struct LocalTime(pub String);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names() {
        assert!(address("x", "a@b").is_ok());
        assert!(address("x", "ünïcode@例え.jp").is_ok());
        for bad in ["", "ab", "@b", "a@", "a b@c", "a@b\n", &"a".repeat(300)] {
            assert!(
                address("forward address", bad)
                    .unwrap_err()
                    .contains("forward address"),
                "{bad:?}"
            );
        }
        assert!(name("profile name", "Do not disturb").is_ok());
        for bad in ["", "  ", " x", "x ", "a\tb", &"n".repeat(65)] {
            assert!(
                name("profile name", bad)
                    .unwrap_err()
                    .contains("profile name"),
                "{bad:?}"
            );
        }
    }
}
