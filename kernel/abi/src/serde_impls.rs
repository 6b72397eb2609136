//! Serde for the bit-set types: compact integers on the binary wire
//! (postcard), readable forms in JSON (`"rw--"`, `["core", "log"]`), so a
//! script reading `--json` sees the same letters the tables show.

use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Class, Classes, Rights};

impl Serialize for Rights {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let mut buf = [0u8; 4];
            for (i, (bit, c)) in [
                (Rights::READ, b'r'),
                (Rights::WRITE, b'w'),
                (Rights::GRANT, b'g'),
                (Rights::DELETE, b'd'),
            ]
            .into_iter()
            .enumerate()
            {
                buf[i] = if self.contains(bit) { c } else { b'-' };
            }
            s.serialize_str(core::str::from_utf8(&buf).expect("ascii"))
        } else {
            s.serialize_u32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Rights {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rights, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rights;
            fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
                f.write_str("rights as `rwgd` letters (`-` for absent) or bits")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Rights, E> {
                u32::try_from(v)
                    .ok()
                    .filter(|v| v & !Rights::ALL.0 == 0)
                    .map(Rights)
                    .ok_or_else(|| E::custom("rights bits out of range"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Rights, E> {
                Rights::parse(&v.replace('-', ""))
                    .ok_or_else(|| E::custom("rights are letters from `rwgd`"))
            }
        }
        if d.is_human_readable() {
            d.deserialize_str(V)
        } else {
            d.deserialize_u32(V)
        }
    }
}

impl Serialize for Classes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let mut seq = s.serialize_seq(None)?;
            for c in self.iter() {
                seq.serialize_element(&c)?;
            }
            seq.end()
        } else {
            s.serialize_u32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Classes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Classes, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Classes;
            fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
                f.write_str("a list of capability classes or their bits")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Classes, E> {
                u32::try_from(v)
                    .ok()
                    .filter(|v| v & !Classes::ALL.0 == 0)
                    .map(Classes)
                    .ok_or_else(|| E::custom("class bits out of range"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Classes, A::Error> {
                let mut out = Classes::CORE;
                while let Some(c) = seq.next_element::<Class>()? {
                    out = out.with(c);
                }
                Ok(out)
            }
        }
        if d.is_human_readable() {
            d.deserialize_seq(V)
        } else {
            d.deserialize_u32(V)
        }
    }
}

#[cfg(feature = "schema")]
mod schema {
    extern crate std;
    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
    use std::borrow::Cow;

    impl JsonSchema for crate::Rights {
        fn schema_name() -> Cow<'static, str> {
            "Rights".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({ "type": "string", "pattern": "^[r-][w-][g-][d-]$", "description": "read, write, grant, delete; `-` where absent" })
        }
    }

    impl JsonSchema for crate::Classes {
        fn schema_name() -> Cow<'static, str> {
            "Classes".into()
        }
        fn json_schema(g: &mut SchemaGenerator) -> Schema {
            json_schema!({ "type": "array", "items": g.subschema_for::<crate::Class>(), "description": "hostcall classes granted" })
        }
    }
}
