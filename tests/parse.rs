//! The small parsers of `src/parse.rs`, each held to the reference (Go) semantics.

use aws_pod_identity_policy::parse::*;

#[test]
fn go_bool_accepts_exactly_the_go_spellings() {
    for (input, expected) in [
        ("1", Some(true)),
        ("t", Some(true)),
        ("T", Some(true)),
        ("TRUE", Some(true)),
        ("true", Some(true)),
        ("True", Some(true)),
        ("0", Some(false)),
        ("f", Some(false)),
        ("F", Some(false)),
        ("FALSE", Some(false)),
        ("false", Some(false)),
        ("False", Some(false)),
        ("yes", None),
        ("tRUE", None),
        (" true", None),
        ("", None),
    ] {
        assert_eq!(go_bool(input), expected, "input {input:?}");
    }
}

#[test]
fn go_int_accepts_an_optional_sign_and_digits_only() {
    for (input, expected) in [
        ("3600", Some(3600)),
        ("+3600", Some(3600)),
        ("-5", Some(-5)),
        ("007", Some(7)),
        ("", None),
        ("+", None),
        ("1e3", None),
        ("1.5", None),
        (" 600", None),
        ("600s", None),
        ("99999999999999999999", None),
    ] {
        assert_eq!(go_int(input), expected, "input {input:?}");
    }
}

#[test]
fn container_lists_are_read_as_go_encoding_csv_reads_the_first_record() {
    let names = |list: &[&str]| Ok(list.iter().map(|s| (*s).to_owned()).collect());
    for (rule, input, expected) in [
        ("plain fields", "app,side", names(&["app", "side"])),
        (
            "names are trimmed, empty ones dropped",
            " a, b ,,c ,",
            names(&["a", "b", "c"]),
        ),
        (
            "quotes delimit a field and are removed",
            "\"app\"",
            names(&["app"]),
        ),
        (
            "a quoted field may hold commas",
            "\"a,b\",c",
            names(&["a,b", "c"]),
        ),
        (
            "a doubled quote is one quote",
            "\"a\"\"b\",c",
            names(&["a\"b", "c"]),
        ),
        (
            "an empty quoted field is empty",
            "\"\",app",
            names(&["app"]),
        ),
        ("the record ends at a newline", "app\nside", names(&["app"])),
        (
            "CRLF counts as a newline",
            "app,init\r\nside",
            names(&["app", "init"]),
        ),
        (
            "a trailing CR at the end is dropped",
            "app\r",
            names(&["app"]),
        ),
        (
            "a quoted field may span lines",
            "\"a\nb\",c\nd",
            names(&["a\nb", "c"]),
        ),
        (
            "CRLF inside quotes is a newline",
            "\"a\r\nb\"",
            names(&["a\nb"]),
        ),
        (
            "blank lines before the record are skipped",
            "\n\r\n\napp,side",
            names(&["app", "side"]),
        ),
        (
            "a quoted field may end the input",
            "app,\"side\"",
            names(&["app", "side"]),
        ),
        (
            "a quoted field may end the line",
            "\"app\"\nside",
            names(&["app"]),
        ),
        (
            "spaces inside quotes are trimmed afterwards",
            "\" app \"",
            names(&["app"]),
        ),
        ("an empty value is no names", "", names(&[])),
        ("a value of line breaks is no names", "\n\n", names(&[])),
        ("a blank value is no names", "   ", names(&[])),
        (
            "an unbalanced quote is an error",
            "app,\"side",
            Err(BAD_QUOTE.to_owned()),
        ),
        (
            "text after a closing quote is an error",
            "\"app\"x,side",
            Err(BAD_QUOTE.to_owned()),
        ),
        (
            "a space before a closing quote's comma is an error",
            "\"app\" ,side",
            Err(BAD_QUOTE.to_owned()),
        ),
        (
            "a quote inside an unquoted field is an error",
            "ap\"p",
            Err(BARE_QUOTE.to_owned()),
        ),
        (
            "a space before an opening quote makes it bare",
            "app, \"side\"",
            Err(BARE_QUOTE.to_owned()),
        ),
        (
            "errors on later lines do not matter",
            "app\n\"side",
            names(&["app"]),
        ),
    ] {
        assert_eq!(csv_names(input), expected, "{rule}: {input:?}");
    }
}

