//! Not a test: the measurement behind the reader decision (docs/performance.md). A serde reader of the Pod's skeleton — derived borrowed
//! structs, `&RawValue` where a byte position is needed, each span read again
//! for what is inside it — against the one-pass reader (`scan.rs`) and the
//! whole decision, on the three benchmark Pods. Run it optimised:
//!   make bench-reader
//! No threshold: it prints medians, nothing asserts a time.

use std::borrow::Cow;
use std::time::Instant;

use aws_pod_identity_policy::{admission, pod, scan};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A field kept as its text (`null` included), for its byte position.
#[derive(Default, Clone, Copy)]
struct Field<'a>(Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(|raw| Field(Some(raw)))
    }
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    settings: Option<&'a RawValue>,
    #[serde(borrow)]
    request: Request<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Request<'a> {
    #[serde(borrow)]
    uid: Cow<'a, str>,
    #[serde(borrow)]
    operation: Cow<'a, str>,
    #[serde(borrow)]
    namespace: Cow<'a, str>,
    #[serde(borrow)]
    object: Field<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodFields<'a> {
    #[serde(borrow)]
    kind: Field<'a>,
    #[serde(borrow)]
    metadata: Field<'a>,
    #[serde(borrow)]
    spec: Field<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata<'a> {
    #[serde(borrow)]
    namespace: Field<'a>,
    #[serde(borrow)]
    labels: Field<'a>,
    #[serde(borrow)]
    annotations: Field<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Spec<'a> {
    #[serde(borrow)]
    service_account_name: Field<'a>,
    #[serde(borrow)]
    node_selector: Field<'a>,
    #[serde(borrow)]
    init_containers: Field<'a>,
    #[serde(borrow)]
    containers: Field<'a>,
    #[serde(borrow)]
    volumes: Field<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Container<'a> {
    #[serde(borrow)]
    name: Field<'a>,
    #[serde(borrow)]
    env: Field<'a>,
    #[serde(borrow)]
    volume_mounts: Field<'a>,
}

/// `name`, `value` and `mountPath` of a list item of any kind.
#[derive(Default)]
struct Named<'a>([Option<&'a RawValue>; 3]);

impl<'de: 'a, 'a> Deserialize<'de> for Named<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items;
        impl<'de> Visitor<'de> for Items {
            type Value = Named<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list item")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Named<'de>, M::Error> {
                let mut named = Named::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let index = match key.as_ref() {
                        "name" => 0,
                        "value" => 1,
                        "mountPath" => 2,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    named.0[index] = Some(map.next_value()?);
                }
                Ok(named)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Named<'de>, E> {
                Ok(Named::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Named<'de>, E> {
                Ok(Named::default())
            }
        }
        d.deserialize_any(Items)
    }
}

fn text<'a>(field: Field<'a>) -> Option<Cow<'a, str>> {
    let raw = field.0.filter(|raw| raw.get().starts_with('"'))?;
    serde_json::from_str::<Cow<'a, str>>(raw.get()).ok()
}

/// What the policy reads of the payload, read by serde: the same skeleton.
fn serde_skeleton(payload: &str) -> usize {
    let payload: Payload = serde_json::from_str(payload).unwrap();
    let _ = (
        payload.settings,
        payload.request.uid,
        payload.request.operation,
    );
    let _ = payload.request.namespace;
    let object = payload.request.object.0.unwrap().get();
    let pod: PodFields = serde_json::from_str(object).unwrap();
    let mut seen = 0;
    let _ = pod.kind;
    if let Some(metadata) = pod.metadata.0 {
        let metadata: Metadata = serde_json::from_str(metadata.get()).unwrap();
        let _ = text(metadata.namespace);
        for map in [metadata.labels, metadata.annotations]
            .iter()
            .filter_map(|f| f.0)
        {
            let pairs: Vec<(Cow<str>, &RawValue)> =
                serde_json::from_str::<std::collections::BTreeMap<Cow<str>, &RawValue>>(map.get())
                    .unwrap()
                    .into_iter()
                    .collect();
            seen += pairs.len();
        }
    }
    let spec: Spec = serde_json::from_str(pod.spec.0.unwrap().get()).unwrap();
    let _ = (text(spec.service_account_name), spec.node_selector);
    for list in [spec.init_containers, spec.containers]
        .iter()
        .filter_map(|f| f.0)
    {
        let items: Vec<&RawValue> = serde_json::from_str(list.get()).unwrap();
        for item in items {
            let container: Container = serde_json::from_str(item.get()).unwrap();
            seen += text(container.name).map_or(0, |name| name.len());
            for list in [container.env, container.volume_mounts]
                .iter()
                .filter_map(|f| f.0)
            {
                let named: Vec<Named> = serde_json::from_str(list.get()).unwrap();
                seen += named.iter().filter(|n| n.0[0].is_some()).count();
            }
        }
    }
    if let Some(volumes) = spec.volumes.0 {
        seen += serde_json::from_str::<Vec<Named>>(volumes.get())
            .unwrap()
            .len();
    }
    seen
}

fn microseconds(iterations: u32, mut run: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        run();
    }
    start.elapsed().as_secs_f64() / f64::from(iterations) * 1e6
}

#[test]
#[ignore = "a measurement: make bench-reader"]
fn the_serde_skeleton_reader_costs_this_much_beside_the_one_pass_reader() {
    for name in ["small", "typical", "large"] {
        let path = format!("{}/benches/pods/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let review: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let payload = serde_json::json!({"settings": {}, "request": review["request"]}).to_string();
        let iterations = if name == "large" { 300 } else { 5000 };
        let mut read = |_: &_| Err::<Vec<u8>, String>("not read".to_owned());
        let mut decide = || {
            drop(std::hint::black_box(admission::decide(
                payload.as_bytes(),
                &mut read,
            )))
        };
        microseconds(50, &mut decide);
        let serde = microseconds(iterations, || {
            std::hint::black_box(serde_skeleton(&payload));
        });
        let scan = microseconds(iterations, || {
            drop(std::hint::black_box(pod::read_pod(
                &mut scan::Scanner::new(&payload),
            )))
        });
        let whole = microseconds(iterations, &mut decide);
        println!(
            "{name} ({} B): serde skeleton {serde:.1} µs, one-pass scan {scan:.1} µs, whole decision {whole:.1} µs; serde/scan {:.1}, serde/decision {:.1}",
            payload.len(),
            serde / scan,
            serde / whole
        );
    }
}
