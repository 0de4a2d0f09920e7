//! The small parsers with the reference's (Go's) semantics: boolean spellings, signed base-10
//! integers, `encoding/csv` container lists, the role-ARN check and the token-file path join.

/// Go's `strconv.ParseBool`: the EKS webhook parses `sts-regional-endpoints` with it.
pub fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign, then ASCII digits only.
pub fn go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The names in a container-list annotation (`skip-containers`, `include-containers`), read as the
/// EKS webhook reads them: the first record of Go's `encoding/csv` reader with default options.
/// Each field is then trimmed of spaces and empty fields are dropped. An empty or blank value is no
/// names; a value Go cannot parse is an error naming the problem.
pub fn csv_names(s: &str) -> Result<Vec<String>, String> {
    let record = csv_first_record(s)?;
    Ok(record
        .iter()
        .map(|field| field.trim_matches(' '))
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect())
}

pub const BARE_QUOTE: &str = "bare \" in non-quoted field";
pub const BAD_QUOTE: &str = "extraneous or missing \" in quoted field";

/// Go's `csv.Reader.Read` (comma `,`, no lazy quotes, no comment character, no leading-space
/// trimming) on the first record of `s`. `\r\n` counts as `\n`; lines that are only a line break
/// are skipped; a quoted field may hold commas, line breaks and doubled quotes. No record at all is
/// `[]`.
fn csv_first_record(s: &str) -> Result<Vec<String>, String> {
    // Go turns every line's `\r\n` into `\n`, and drops a `\r` that ends the input.
    let text = s.replace("\r\n", "\n");
    let text = text.strip_suffix('\r').unwrap_or(&text);
    // Go's `readLine`: each line keeps its `\n`; the last may have none.
    let mut lines = text.split_inclusive('\n');
    let Some(mut line) = lines.by_ref().find(|line| *line != "\n") else {
        return Ok(Vec::new());
    };
    let mut fields = Vec::new();
    loop {
        if !line.starts_with('"') {
            // An unquoted field runs to the next comma or the end of the line.
            let (field, rest) = match line.find(',') {
                Some(i) => (&line[..i], Some(&line[i + 1..])),
                None => (line.strip_suffix('\n').unwrap_or(line), None),
            };
            if field.contains('"') {
                return Err(BARE_QUOTE.to_owned());
            }
            fields.push(field.to_owned());
            match rest {
                Some(rest) => line = rest,
                None => return Ok(fields),
            }
            continue;
        }
        let mut field = String::new();
        line = &line[1..];
        loop {
            if let Some(i) = line.find('"') {
                field.push_str(&line[..i]);
                line = &line[i + 1..];
                if let Some(rest) = line.strip_prefix('"') {
                    field.push('"');
                    line = rest;
                } else if let Some(rest) = line.strip_prefix(',') {
                    fields.push(field);
                    line = rest;
                    break;
                } else if line.is_empty() || line == "\n" {
                    fields.push(field);
                    return Ok(fields);
                } else {
                    return Err(BAD_QUOTE.to_owned());
                }
            } else if !line.is_empty() {
                // The quoted field goes on past the end of the line.
                field.push_str(line);
                line = lines.next().unwrap_or("");
            } else {
                return Err(BAD_QUOTE.to_owned());
            }
        }
    }
}

/// Whether STS takes `name` as a `RoleSessionName`: 2 to 64 characters of `[\w+=,.@-]` (ASCII).
pub fn is_role_session_name(name: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b);
    (2..=64).contains(&name.len()) && name.bytes().all(allowed)
}

/// `^arn:aws[a-z0-9-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$`, written by hand so the module
/// carries no regex engine.
pub fn looks_like_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((partition_tail, rest)) = rest.split_once(":iam::") else {
        return false;
    };
    let partition_ok = partition_tail
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let Some((account, role)) = rest.split_once(":role/") else {
        return false;
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let role_ok = !role.is_empty()
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@/-".contains(&b));
    partition_ok && account_ok && role_ok
}

/// Go's `filepath.Join(dir, file)` on a Unix path: joined, then cleaned (no `//`, no `.` or `..`
/// segments, no trailing `/`).
pub fn join_path(dir: &str, file: &str) -> String {
    // The usual case, an absolute directory none of whose segments is empty or starts with a dot,
    // and a plain file name, is already its own cleaned form.
    let clean_dir = dir.starts_with('/')
        && !dir.ends_with('/')
        && (dir.as_bytes().windows(2)).all(|w| w[0] != b'/' || !matches!(w[1], b'/' | b'.'));
    if clean_dir && !matches!(file, "" | "." | "..") && !file.contains('/') {
        return [dir, "/", file].concat();
    }
    let rooted = dir.starts_with('/') || (dir.is_empty() && file.starts_with('/'));
    let mut parts: Vec<&str> = Vec::new();
    for segment in dir.split('/').chain(file.split('/')) {
        match segment {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// The Windows form of a token file: `C:` then the path with `\` separators.
pub fn windows_path(path: &str) -> String {
    format!("C:{}", path.replace('/', "\\"))
}

/// A DNS-1123 subdomain, the only valid prefix of an annotation key.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && label.len() <= 63
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        })
}

/// An `http://` or `https://` URL with a non-empty host (an IPv6 literal in brackets is fine) and,
/// if any, a numeric port.
pub fn is_http_url(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let ipv6 = |ip: &str| {
        ip.bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    };
    let (host, port) = match authority.strip_prefix('[').map(|b| b.split_once(']')) {
        Some(Some((ip, port))) if ipv6(ip) => (ip, port),
        Some(_) => return false,
        None => authority
            .rfind(':')
            .map_or((authority, ""), |i| authority.split_at(i)),
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        });
    !host.is_empty() && !host.contains('@') && port_ok && !s.contains(char::is_whitespace)
}

/// Whether a URL that [`is_http_url`] takes names its host as an IPv6 literal (`http://[...]`).
pub fn has_ipv6_host(url: &str) -> bool {
    is_http_url(url) && (url.starts_with("http://[") || url.starts_with("https://["))
}

/// Shell-style match where `*` stands for any run of characters (even empty) and every other
/// character for itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// FNV-1a, 64 bits: a stable hash that needs no dependency and no random seed.
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
