//! The webhook's command line, read as its `main.go` reads it: spf13/pflag over the flags of
//! amazon-eks-pod-identity-webhook v0.6.17 plus klog's (added through `PFlagFromGoFlag`, so `v`,
//! the only one-letter name, is also the shorthand `-v`). Each value is checked with the Go parser
//! its flag uses, so a value the webhook would refuse at start is refused here too.

use std::collections::BTreeMap;

/// How a flag's value is parsed (the Go type behind it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// `strconv.ParseBool`; `--flag` alone is `true`.
    Bool,
    /// pflag `Int`/`Int64`: `strconv.ParseInt(s, 0, 64)`.
    Int,
    /// Go flag `Uint64`: `strconv.ParseUint(s, 0, 64)`.
    Uint,
    Str,
    /// `time.ParseDuration`.
    Duration,
    /// klog's `Level`: `strconv.ParseInt(s, 10, 32)`.
    Level,
    /// klog's severity: a name (`INFO` …) or `strconv.ParseInt(s, 10, 32)`.
    Severity,
    /// klog's `-vmodule`: `pattern=N,…`.
    Vmodule,
    /// klog's `-log_backtrace_at`: empty or `file.go:N`.
    Trace,
}

/// What becomes of a flag in the policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fate {
    /// Carried to the setting of this name (see `convert`).
    Setting,
    /// Not carried: why, and what to do instead.
    Dropped(&'static str),
}

pub struct Flag {
    pub name: &'static str,
    pub kind: Kind,
    pub fate: Fate,
}

const SERVER: Fate = Fate::Dropped(
    "the webhook's own server; policy-server serves the policy, its ports and TLS are managed by the Kubewarden controller and Helm chart (no certificate to provide or rotate)",
);
const CLIENT: Fate = Fate::Dropped(
    "how the webhook reaches the API server; policy-server reads ServiceAccounts with its own ServiceAccount (the RBAC below)",
);
const KLOG: Fate = Fate::Dropped(
    "the webhook's logging (klog); policy-server's log level is set in its Helm chart (logLevel)",
);

/// Every flag of the webhook v0.6.17 (main.go, then klog v2.140.0's `InitFlags`).
#[rustfmt::skip]
pub const FLAGS: &[Flag] = &[
    Flag { name: "port", kind: Kind::Int, fate: SERVER },
    Flag { name: "metrics-port", kind: Kind::Int, fate: Fate::Dropped("the webhook's metrics server; policy-server exports its own metrics (OpenTelemetry, see the Kubewarden Helm chart)") },
    Flag { name: "kubeconfig", kind: Kind::Str, fate: CLIENT },
    Flag { name: "kube-api", kind: Kind::Str, fate: CLIENT },
    Flag { name: "tls-key", kind: Kind::Str, fate: SERVER },
    Flag { name: "tls-cert", kind: Kind::Str, fate: SERVER },
    Flag { name: "tls-cipher-suites", kind: Kind::Str, fate: SERVER },
    Flag { name: "tls-min-version", kind: Kind::Str, fate: SERVER },
    Flag { name: "in-cluster", kind: Kind::Bool, fate: SERVER },
    Flag { name: "service-name", kind: Kind::Str, fate: SERVER },
    Flag { name: "namespace", kind: Kind::Str, fate: Fate::Dropped("where the webhook keeps its certificate and ConfigMap; used here only to pick the ConfigMap it reads") },
    Flag { name: "tls-secret", kind: Kind::Str, fate: SERVER },
    Flag { name: "annotation-prefix", kind: Kind::Str, fate: Fate::Setting },
    Flag { name: "token-audience", kind: Kind::Str, fate: Fate::Setting },
    Flag { name: "token-mount-path", kind: Kind::Str, fate: Fate::Setting },
    Flag { name: "token-expiration", kind: Kind::Int, fate: Fate::Setting },
    Flag { name: "aws-default-region", kind: Kind::Str, fate: Fate::Setting },
    Flag { name: "sts-regional-endpoint", kind: Kind::Bool, fate: Fate::Setting },
    Flag { name: "watch-config-map", kind: Kind::Bool, fate: Fate::Setting },
    Flag { name: "compose-role-arn", kind: Kind::Bool, fate: Fate::Dropped("the policy takes the role-arn annotation verbatim (a bare role name is injected as is, with an invalid-ARN warning): annotate ServiceAccounts with full ARNs, arn:<partition>:iam::<account>:role/<name>") },
    Flag { name: "watch-container-credentials-config", kind: Kind::Str, fate: Fate::Setting },
    Flag { name: "container-credentials-audience", kind: Kind::Str, fate: Fate::Setting },
    Flag { name: "container-credentials-token-mount-path", kind: Kind::Str, fate: Fate::Setting },
    Flag { name: "container-credentials-token-volume-name", kind: Kind::Str, fate: Fate::Setting },
    Flag { name: "container-credentials-token-path", kind: Kind::Str, fate: Fate::Setting },
    Flag { name: "container-credentials-full-uri", kind: Kind::Str, fate: Fate::Setting },
    Flag { name: "version", kind: Kind::Bool, fate: Fate::Dropped("makes the webhook print its version and exit") },
    Flag { name: "enable-debugging-handlers", kind: Kind::Bool, fate: Fate::Dropped("the webhook's cache-debugging endpoints; the policy has no cache to inspect: its audit annotations say why each Pod got what it got (docs/audit.md)") },
    Flag { name: "service-account-lookup-grace-period", kind: Kind::Duration, fate: Fate::Dropped("the policy reads the ServiceAccount at admission and retries a cache miss once, uncached, instead of waiting (docs/differences.md)") },
    Flag { name: "resync-period", kind: Kind::Duration, fate: Fate::Dropped("the policy keeps no informer; policy-server's cache holds an answer up to 5 s (cacheServiceAccounts: false makes every read live)") },
    Flag { name: "log_dir", kind: Kind::Str, fate: KLOG },
    Flag { name: "log_file", kind: Kind::Str, fate: KLOG },
    Flag { name: "log_file_max_size", kind: Kind::Uint, fate: KLOG },
    Flag { name: "logtostderr", kind: Kind::Bool, fate: KLOG },
    Flag { name: "alsologtostderr", kind: Kind::Bool, fate: KLOG },
    Flag { name: "legacy_stderr_threshold_behavior", kind: Kind::Bool, fate: KLOG },
    Flag { name: "v", kind: Kind::Level, fate: KLOG },
    Flag { name: "add_dir_header", kind: Kind::Bool, fate: KLOG },
    Flag { name: "skip_headers", kind: Kind::Bool, fate: KLOG },
    Flag { name: "one_output", kind: Kind::Bool, fate: KLOG },
    Flag { name: "skip_log_headers", kind: Kind::Bool, fate: KLOG },
    Flag { name: "stderrthreshold", kind: Kind::Severity, fate: KLOG },
    Flag { name: "alsologtostderrthreshold", kind: Kind::Severity, fate: KLOG },
    Flag { name: "vmodule", kind: Kind::Vmodule, fate: KLOG },
    Flag { name: "log_backtrace_at", kind: Kind::Trace, fate: KLOG },
];

