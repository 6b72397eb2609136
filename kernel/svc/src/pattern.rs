//! Topic patterns: `/`-separated levels, `*` matches one level, `#` (last
//! only) matches the rest, including nothing (`logs/#` matches `logs`).

/// Whether `pattern` is well-formed: no empty levels, `#` only last, and
/// wildcards only as whole levels.
pub fn valid(pattern: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    let levels: alloc::vec::Vec<&str> = pattern.split('/').collect();
    levels.iter().enumerate().all(|(i, l)| {
        !l.is_empty()
            && (*l == "*" || *l == "#" || !l.contains(['*', '#']))
            && (*l != "#" || i == levels.len() - 1)
    })
}

/// Whether `topic` (no wildcards) is well-formed.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.split('/').all(|l| !l.is_empty() && !l.contains(['*', '#']))
}

/// Whether `topic` matches `pattern`.
pub fn matches(pattern: &str, topic: &str) -> bool {
    let mut p = pattern.split('/');
    let mut t = topic.split('/');
    loop {
        match (p.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every topic `inner` matches is matched by `outer` too: a
/// subscription is allowed when the grant's pattern covers it.
pub fn covers(outer: &str, inner: &str) -> bool {
    let mut o = outer.split('/');
    let mut i = inner.split('/');
    loop {
        match (o.next(), i.next()) {
            (Some("#"), _) => return true,
            (_, Some("#")) => return false,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}
