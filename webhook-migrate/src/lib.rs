//! webhook-migrate: what a running EKS pod-identity-webhook is configured with (its Deployment or
//! flags, its ConfigMap, its MutatingWebhookConfiguration, its identities file), turned into this
//! policy's ClusterAdmissionPolicy and the RBAC policy-server needs, with everything that cannot
//! be carried over listed with the reason. Everything is built in memory; nothing is written
//! unless the whole conversion succeeds (the binary writes the result).
//!
//! `flags` reads the command line as pflag does, `gojson` the JSON inputs as Go does, `manifests`
//! the Kubernetes objects; `convert` maps them to settings and policy fields; `render` writes the
//! YAML.

pub mod convert;
pub mod flags;
pub mod gojson;
pub mod manifests;
pub mod render;

pub use convert::{Conversion, Inputs, Note, convert};

/// The module of the release this converter belongs to (`metadata.yml`'s `ociUrl` and version; a
/// test holds them equal).
pub const DEFAULT_MODULE: &str = "registry://ghcr.io/kubewarden/policies/aws-pod-identity:v0.1.0";
