//! ndctl's JSON output (json-c) read with serde_json, and the accessors the Linux tests
//! use. Integers stay exact (serde_json keeps 64-bit integers apart from floats: ndctl
//! prints cookies such as 52512795602891997, which a double would round), and objects
//! keep document order (the `preserve_order` feature).

pub(crate) use serde_json::Value as Json;

/// Parses a whole document; ndctl prints nothing at all for an empty list, which reads
/// as an empty array.
pub(crate) fn parse(text: &str) -> Result<Json, String> {
    if text.trim().is_empty() {
        return Ok(Json::Array(Vec::new()));
    }
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Members and elements that must be there, with a message naming what is missing.
pub(crate) trait Members {
    /// The member `key`, which must exist.
    fn at(&self, key: &str) -> &Json;
    /// The unsigned integer member `key`.
    fn u64(&self, key: &str) -> u64;
    /// The string member `key`.
    fn str(&self, key: &str) -> &str;
    /// The elements of an array (an object or scalar is an error).
    fn items(&self) -> &[Json];
}

impl Members for Json {
    fn at(&self, key: &str) -> &Json {
        self.get(key)
            .unwrap_or_else(|| panic!("no member {key:?} in {self:?}"))
    }

    fn u64(&self, key: &str) -> u64 {
        let v = self.at(key);
        v.as_u64()
            .unwrap_or_else(|| panic!("{key}: not an unsigned integer: {v:?}"))
    }

    fn str(&self, key: &str) -> &str {
        let v = self.at(key);
        v.as_str()
            .unwrap_or_else(|| panic!("{key}: not a string: {v:?}"))
    }

    fn items(&self) -> &[Json] {
        self.as_array()
            .map_or_else(|| panic!("not an array: {self:?}"), Vec::as_slice)
    }
}