/// A parsed command line: each flag's last value (pflag keeps the last `Set`), and the
/// arguments that are not flags (the webhook ignores them).
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub values: BTreeMap<&'static str, String>,
    pub positional: Vec<String>,
}

impl Parsed {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A boolean flag's value; `false` when absent (every boolean the converter reads defaults
    /// to false).
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).and_then(parse_bool).unwrap_or(false)
    }
}

fn lookup(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.name == name)
}

/// Parses `args` (without the program name) as pflag's `CommandLine.Parse` does.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            parsed.positional.extend(rest.cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            long_flag(long, arg, &mut rest, &mut parsed)?;
        } else if arg.len() > 1 && arg.starts_with('-') {
            short_flags(&arg[1..], arg, &mut rest, &mut parsed)?;
        } else {
            parsed.positional.push(arg.clone());
        }
    }
    Ok(parsed)
}

fn long_flag<'a>(
    long: &str,
    arg: &str,
    rest: &mut impl Iterator<Item = &'a String>,
    parsed: &mut Parsed,
) -> Result<(), String> {
    if long.is_empty() || long.starts_with(['-', '=']) {
        return Err(format!("bad flag syntax: {arg}"));
    }
    let (name, inline) = match long.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (long, None),
    };
    let Some(flag) = lookup(name) else {
        return Err(unknown(name, &format!("--{name}")));
    };
    let value = match (inline, flag.kind) {
        (Some(value), _) => value.to_owned(),
        (None, Kind::Bool) => "true".to_owned(),
        (None, _) => rest
            .next()
            .cloned()
            .ok_or_else(|| format!("flag needs an argument: --{name}"))?,
    };
    set(flag, &format!("--{name}"), value, parsed)
}

/// `-v4`, `-v=4`, `-v 4`: pflag reads a single dash as shorthands, and only `v` has one.
fn short_flags<'a>(
    shorthands: &str,
    arg: &str,
    rest: &mut impl Iterator<Item = &'a String>,
    parsed: &mut Parsed,
) -> Result<(), String> {
    let mut chars = shorthands.chars();
    let Some(c) = chars.next() else {
        return Err(format!("bad flag syntax: {arg}"));
    };
    if c != 'v' {
        return Err(unknown(&c.to_string(), &format!("'{c}' in {arg}")));
    }
    let after = chars.as_str();
    let value = match after.strip_prefix('=') {
        Some(value) => value.to_owned(),
        None if !after.is_empty() => after.to_owned(),
        None => rest
            .next()
            .cloned()
            .ok_or_else(|| format!("flag needs an argument: 'v' in {arg}"))?,
    };
    let flag = lookup("v").ok_or("the flag table lacks v")?;
    set(flag, arg, value, parsed)
}

