//! Payloads passed as values: the typed in-memory fast path.
//!
//! On a link inside one process (the in-memory transport), serializing a
//! payload only to deserialize it again is wasted work. A [`Value`] carries
//! the payload itself: primitive scalars inline (no allocation), anything
//! else boxed. The receiver takes it back out by type; if the sender used
//! another (wire-compatible) type, the value is encoded with postcard and
//! decoded as the receiver's type, so the in-memory semantics are exactly
//! those of a byte transport — only faster when the types agree.

use std::any::Any;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::payload::{Payload, PayloadError};

/// A type-erased payload that can still be serialized.
trait Erased: Any + Send {
    fn encode(&self) -> Result<Payload, postcard::Error>;
}

impl<T: Serialize + Send + 'static> Erased for T {
    fn encode(&self) -> Result<Payload, postcard::Error> {
        Payload::encode(self)
    }
}

/// A payload as a value (see the module docs). Built by
/// [`Value::new`]; read with [`Value::take`].
pub struct Value(Repr);

macro_rules! scalars {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        enum Repr {
            Unit,
            $($variant($ty),)*
            Boxed(Box<dyn Erased>),
        }

        impl Value {
            /// Wrap a payload. Scalars (integers up to 64 bits, floats,
            /// `bool`, `char`, `()`) are stored inline; anything else is
            /// boxed.
            #[inline]
            pub fn new<M: Serialize + Send + 'static>(value: M) -> Self {
                let mut slot = Some(value);
                let any: &mut dyn Any = &mut slot;
                if any.is::<Option<()>>() {
                    return Self(Repr::Unit);
                }
                $(
                    if let Some(v) = any.downcast_mut::<Option<$ty>>().and_then(Option::take) {
                        return Self(Repr::$variant(v));
                    }
                )*
                match slot {
                    Some(v) => Self(Repr::Boxed(Box::new(v))),
                    // Unreachable: only a matching downcast takes the value.
                    None => Self(Repr::Unit),
                }
            }

            /// Move the payload out as an `M` if it is one (no encoding).
            #[inline(always)]
            fn downcast<M: 'static>(self) -> Result<M, Self> {
                match self.0 {
                    Repr::Unit => cast::<(), M>(()).map_err(|_| Self(Repr::Unit)),
                    $(Repr::$variant(v) => cast::<$ty, M>(v)
                        .map_err(|v| v.map_or(Self(Repr::Unit), |v| Self(Repr::$variant(v)))),)*
                    Repr::Boxed(b) => {
                        if (*b).type_id() == std::any::TypeId::of::<M>() {
                            let any: Box<dyn Any> = b;
                            any.downcast::<M>().map(|m| *m).map_err(|_| Self(Repr::Unit))
                        } else {
                            Err(Self(Repr::Boxed(b)))
                        }
                    }
                }
            }

            /// The postcard encoding of the payload (what a byte transport
            /// would carry).
            pub fn encode(&self) -> Result<Payload, postcard::Error> {
                match &self.0 {
                    Repr::Unit => Payload::encode(&()),
                    $(Repr::$variant(v) => Payload::encode(v),)*
                    Repr::Boxed(b) => b.encode(),
                }
            }
        }
    };
}

scalars!(
    Bool(bool),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    Usize(usize),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    Isize(isize),
    F32(f32),
    F64(f64),
    Char(char),
);

/// `Ok(v as M)` if `A` is `M`, without allocating; otherwise the value
/// back (`None` cannot happen: only a successful cast empties the slot).
#[inline(always)]
fn cast<A: 'static, M: 'static>(v: A) -> Result<M, Option<A>> {
    let mut slot = Some(v);
    let any: &mut dyn Any = &mut slot;
    if let Some(m) = any.downcast_mut::<Option<M>>().and_then(Option::take) {
        return Ok(m);
    }
    Err(slot)
}

impl Value {
    /// Take the payload as an `M`: moved out when the sender sent an `M`,
    /// otherwise encoded and decoded as an `M` (so wire-compatible types
    /// behave as on a byte transport).
    #[inline(always)]
    pub fn take<M: DeserializeOwned + 'static>(self) -> Result<M, PayloadError> {
        match self.downcast::<M>() {
            Ok(m) => Ok(m),
            Err(v) => v.reencode(),
        }
    }

    #[cold]
    #[inline(never)]
    fn reencode<M: DeserializeOwned>(&self) -> Result<M, PayloadError> {
        self.encode()?.decode()
    }

    /// Decode as `M` through postcard, without moving the value out.
    pub fn decode<M: DeserializeOwned>(&self) -> Result<M, PayloadError> {
        self.reencode()
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Boxed(_) => f.write_str("Value(boxed)"),
            _ => f.write_str("Value(inline)"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn scalars_are_inline_and_other_payloads_boxed() {
        assert!(matches!(Value::new(7u64).0, Repr::U64(7)));
        assert!(matches!(Value::new(()).0, Repr::Unit));
        assert!(matches!(Value::new(String::from("x")).0, Repr::Boxed(_)));
    }

    #[test]
    fn same_type_moves_out_and_other_types_go_through_postcard() {
        assert_eq!(Value::new(7u64).take::<u64>().unwrap(), 7);
        assert_eq!(
            Value::new(vec![1u8, 2]).take::<Vec<u8>>().unwrap(),
            vec![1, 2]
        );
        // u32 and u64 share postcard's varint encoding: accepted, as on a
        // byte transport.
        assert_eq!(Value::new(7u32).take::<u64>().unwrap(), 7);
        assert_eq!(Value::new("hi").take::<String>().unwrap(), "hi");
        // Not decodable as the receiver's type: the same error as bytes.
        assert!(Value::new(300u32).take::<u8>().is_err());
        assert!(Value::new((1u8, 2u8)).take::<u8>().is_err());
        assert!(Value::new(String::from("x")).take::<u64>().is_err());
    }

    #[test]
    fn typed_frames_stay_small() {
        assert!(std::mem::size_of::<Value>() <= 24);
    }
}
