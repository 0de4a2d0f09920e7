//! Reading the `validate` payload in one pass: the envelope (settings, the request's fields and the
//! Pod, through [`pod::read_pod`]) and the host's ServiceAccount answer. Errors name the byte and
//! what was expected there.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Display;
use std::rc::Rc;

use crate::pod::{self, Annotations, Pod, Slot};
use crate::scan::{self, Scanner};
use crate::settings::Settings;

/// The fields of the AdmissionRequest the policy reads, and the Pod as [`pod::read_pod`] read it.
#[derive(Debug, Default)]
pub struct Request<'a> {
    pub uid: Cow<'a, str>,
    pub group: Cow<'a, str>,
    pub version: Cow<'a, str>,
    pub kind: Cow<'a, str>,
    pub operation: Cow<'a, str>,
    pub namespace: Cow<'a, str>,
    pub sub_resource: Cow<'a, str>,
    pub object: Slot<Pod<'a>>,
}

/// The payload in one pass, or what is wrong with it: not UTF-8, not JSON (where, and what was
/// expected), a field of the wrong type or twice, or settings that do not read.
pub fn read_payload(payload: &[u8]) -> Result<(Rc<Settings>, Request<'_>), String> {
    let text = std::str::from_utf8(payload)
        .map_err(|e| format!("not UTF-8 from byte {}", e.valid_up_to()))?;
    let mut s = Scanner::new(text);
    let (mut settings, mut request, mut seen) = (None, None, 0);
    let read = s.object(|s, key| match key.as_deref() {
        Some("settings") => {
            once(s, &mut seen, 1)?;
            settings = Some(s.raw()?);
            Ok(())
        }
        Some("request") => {
            once(s, &mut seen, 2)?;
            request = Some(read_request(s)?);
            Ok(())
        }
        _ => s.skip().map(drop),
    });
    read.and_then(|_| s.end()).map_err(|e| e.to_string())?;
    let request = request.ok_or("the request is missing")?;
    Ok((settings_of(settings.unwrap_or("null"))?, request))
}

/// Marks `field` (a bit) as read: a second one is serde's "duplicate field" error.
fn once(s: &Scanner, seen: &mut u16, field: u16) -> scan::Read<()> {
    if *seen & field != 0 {
        return s.fail("no duplicate field");
    }
    *seen |= field;
    Ok(())
}

/// A string field of the request: serde accepts nothing else for it.
fn string_field<'a>(
    s: &mut Scanner<'a>,
    seen: &mut u16,
    field: u16,
    slot: &mut Cow<'a, str>,
) -> scan::Read<()> {
    once(s, seen, field)?;
    if s.peek()? != b'"' {
        return s.fail("a string");
    }
    match s.string()? {
        Some(text) => *slot = text,
        None => return s.fail("a string with valid escapes"),
    }
    Ok(())
}

fn read_request<'a>(s: &mut Scanner<'a>) -> scan::Read<Request<'a>> {
    // serde reads an absent object as `None`, as it reads `null`.
    let mut request = Request {
        object: Slot::Null(0),
        ..Request::default()
    };
    let mut seen = 0;
    s.object(|s, key| match key.as_deref() {
        Some("uid") => string_field(s, &mut seen, 1, &mut request.uid),
        Some("operation") => string_field(s, &mut seen, 2, &mut request.operation),
        Some("namespace") => string_field(s, &mut seen, 4, &mut request.namespace),
        Some("subResource" | "sub_resource") => {
            string_field(s, &mut seen, 8, &mut request.sub_resource)
        }
        Some("object") => {
            once(s, &mut seen, 16)?;
            request.object = pod::read_pod(s)?;
            Ok(())
        }
        Some("kind") => {
            once(s, &mut seen, 32)?;
            s.object(|s, key| match key.as_deref() {
                Some("group") => string_field(s, &mut seen, 64, &mut request.group),
                Some("version") => string_field(s, &mut seen, 128, &mut request.version),
                Some("kind") => string_field(s, &mut seen, 256, &mut request.kind),
                _ => s.skip().map(drop),
            })
            .map(drop)
        }
        _ => s.skip().map(drop),
    })?;
    Ok(request)
}

/// The settings of the request, read as `validate_settings` reads them. Every request carries them,
/// mostly the same bytes each time: the last ones are kept.
fn settings_of(raw: &str) -> Result<Rc<Settings>, String> {
    thread_local! {
        static LAST: RefCell<Option<(String, Rc<Settings>)>> = const { RefCell::new(None) };
    }
    let known = LAST.with_borrow(|last| {
        last.as_ref()
            .filter(|(text, _)| text == raw)
            .map(|(_, settings)| settings.clone())
    });
    if let Some(settings) = known {
        return Ok(settings);
    }
    let value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    let settings = Rc::new(Settings::from_json(&value)?);
    LAST.set(Some((raw.to_owned(), settings.clone())));
    Ok(settings)
}

/// The ServiceAccount's annotations under `prefix`, read in one pass by the Pod's reader, which
/// reads `kind` and `metadata` of any object.
pub fn service_account_annotations(raw: &[u8], prefix: &str) -> Result<Annotations, String> {
    let not_one = |e: &dyn Display| format!("the host's answer is not a ServiceAccount ({e})");
    let text = std::str::from_utf8(raw).map_err(|e| not_one(&e))?;
    let mut s = Scanner::new(text);
    let read = pod::read_pod(&mut s).and_then(|object| s.end().map(|_| object));
    let object = match read.map_err(|e| not_one(&e))? {
        Slot::Found(object) => object,
        Slot::Wrong(kind) => return Err(not_one(&format_args!("it is {kind}"))),
        _ => return Err(not_one(&"it is null")),
    };
    if let Slot::Found(Some(kind)) = &object.kind
        && kind != "ServiceAccount"
    {
        return Err(format!(
            "the host answered with a {kind}, not a ServiceAccount"
        ));
    }
    pod::ours(&object, prefix).map_err(|e| not_one(&e.0))
}