/// pflag answers `--help` and `-h` with the usage text and the webhook exits 0: it never serves.
fn unknown(name: &str, shown: &str) -> String {
    if name == "help" || name == "h" {
        format!("{shown} makes the webhook print its usage and exit: remove it")
    } else {
        format!(
            "unknown flag: {shown} (amazon-eks-pod-identity-webhook v0.6.17 has no such flag and would not start)"
        )
    }
}

fn set(flag: &'static Flag, shown: &str, value: String, parsed: &mut Parsed) -> Result<(), String> {
    if !valid(flag.kind, &value) {
        return Err(format!(
            "invalid argument {value:?} for \"{shown}\" flag: the webhook would not start ({})",
            expected(flag.kind)
        ));
    }
    parsed.values.insert(flag.name, value);
    Ok(())
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Bool => "expected one of 1 t T TRUE true True 0 f F FALSE false False",
        Kind::Int => "expected a Go integer such as 600 or 0x258",
        Kind::Uint => "expected a non-negative Go integer",
        Kind::Str => "expected a string",
        Kind::Duration => "expected a Go duration such as 1m30s",
        Kind::Level | Kind::Severity => "expected a base-10 integer or a severity name",
        Kind::Vmodule => "expected pattern=N,…",
        Kind::Trace => "expected file.go:N",
    }
}

fn valid(kind: Kind, value: &str) -> bool {
    match kind {
        Kind::Bool => parse_bool(value).is_some(),
        Kind::Int => parse_int(value).is_some(),
        Kind::Uint => !value.starts_with(['-', '+']) && parse_int(value).is_some(),
        Kind::Str => true,
        Kind::Duration => valid_duration(value),
        Kind::Level => parse_int32(value).is_some(),
        Kind::Severity => {
            ["INFO", "WARNING", "ERROR", "FATAL"].contains(&value.to_uppercase().as_str())
                || parse_int32(value).is_some()
        }
        Kind::Vmodule => value.split(',').filter(|p| !p.is_empty()).all(|pattern| {
            matches!(pattern.split('=').collect::<Vec<_>>()[..],
                [file, level] if !file.is_empty() && parse_int32(level).is_some())
        }),
        Kind::Trace => {
            value.is_empty()
                || matches!(value.split(':').collect::<Vec<_>>()[..],
                    [file, line] if file.contains('.') && parse_int32(line).is_some_and(|n| n > 0))
        }
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `strconv.ParseInt(s, 10, 32)`.
fn parse_int32(value: &str) -> Option<i64> {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value
        .parse::<i64>()
        .ok()
        .filter(|n| i32::try_from(*n).is_ok())
}

/// Go's `strconv.ParseInt(s, 0, 64)`: a sign, then `0x`/`0o`/`0b` or a leading `0` (octal) or
/// decimal digits, with `_` allowed between digits only after a base prefix rule check.
pub fn parse_int(value: &str) -> Option<i64> {
    let (negative, unsigned) = match value.as_bytes().first() {
        Some(b'-') => (true, &value[1..]),
        Some(b'+') => (false, &value[1..]),
        _ => (false, value),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits) = match lower.as_bytes() {
        [b'0', b'x', ..] => (16, &lower[2..]),
        [b'0', b'o', ..] => (8, &lower[2..]),
        [b'0', b'b', ..] => (2, &lower[2..]),
        [b'0', _, ..] => (8, &lower[1..]),
        _ => (10, lower.as_str()),
    };
    if lower.contains('_') && !underscores_ok(&lower) {
        return None;
    }
    let digits = digits.replace('_', "");
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(&digits, radix).ok()?;
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).ok()
}

/// Go's `underscoreOK`: each `_` sits between digits (a base prefix counts as a digit), and a
/// decimal number with a leading `0` and underscores is octal, which Go also accepts.
fn underscores_ok(unsigned: &str) -> bool {
    let bytes = unsigned.as_bytes();
    let (mut saw, mut i, mut hex) = (b'^', 0, false);
    if bytes.len() >= 2 && bytes[0] == b'0' && matches!(bytes[1], b'b' | b'o' | b'x') {
        (saw, i, hex) = (b'0', 2, bytes[1] == b'x');
    }
    for &b in &bytes[i..] {
        if b.is_ascii_digit() || (hex && (b'a'..=b'f').contains(&b)) {
            saw = b'0';
        } else if b == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Go's `time.ParseDuration`: `[-+]?(number unit)+` or `0`, with units ns, us, µs, μs, ms, s, m, h.
fn valid_duration(value: &str) -> bool {
    let unsigned = value.strip_prefix(['-', '+']).unwrap_or(value);
    if unsigned == "0" {
        return true;
    }
    let mut rest = unsigned;
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        let unit_len = rest[number_len..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len() - number_len);
        let unit = &rest[number_len..number_len + unit_len];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return false,
        };
        let digits_only = number.replace('.', "");
        if digits_only.is_empty() || number.matches('.').count() > 1 {
            return false;
        }
        nanos += number.parse::<f64>().unwrap_or(f64::INFINITY) * scale;
        rest = &rest[number_len + unit_len..];
    }
    !unsigned.is_empty() && nanos <= i64::MAX as f64
}
