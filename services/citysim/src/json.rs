//! A compact JSON writer for the events' own `Serialize` impls, byte-identical to
//! `serde_json::to_writer` (for types whose field and variant names need no escaping, as no
//! identifier does) but faster on the strings that make up most of an event.
//!
//! serde_json checks every byte of every string against its escape table; event strings (mostly
//! Chinese text) almost never need escaping, so this writer checks a whole string with one
//! vectorisable pass and copies it at once, handing the rare string that needs escaping (and
//! every float) to serde_json so the bytes stay exactly serde_json's.

use serde::ser::{self, Serialize};

/// Why a value could not be written.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// serde_json refused a value (non-finite float, non-string map key …).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A map key that is not a string.
    #[error("map keys must be strings")]
    KeyNotString,
    /// A custom error from a `Serialize` impl.
    #[error("{0}")]
    Custom(String),
}

impl ser::Error for JsonError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        JsonError::Custom(msg.to_string())
    }
}

/// Appends `value` as compact JSON to `out`.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), JsonError> {
    value.serialize(&mut Writer { out })
}

/// The writer: a serde `Serializer` over a byte vector.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

fn needs_escape(s: &str) -> bool {
    // SWAR: eight bytes at a time, testing for control bytes, '"' and '\\' in each lane.
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let mut chunks = s.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("chunks of eight"));
        let control = x.wrapping_sub(LO * 0x20) & !x & HI;
        if control | has_zero(x ^ (LO * u64::from(b'"'))) | has_zero(x ^ (LO * u64::from(b'\\')))
            != 0
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

impl Writer<'_> {
    fn string(&mut self, s: &str) -> Result<(), JsonError> {
        if needs_escape(s) {
            serde_json::to_writer(&mut *self.out, s)?;
        } else {
            self.out.push(b'"');
            self.out.extend_from_slice(s.as_bytes());
            self.out.push(b'"');
        }
        Ok(())
    }

    /// A struct field or enum variant name, written without escaping: names of `Serialize`
    /// derives are identifiers or serde renames, which in the event types never need it
    /// (checked in debug builds and by the byte-equality tests).
    fn name(&mut self, s: &'static str) -> Result<(), JsonError> {
        debug_assert!(!needs_escape(s), "name {s:?} needs escaping");
        self.out.push(b'"');
        self.out.extend_from_slice(s.as_bytes());
        self.out.push(b'"');
        Ok(())
    }

    fn integer(&mut self, v: impl itoa_like::Integer) -> Result<(), JsonError> {
        v.write(self.out);
        Ok(())
    }
}

mod itoa_like {
    /// Integers written in decimal without allocating.
    pub trait Integer: Copy {
        fn write(self, out: &mut Vec<u8>);
    }

    macro_rules! signed {
        ($($t:ty),*) => {$(
            impl Integer for $t {
                fn write(self, out: &mut Vec<u8>) {
                    if self < 0 {
                        out.push(b'-');
                    }
                    (self as i128).unsigned_abs().write(out);
                }
            }
        )*};
    }
    macro_rules! unsigned {
        ($($t:ty),*) => {$(
            impl Integer for $t {
                fn write(self, out: &mut Vec<u8>) {
                    (self as u128).write(out);
                }
            }
        )*};
    }
    signed!(i8, i16, i32, i64);
    unsigned!(u8, u16, u32, u64);

    impl Integer for u128 {
        fn write(self, out: &mut Vec<u8>) {
            let mut buf = [0u8; 40];
            let mut i = buf.len();
            let mut v = self;
            loop {
                i -= 1;
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            out.extend_from_slice(&buf[i..]);
        }
    }

