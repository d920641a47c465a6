//! Quoting what came from elsewhere before it reaches a terminal or a hint.
//!
//! Invariants: every file name, ref name or ledger field that git-seal prints goes
//! through [`c_style`] (git's own `core.quotePath` quoting, so a name can neither
//! forge nor erase a line), and every value pasted into a hint's command goes
//! through [`shell`], so pasting the hint runs exactly the command shown. Every
//! `git seal …` command a hint names is rendered by [`git_seal`], which adds the
//! `--repo PATH` git-seal was given (set once, by the CLI, through [`set_repo_flag`]),
//! so the hint pasted where the user ran git-seal acts on the same repository.

static REPO_FLAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Records the `--repo PATH` (absolute) this process was given, for [`git_seal`].
/// Called only by the CLI, once, when it enters PATH.
pub fn set_repo_flag(path: &str) {
    let _ = REPO_FLAG.set(format!(" --repo {}", shell(path)));
}

/// `git seal ARGS` as a hint names it: with `--repo PATH` when git-seal was run
/// with it. `args` is already quoted for the shell.
pub fn git_seal(args: &str) -> String {
    let repo = REPO_FLAG.get().map(String::as_str).unwrap_or_default();
    format!("git seal{repo} {args}")
}

/// `s` as one word for a POSIX shell: bare when it is made of characters no shell
/// treats specially, else in single quotes; with control characters (which would
/// also reach the terminal raw), in bash's `$'…'` with each one escaped.
pub fn shell(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./-+=:@%,".contains(c);
    if !s.is_empty() && !s.starts_with('-') && s.chars().all(plain) {
        return s.to_string();
    }
    if !s.chars().any(char::is_control) {
        return format!("'{}'", s.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str(r"\'"),
            '\\' => out.push_str(r"\\"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `bytes` quoted as git quotes paths: unchanged when every byte is printable
/// ASCII other than `"` and `\`, else in double quotes with C escapes and octal for
/// every other byte (non-ASCII included, as with git's default `core.quotePath`).
pub fn c_style(bytes: &[u8]) -> String {
    let plain = bytes
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    if plain {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

/// `s` with every control character (C0, DEL, C1: what moves a terminal's cursor or
/// erases a line) written as a `\u{..}` escape; printable text, non-ASCII included,
/// is kept. For free text from elsewhere: commit subjects, fields of a seal.
pub fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_a_shell() {
        assert_eq!(shell("main"), "main");
        assert_eq!(shell("a b"), "'a b'");
        assert_eq!(shell("x;rm -rf ~"), "'x;rm -rf ~'");
        assert_eq!(shell("-x"), "'-x'");
        assert_eq!(shell("a\nb'"), r"$'a\x0ab\''");
        assert_eq!(shell("it's"), r"'it'\''s'");
        assert_eq!(shell(""), "''");
    }

    #[test]
    fn c_style_matches_git() {
        assert_eq!(c_style(b"plain/name.txt"), "plain/name.txt");
        assert_eq!(c_style(b"a\nb"), "\"a\\nb\"");
        assert_eq!(c_style("é".as_bytes()), "\"\\303\\251\"");
        assert_eq!(c_style(b"\x1b[2K"), "\"\\033[2K\"");
    }

    #[test]
    fn printable_escapes_only_control_characters() {
        assert_eq!(printable("café ok"), "café ok");
        assert_eq!(printable("a\x1b[2Kb\n"), "a\\u{1b}[2Kb\\u{a}");
    }
}