#[test]
fn role_arn_check_follows_the_reference_pattern() {
    for (arn, ok) in [
        ("arn:aws:iam::111122223333:role/app", true),
        ("arn:aws-cn:iam::111122223333:role/path/to/app", true),
        (
            "arn:aws-us-gov:iam::111122223333:role/a_b+c=d,e.f@g-h",
            true,
        ),
        ("arn:aws:iam::11112222333:role/app", false),
        ("arn:aws:iam::111122223333:user/app", false),
        ("arn:aws:iam::111122223333:role/", false),
        ("arn:aws:iam::111122223333:role/app name", false),
        ("arn:aws:iam::111122223333:role/äpp", false),
        ("arn:AWS:iam::111122223333:role/app", false),
        ("not-an-arn", false),
    ] {
        assert_eq!(looks_like_role_arn(arn), ok, "arn {arn:?}");
    }
}

#[test]
fn join_path_cleans_like_go_filepath_join() {
    for (dir, file, expected) in [
        (
            "/var/run/secrets/eks.amazonaws.com/serviceaccount",
            "token",
            "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        ),
        ("/var/run/x/", "token", "/var/run/x/token"),
        ("/var/run/x", "/token/", "/var/run/x/token"),
        ("/var//run/./x", "a/../token", "/var/run/x/token"),
        ("/", "token", "/token"),
        ("/a", "../../token", "/token"),
        ("/a/.hidden", "token", "/a/.hidden/token"),
        ("/a/..", "token", "/token"),
        ("/a/.", "token", "/a/token"),
        ("/a", "..", "/"),
        ("/a", ".", "/a"),
        ("/a", "", "/a"),
    ] {
        assert_eq!(join_path(dir, file), expected, "join {dir:?} {file:?}");
    }
}

#[test]
fn windows_path_prefixes_the_drive_and_flips_separators() {
    assert_eq!(
        windows_path("/var/run/secrets/eks.amazonaws.com/serviceaccount/token"),
        r"C:\var\run\secrets\eks.amazonaws.com\serviceaccount\token"
    );
}

#[test]
fn dns_subdomain_check_matches_kubernetes_rules() {
    for (s, ok) in [
        ("eks.amazonaws.com", true),
        ("example.com", true),
        ("a-b.c1", true),
        ("", false),
        ("Eks.amazonaws.com", false),
        ("-eks.com", false),
        ("eks..com", false),
        ("eks.com/", false),
        ("eks_com", false),
    ] {
        assert_eq!(is_dns_subdomain(s), ok, "prefix {s:?}");
    }
}

#[test]
fn http_url_check_accepts_hosts_ports_and_bracketed_ipv6() {
    for (s, ok) in [
        ("http://169.254.170.23/v1/credentials", true),
        ("http://[fd00:ec2::23]/v1/credentials", true),
        ("https://agent.local:8080/creds", true),
        ("http://[fd00:ec2::23]:80/v1", true),
        ("ftp://host/x", false),
        ("http://", false),
        ("http:///path", false),
        ("http://[fd00:ec2::23/v1", false),
        ("http://host:port/x", false),
        ("http://host /x", false),
        ("169.254.170.23/v1/credentials", false),
    ] {
        assert_eq!(is_http_url(s), ok, "url {s:?}");
    }
}

#[test]
fn glob_match_treats_star_as_any_run_of_characters() {
    for (pattern, text, ok) in [
        (
            "arn:aws:iam::111122223333:role/*",
            "arn:aws:iam::111122223333:role/app",
            true,
        ),
        (
            "arn:aws:iam::111122223333:role/*",
            "arn:aws:iam::999999999999:role/app",
            false,
        ),
        (
            "arn:aws:iam::*:role/team-a-*",
            "arn:aws:iam::111122223333:role/team-a-x",
            true,
        ),
        (
            "arn:aws:iam::*:role/team-a-*",
            "arn:aws:iam::111122223333:role/team-b-x",
            false,
        ),
        ("*", "", true),
        ("exact", "exact", true),
        ("exact", "exactly", false),
        ("a*b*a", "aba", true),
        ("a*a", "a", false),
        ("*-prod", "app-prod", true),
    ] {
        assert_eq!(glob_match(pattern, text), ok, "{pattern:?} vs {text:?}");
    }
}

#[test]
fn stable_hash_is_fnv1a() {
    assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
}