    impl Integer for i128 {
        fn write(self, out: &mut Vec<u8>) {
            if self < 0 {
                out.push(b'-');
            }
            self.unsigned_abs().write(out);
        }
    }
}

/// A JSON array or object being written.
pub struct Compound<'a, 'b> {
    w: &'b mut Writer<'a>,
    first: bool,
}

impl Compound<'_, '_> {
    fn comma(&mut self) {
        if !self.first {
            self.w.out.push(b',');
        }
        self.first = false;
    }
}

impl<'a, 'b> ser::Serializer for &'b mut Writer<'a> {
    type Ok = ();
    type Error = JsonError;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    fn serialize_bool(self, v: bool) -> Result<(), JsonError> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), JsonError> {
        self.integer(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), JsonError> {
        self.integer(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), JsonError> {
        self.integer(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), JsonError> {
        self.integer(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), JsonError> {
        self.integer(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), JsonError> {
        self.integer(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), JsonError> {
        self.integer(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), JsonError> {
        self.integer(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), JsonError> {
        self.integer(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), JsonError> {
        self.integer(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), JsonError> {
        Ok(serde_json::to_writer(&mut *self.out, &v)?)
    }
    fn serialize_f64(self, v: f64) -> Result<(), JsonError> {
        Ok(serde_json::to_writer(&mut *self.out, &v)?)
    }
    fn serialize_char(self, v: char) -> Result<(), JsonError> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), JsonError> {
        self.string(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), JsonError> {
        Ok(serde_json::to_writer(&mut *self.out, v)?)
    }
    fn serialize_none(self) -> Result<(), JsonError> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), JsonError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), JsonError> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), JsonError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), JsonError> {
        self.name(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), JsonError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), JsonError> {
        self.out.push(b'{');
        self.string(variant)?;
        self.out.push(b':');
        v.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a, 'b>, JsonError> {
        self.out.push(b'[');
        Ok(Compound {
            w: self,
            first: true,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>, JsonError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'b>, JsonError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'b>, JsonError> {
        self.out.push(b'{');
        self.string(variant)?;
        self.out.extend_from_slice(b":[");
        Ok(Compound {
            w: self,
            first: true,
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a, 'b>, JsonError> {
        self.out.push(b'{');
        Ok(Compound {
            w: self,
            first: true,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a, 'b>, JsonError> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'b>, JsonError> {
        self.out.push(b'{');
        self.string(variant)?;
        self.out.extend_from_slice(b":{");
        Ok(Compound {
            w: self,
            first: true,
        })
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), JsonError> {
        self.comma();
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), JsonError> {
        self.w.out.push(b']');
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), JsonError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), JsonError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), JsonError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), JsonError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), JsonError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), JsonError> {
        self.w.out.extend_from_slice(b"]}");
        Ok(())
    }
}

/// Writes a map key, which JSON requires to be a string.
struct KeyWriter<'w, 'a>(&'w mut Writer<'a>);

macro_rules! key_not_string {
    ($($f:ident($t:ty)),*) => {$(
        fn $f(self, _: $t) -> Result<(), JsonError> {
            Err(JsonError::KeyNotString)
        }
    )*};
}

impl ser::Serializer for KeyWriter<'_, '_> {
    type Ok = ();
    type Error = JsonError;
    type SerializeSeq = ser::Impossible<(), JsonError>;
    type SerializeTuple = ser::Impossible<(), JsonError>;
    type SerializeTupleStruct = ser::Impossible<(), JsonError>;
    type SerializeTupleVariant = ser::Impossible<(), JsonError>;
    type SerializeMap = ser::Impossible<(), JsonError>;
    type SerializeStruct = ser::Impossible<(), JsonError>;
    type SerializeStructVariant = ser::Impossible<(), JsonError>;

    fn serialize_str(self, v: &str) -> Result<(), JsonError> {
        self.0.string(v)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), JsonError> {
        self.0.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), JsonError> {
        v.serialize(self)
    }
    key_not_string!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_bytes(&[u8])
    );
    fn serialize_none(self) -> Result<(), JsonError> {
        Err(JsonError::KeyNotString)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), JsonError> {
        Err(JsonError::KeyNotString)
    }
    fn serialize_unit(self) -> Result<(), JsonError> {
        Err(JsonError::KeyNotString)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), JsonError> {
        Err(JsonError::KeyNotString)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), JsonError> {
        Err(JsonError::KeyNotString)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, JsonError> {
        Err(JsonError::KeyNotString)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, JsonError> {
        Err(JsonError::KeyNotString)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, JsonError> {
        Err(JsonError::KeyNotString)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, JsonError> {
        Err(JsonError::KeyNotString)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, JsonError> {
        Err(JsonError::KeyNotString)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, JsonError> {
        Err(JsonError::KeyNotString)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, JsonError> {
        Err(JsonError::KeyNotString)
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), JsonError> {
        self.comma();
        k.serialize(KeyWriter(self.w))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), JsonError> {
        self.w.out.push(b':');
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), JsonError> {
        self.w.out.push(b'}');
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), JsonError> {
        self.comma();
        self.w.name(key)?;
        self.w.out.push(b':');
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), JsonError> {
        self.w.out.push(b'}');
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), JsonError> {
        ser::SerializeStruct::serialize_field(self, key, v)
    }
    fn end(self) -> Result<(), JsonError> {
        self.w.out.extend_from_slice(b"}}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    enum E {
        A,
        B(i32),
        C { x: u8 },
        D(i8, i8),
    }

    #[derive(serde::Serialize)]
    struct S {
        a: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        b: Option<i32>,
        c: Vec<String>,
        d: f64,
        e: f64,
        f: bool,
        g: i64,
        h: BTreeMap<String, u8>,
        i: [E; 4],
        j: char,
        k: u64,
    }

    #[test]
    fn escapes_are_found_in_every_lane() {
        for len in 0..20 {
            let plain = "长".repeat(len / 3) + &"a".repeat(len % 3);
            assert!(!needs_escape(&plain), "{plain:?}");
            for at in 0..=plain.len() {
                if !plain.is_char_boundary(at) {
                    continue;
                }
                for c in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
                    let mut s = plain.clone();
                    s.insert(at, c);
                    assert!(needs_escape(&s), "{s:?}");
                }
                let mut s = plain.clone();
                s.insert(at, '\u{7f}');
                assert!(!needs_escape(&s));
            }
        }
    }

    #[test]
    fn bytes_equal_serde_json() {
        let s = S {
            a: Some("海淀区 \"quoted\" \\ \n\t\u{1} é".into()),
            b: None,
            c: vec!["加装电梯".into(), String::new()],
            d: 420.0,
            e: -116.339_1,
            f: true,
            g: i64::MIN,
            h: [("k\"".to_owned(), 1), ("z".to_owned(), 2)]
                .into_iter()
                .collect(),
            i: [E::A, E::B(-3), E::C { x: 7 }, E::D(1, 2)],
            j: '\n',
            k: u64::MAX,
        };
        let mut out = Vec::new();
        write(&mut out, &s).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&s).unwrap()
        );
    }
}
