//! OpenSSH's wildcard patterns (`match_pattern`, `match_pattern_list` in OpenSSH's
//! match.c), used for principals and `namespaces=` in allowed-signers files.
//!
//! Invariants: `*` matches any run of bytes, `?` any one byte, everything else
//! itself (case-sensitive, as OpenSSH calls it here); a list is comma-separated, a
//! `!` before a pattern negates it and a negated match wins over any positive one.
//! Matching is O(len(text) × len(pattern)) time at worst and allocates nothing:
//! no input backtracks exponentially (principals are capped by the caller).

/// Whether `text` matches one wildcard `pattern`: greedy, resuming after the last
/// `*` on a mismatch, which is exact for `*`/`?` globs and never worse than
/// O(len(text) × len(pattern)).
pub fn matches(text: &str, pattern: &str) -> bool {
    let (t, p) = (text.as_bytes(), pattern.as_bytes());
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == t[ti] => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The outcome of matching a comma-separated pattern list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// Some positive pattern matched and no negated one did.
    Yes,
    /// Nothing matched.
    No,
    /// A negated pattern (`!pattern`) matched.
    Negated,
}

/// Matches `text` against a comma-separated list of patterns, as OpenSSH does.
pub fn matches_list(text: &str, list: &str) -> ListMatch {
    let mut positive = false;
    for sub in list.split(',') {
        let (negated, pattern) = match sub.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, sub),
        };
        // OpenSSH copies each sub-pattern into a 1 KiB buffer and treats a longer
        // one as "no match" for the whole list.
        if pattern.len() >= 1023 {
            return ListMatch::No;
        }
        if matches(text, pattern) {
            if negated {
                return ListMatch::Negated;
            }
            positive = true;
        }
    }
    if positive {
        ListMatch::Yes
    } else {
        ListMatch::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_openssh_does() {
        assert!(matches("alice@example.com", "*@example.com"));
        assert!(matches("alice@example.com", "alice@example.co?"));
        assert!(!matches("alice@example.org", "*@example.com"));
        assert!(matches("", "*"));
        assert!(matches("", ""));
        assert!(!matches("a", ""));
        assert!(matches("abc", "a*c"));
        assert!(!matches("Alice", "alice"));
        assert!(matches("a*b", "a*b"));
    }

    #[test]
    fn lists_and_negation() {
        assert_eq!(matches_list("git-seal", "git,git-seal"), ListMatch::Yes);
        assert_eq!(matches_list("git-seal", "git"), ListMatch::No);
        assert_eq!(matches_list("git-seal", "*,!git-seal"), ListMatch::Negated);
        assert_eq!(
            matches_list("x@evil.com", "*@*,!*@evil.com"),
            ListMatch::Negated
        );
        assert_eq!(
            matches_list("x@good.com", "*@*,!*@evil.com"),
            ListMatch::Yes
        );
    }

    #[test]
    fn hostile_patterns_stay_linear() {
        let text = "a".repeat(super::super::MAX_PRINCIPAL_BYTES);
        let pattern = format!("{}b", "*a".repeat(511));
        let t = std::time::Instant::now();
        assert!(!matches(&text, &pattern));
        assert!(t.elapsed().as_secs() < 2, "took {:?}", t.elapsed());
    }
}
