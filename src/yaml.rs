//! The one YAML codec for every document git-seal keeps in a ledger (seals, tag seals,
//! rollback records): serde-saphyr, chosen on measured behaviour (`cargo bench --bench
//! yaml`): on hostile 1 MiB inputs it stays linear and refuses within budget, where the
//! libyaml ports (serde_norway, yaml_serde) take seconds to minutes on deep nesting and
//! long simple keys.
//!
//! Invariants:
//! - Reading is YAML 1.2 (booleans only `true`/`false`), as seals were always written
//!   and read, so a seal stored by an earlier git-seal reads to the same value and
//!   digest.
//! - Every read runs under [`budget`]: a document deeper, longer or with more aliases
//!   than any seal has is refused, never expanded. Callers cap the byte size first
//!   ([`crate::limits`]); the budget bounds what fits under that cap.
//! - Writing never fails for the plain structs it is given, and writes YAML 1.2 byte
//!   for byte as seals were written before the parser changed (times unquoted, which
//!   is why `scripts/seal-digest.py` reads with YAML 1.2 resolvers); every string a
//!   YAML 1.2 reader would take for another type is quoted.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// What a ledger document may hold at most: far above any real seal (depth 3, no
/// aliases, about 40 nodes and 90 events), and low enough that a hostile document is
/// refused after a few thousand events, whatever its size.
fn budget() -> serde_saphyr::Budget {
    let mut b = serde_saphyr::Budget::default();
    b.max_depth = 16;
    b.max_events = 10_000;
    b.max_nodes = 5_000;
    b.max_aliases = 0;
    b.max_anchors = 0;
    b.max_documents = 1;
    b
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: Some(budget()),
        strict_booleans: true,
    }
}

/// Reads one YAML document into `T`, under the budget; the error is one line.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| one_line(&e.to_string()))
}

/// Reads bytes as UTF-8 YAML (lossily: a ledger document is UTF-8, and the parser then
/// reports what is wrong with one that is not).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    from_str(&String::from_utf8_lossy(bytes))
}

/// The YAML form of `value`, in the layout seals have always had: block mappings,
/// two-space indent, `[]` for empty lists, no folding of long lines.
pub fn to_string<T: Serialize>(value: &T) -> String {
    let opts = serde_saphyr::ser_options! {
        prefer_block_scalars: false,
        yaml_12: true,
        no_lang_directive: true,
    };
    // Serializing plain strings, numbers and lists cannot fail.
    serde_saphyr::to_string_with_options(value, opts).unwrap_or_default()
}

/// The first line of a parser message (serde-saphyr renders a snippet below it).
fn one_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn deep_nesting_is_refused_not_recursed() {
        let hostile = "[".repeat(1 << 20);
        let err = from_str::<Value>(&hostile).unwrap_err();
        assert!(!err.is_empty());
    }

    #[test]
    fn aliases_are_refused() {
        let err = from_str::<Value>("a: &a [1]\nb: *a\n").unwrap_err();
        assert!(!err.is_empty());
    }

    #[test]
    fn yes_stays_a_string_as_before() {
        let v: Value = from_str("name: yes\nn: 1\n").unwrap();
        assert_eq!(v, serde_json::json!({"name": "yes", "n": 1}));
    }

    #[test]
    fn layout_is_the_one_seals_always_had() {
        let v = serde_json::json!({"schema": "git-seal/seal/v1", "parents": [],
            "author": {"name": "Ä Üser", "time": "2026-12-01T20:17:16+00:00"},
            "tool": {"version": "0.1.0"}, "files": 1, "null": null,
            "list": ["0a50d3a55c16d8da59759762e41fb9dc10391d53", "1234567"]});
        assert_eq!(
            to_string(&v),
            "author:\n  name: Ä Üser\n  time: 2026-12-01T20:17:16+00:00\nfiles: 1\n\
             list:\n- 0a50d3a55c16d8da59759762e41fb9dc10391d53\n- \"1234567\"\n\"null\": null\n\
             parents: []\nschema: git-seal/seal/v1\ntool:\n  version: 0.1.0\n"
        );
    }

    #[test]
    fn written_strings_read_back_as_strings() {
        let v = serde_json::json!({"a": "yes", "b": "123", "c": "2026-12-01T20:17:16+00:00",
            "d": "null", "e": "x: y", "f": "é ü", "g": [], "h": "a\nb", "i": "0x1F"});
        let text = to_string(&v);
        let back: Value = from_str(&text).unwrap();
        assert_eq!(back, v, "{text}");
    }
}
