//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) turned into the
//! JSON object the same request would have carried as JSON.
//!
//! kubectl sends some bodies as protobuf only, with no JSON fallback: the `kubectl create`
//! generators (namespace, deployment, configmap, secret, service, job, cronjob, role,
//! rolebinding, clusterrole, clusterrolebinding, serviceaccount, priorityclass, quota,
//! poddisruptionbudget, ingress, token) and the reviews of `kubectl auth can-i` (a
//! SelfSubjectAccessReview, a SelfSubjectRulesReview with `--list`) and `kubectl auth whoami`.
//! Such a body is the magic `k8s\0` followed by a `runtime.Unknown` envelope: `typeMeta`
//! (apiVersion, kind), `raw` (the object's own protobuf encoding), and `contentEncoding` and
//! `contentType`, which kube-apiserver ignores (it always reads `raw` as protobuf), and so does
//! [`decode`]. The api-server stores and answers JSON, so the object becomes exactly the JSON
//! object kubectl's JSON encoder would have written for it.
//!
//! # No field is dropped
//!
//! Every k8s-pb message that can occur inside a [`supported`] kind is listed in the `objects!`
//! table below with all of its fields, and the macro destructures the message without
//! `..`: a field missing from the table, or one that a newer k8s-pb adds, is a compile error.
//! The tables cover the whole closure of the kinds, PodSpec and PodStatus included (every
//! volume source, probe, affinity and security context). Fields that the encoding itself does
//! not carry are beyond reach: prost skips unknown tags as kube-apiserver's decoder does.
//!
//! # Go's JSON conventions
//!
//! A field's JSON key is its Go `json` tag, and how its value is written follows its Go
//! declaration. The table marks each field with how Go declares it (taken from
//! k8s.io/api and k8s.io/apimachinery v0.32, the version kubectl 1.32 encodes with; fields
//! added since, from v0.35, the version k8s-pb 0.9 is generated from):
//!
//! | marker     | Go declaration                   | when absent or zero                 |
//! |------------|----------------------------------|-------------------------------------|
//! | (none)     | a value tagged `omitempty`       | left out (`""`, `0`, `false`, `[]`) |
//! | `always`   | a value without it, any struct   | the zero value (`null` for a list)  |
//! | `ptr`      | a pointer tagged `omitempty`     | left out (a set `0`/`false` stays)  |
//! | `nullable` | a pointer without `omitempty`    | `null`                              |
//! | `inline`   | embedded (`json:",inline"`)      | its fields go into the parent       |
//!
//! Go writes every value field to protobuf and a pointer only when it is set, so "present in
//! the protobuf" is "set in Go". A struct is never left out (`omitempty` does not apply to
//! structs), which is why kubectl's JSON has `"resources": {}` and `"status": {}`.
//!
//! Scalars are written as Go writes them: integers as numbers, `bytes` as base64. The types
//! with their own JSON form: `resource.Quantity` is its string, `intstr.IntOrString` a number
//! or a string by its type, `metav1.Time` an RFC 3339 UTC string of whole seconds (`null` for
//! the zero time), `metav1.MicroTime` the same with six fractional digits, `metav1.FieldsV1`
//! and `runtime.RawExtension` their raw JSON, and `ExtraValue` (a Go `[]string`) an array.
//!
//! # Errors
//!
//! The `Err` text is kube-apiserver's for the same failure: `empty data`, `empty body`,
//! `provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]`,
//! `unexpected EOF` for a cut-off body (other malformed bodies keep prost's description),
//! `Object 'Kind' is missing in '…'`, and `no kind "X" is registered for version "v1" in scheme
//! "pkg/api/legacyscheme/scheme.go:30"` for a kind this module does not decode. kube-apiserver
//! wraps that text as `<Kind> in version "<v>" cannot be handled as a <Kind>: <text>` (a 400);
//! that is the caller's part. A value Go could not write as JSON either (an IntOrString of an
//! unknown type, FieldsV1 that is not JSON) is refused with the JSON path of the field.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_pb::api::apps::v1 as appsv1;
use k8s_pb::api::authentication::v1 as authenticationv1;
use k8s_pb::api::authorization::v1 as authorizationv1;
use k8s_pb::api::batch::v1 as batchv1;
use k8s_pb::api::coordination::v1 as coordinationv1;
use k8s_pb::api::core::v1 as corev1;
use k8s_pb::api::discovery::v1 as discoveryv1;
use k8s_pb::api::events::v1 as eventsv1;
use k8s_pb::api::networking::v1 as networkingv1;
use k8s_pb::api::policy::v1 as policyv1;
use k8s_pb::api::rbac::v1 as rbacv1;
use k8s_pb::api::scheduling::v1 as schedulingv1;
use k8s_pb::apimachinery::pkg::api::resource;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as metav1;
use k8s_pb::apimachinery::pkg::runtime;
use k8s_pb::apimachinery::pkg::util::intstr;
use serde_json::{Map, Value};

/// The 4 bytes in front of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// The magic as Go's `%v` prints a byte slice, for the error text.
const MAGIC_GO: &str = "[107 56 115 0]";

/// The name kube-apiserver's scheme goes by in its errors.
const SCHEME: &str = "pkg/api/legacyscheme/scheme.go:30";

/// A JSON object under construction.
type Fields = Map<String, Value>;

/// Decodes a `application/vnd.kubernetes.protobuf` request body into the object's JSON,
/// including "apiVersion" and "kind" from the envelope. Err carries kube-apiserver's message
/// text for the failure.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    // kube-apiserver reads `raw` as protobuf whatever contentEncoding and contentType say.
    let runtime::Unknown {
        type_meta,
        raw,
        content_encoding: _,
        content_type: _,
    } = envelope(body)?;
    let (api_version, kind) = object_type(type_meta.unwrap_or_default())?;
    let convert =
        converter(&api_version, &kind).ok_or_else(|| not_registered(&api_version, &kind))?;
    let mut object = Fields::new();
    object.insert("apiVersion".to_owned(), Value::String(api_version));
    object.insert("kind".to_owned(), Value::String(kind));
    convert(raw.as_deref().unwrap_or_default(), &mut object)?;
    Ok(Value::Object(object))
}

/// The (apiVersion, kind) pairs decode() supports.
pub fn supported() -> &'static [(&'static str, &'static str)] {
    SUPPORTED
}

/// Checks the magic and decodes the `runtime.Unknown` envelope behind it, with the texts of
/// kube-apiserver's protobuf serializer for a body that is not one.
fn envelope(body: &[u8]) -> Result<runtime::Unknown, String> {
    if body.is_empty() {
        return Err("empty data".to_owned());
    }
    match body.strip_prefix(MAGIC) {
        None => Err(format!(
            "provided data does not appear to be a protobuf message, expected prefix {MAGIC_GO}"
        )),
        Some([]) => Err("empty body".to_owned()),
        Some(envelope) => prost::Message::decode(envelope).map_err(decode_error),
    }
}

/// The text for a body that is not a well-formed protobuf message. kube-apiserver's decoder
/// says `unexpected EOF` for a cut-off body; prost's description is kept for other faults.
fn decode_error(error: prost::DecodeError) -> String {
    let text = error.to_string();
    if text.ends_with("buffer underflow") || text.ends_with("delimited length exceeded") {
        "unexpected EOF".to_owned()
    } else {
        text
    }
}

/// The envelope's apiVersion (as Go prints the parsed group and version) and kind, or
/// kube-apiserver's text for a missing one.
fn object_type(type_meta: runtime::TypeMeta) -> Result<(String, String), String> {
    let runtime::TypeMeta { api_version, kind } = type_meta;
    let (api_version, kind) = (api_version.unwrap_or_default(), kind.unwrap_or_default());
    // Go prints the TypeMeta with `%#v`.
    let go_type_meta = format!("runtime.TypeMeta{{APIVersion:{api_version:?}, Kind:{kind:?}}}");
    let (group, version) = group_version(&api_version);
    if kind.is_empty() {
        Err(format!("Object 'Kind' is missing in '{go_type_meta}'"))
    } else if version.is_empty() {
        Err(format!(
            "Object 'apiVersion' is missing in '{go_type_meta}'"
        ))
    } else if group.is_empty() {
        Ok((version.to_owned(), kind))
    } else {
        Ok((format!("{group}/{version}"), kind))
    }
}

/// Splits an apiVersion into group and version as `schema.FromAPIVersionAndKind` does: `v1`
/// has no group, `apps/v1` has one, and anything with more slashes counts as no version.
fn group_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        None => ("", api_version),
        Some((_, version)) if version.contains('/') => ("", ""),
        Some((group, version)) => (group, version),
    }
}

/// kube-apiserver's text for a kind its scheme does not know.
fn not_registered(api_version: &str, kind: &str) -> String {
    match group_version(api_version) {
        (group, "__internal") => format!(
            "no kind {kind:?} is registered for the internal version of group {group:?} \
             in scheme {SCHEME:?}"
        ),
        _ => format!(
            "no kind {kind:?} is registered for version {api_version:?} in scheme {SCHEME:?}"
        ),
    }
}

/// Decodes one kind's protobuf and writes its fields into the object.
type Converter = fn(&[u8], &mut Fields) -> Result<(), String>;

/// Decodes `raw` as the message `T` and writes its JSON fields into `out`.
fn convert<T: prost::Message + Default + Object>(
    raw: &[u8],
    out: &mut Fields,
) -> Result<(), String> {
    let message = T::decode(raw).map_err(decode_error)?;
    message.write_fields(out).map_err(|error| error.to_string())
}

/// Lists the kinds [`decode`] knows: their apiVersion, kind and k8s-pb message.
macro_rules! kinds {
    ($($api_version:literal $kind:literal => $($message:ident)::+,)*) => {
        /// The (apiVersion, kind) pairs of [`converter`].
        const SUPPORTED: &[(&str, &str)] = &[$(($api_version, $kind)),*];

        /// The converter of a kind, if it is one of [`SUPPORTED`].
        fn converter(api_version: &str, kind: &str) -> Option<Converter> {
            match (api_version, kind) {
                $(($api_version, $kind) => Some(convert::<$($message)::+>),)*
                _ => None,
            }
        }
    };
}

kinds! {
    "v1" "Binding" => corev1::Binding,
    "v1" "ConfigMap" => corev1::ConfigMap,
    "v1" "Endpoints" => corev1::Endpoints,
    "v1" "Event" => corev1::Event,
    "v1" "LimitRange" => corev1::LimitRange,
    "v1" "Namespace" => corev1::Namespace,
    "v1" "Node" => corev1::Node,
    "v1" "Pod" => corev1::Pod,
    "v1" "ResourceQuota" => corev1::ResourceQuota,
    "v1" "Secret" => corev1::Secret,
    "v1" "Service" => corev1::Service,
    "v1" "ServiceAccount" => corev1::ServiceAccount,
    "apps/v1" "ControllerRevision" => appsv1::ControllerRevision,
    "apps/v1" "DaemonSet" => appsv1::DaemonSet,
    "apps/v1" "Deployment" => appsv1::Deployment,
    "apps/v1" "ReplicaSet" => appsv1::ReplicaSet,
    "apps/v1" "StatefulSet" => appsv1::StatefulSet,
    "batch/v1" "CronJob" => batchv1::CronJob,
    "batch/v1" "Job" => batchv1::Job,
    "coordination.k8s.io/v1" "Lease" => coordinationv1::Lease,
    "discovery.k8s.io/v1" "EndpointSlice" => discoveryv1::EndpointSlice,
    "events.k8s.io/v1" "Event" => eventsv1::Event,
    "networking.k8s.io/v1" "Ingress" => networkingv1::Ingress,
    "policy/v1" "Eviction" => policyv1::Eviction,
    "policy/v1" "PodDisruptionBudget" => policyv1::PodDisruptionBudget,
    "rbac.authorization.k8s.io/v1" "ClusterRole" => rbacv1::ClusterRole,
    "rbac.authorization.k8s.io/v1" "ClusterRoleBinding" => rbacv1::ClusterRoleBinding,
    "rbac.authorization.k8s.io/v1" "Role" => rbacv1::Role,
    "rbac.authorization.k8s.io/v1" "RoleBinding" => rbacv1::RoleBinding,
    "scheduling.k8s.io/v1" "PriorityClass" => schedulingv1::PriorityClass,
    "authentication.k8s.io/v1" "SelfSubjectReview" => authenticationv1::SelfSubjectReview,
    "authentication.k8s.io/v1" "TokenRequest" => authenticationv1::TokenRequest,
    "authorization.k8s.io/v1" "SelfSubjectAccessReview" => authorizationv1::SelfSubjectAccessReview,
    "authorization.k8s.io/v1" "SelfSubjectRulesReview" => authorizationv1::SelfSubjectRulesReview,
}

// ---------------------------------------------------------------------------------------------
// The conversion machinery.

/// A value that has no JSON form, with the path of the field that holds it.
#[derive(Debug)]
struct ConversionError {
    /// The path from the innermost field outwards.
    path: Vec<Step>,
    message: String,
}

/// One step of a JSON path.
#[derive(Debug)]
enum Step {
    /// An object's field.
    Field(&'static str),
    /// A list's element.
    Index(usize),
    /// A map's entry.
    Key(String),
}

impl ConversionError {
    /// An error in the value itself.
    fn new(message: impl Into<String>) -> Self {
        ConversionError {
            path: Vec::new(),
            message: message.into(),
        }
    }

    /// The same error, one step further out.
    fn within(mut self, step: Step) -> Self {
        self.path.push(step);
        self
    }
}

impl std::fmt::Display for ConversionError {
    /// `spec.template.spec.containers[0].ports[0].targetPort: <message>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, step) in self.path.iter().rev().enumerate() {
            match step {
                Step::Field(name) if n == 0 => write!(f, "{name}")?,
                Step::Field(name) => write!(f, ".{name}")?,
                Step::Index(index) => write!(f, "[{index}]")?,
                Step::Key(key) => write!(f, "[{key:?}]")?,
            }
        }
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, ": {}", self.message)
        }
    }
}

/// A protobuf value with a JSON form.
trait Json: Default {
    /// The JSON Go writes for the value.
    fn json(self) -> Result<Value, ConversionError>;

    /// Whether `omitempty` leaves the value out: a Go scalar's zero value. Never a struct.
    fn is_zero(&self) -> bool {
        false
    }
}

/// A k8s-pb message that Go writes as a JSON object, one entry per field.
trait Object: Default {
    /// Writes the message's fields into `out` (into the parent's object, for an inline one).
    fn write_fields(self, out: &mut Fields) -> Result<(), ConversionError>;
}

/// The JSON of a message as an object of its own.
fn object_json(message: impl Object) -> Result<Value, ConversionError> {
    let mut out = Fields::new();
    message.write_fields(&mut out)?;
    Ok(Value::Object(out))
}

/// A field of a value type: a scalar or message (`Option`), a list, or a map.
trait Field {
    /// The JSON of a field tagged `omitempty`: none for an absent or zero value.
    fn omitempty(self) -> Result<Option<Value>, ConversionError>;

    /// The JSON of a field written even when zero: the zero value when absent, `null` for an
    /// empty list or map (Go's nil slice or map).
    fn always(self) -> Result<Value, ConversionError>;
}

impl<T: Json> Field for Option<T> {
    fn omitempty(self) -> Result<Option<Value>, ConversionError> {
        match self {
            Some(value) if !value.is_zero() => value.json().map(Some),
            _ => Ok(None),
        }
    }

    fn always(self) -> Result<Value, ConversionError> {
        self.unwrap_or_default().json()
    }
}

impl<T: Json> Field for Vec<T> {
    fn omitempty(self) -> Result<Option<Value>, ConversionError> {
        if self.is_empty() {
            Ok(None)
        } else {
            self.always().map(Some)
        }
    }

    fn always(self) -> Result<Value, ConversionError> {
        if self.is_empty() {
            return Ok(Value::Null);
        }
        let items = self.into_iter().enumerate().map(|(index, item)| {
            item.json()
                .map_err(|error| error.within(Step::Index(index)))
        });
        items.collect::<Result<Vec<_>, _>>().map(Value::Array)
    }
}

impl<T: Json> Field for BTreeMap<String, T> {
    fn omitempty(self) -> Result<Option<Value>, ConversionError> {
        if self.is_empty() {
            Ok(None)
        } else {
            self.always().map(Some)
        }
    }

    fn always(self) -> Result<Value, ConversionError> {
        if self.is_empty() {
            return Ok(Value::Null);
        }
        let entries = self.into_iter().map(|(key, value)| match value.json() {
            Ok(value) => Ok((key, value)),
            Err(error) => Err(error.within(Step::Key(key))),
        });
        entries.collect::<Result<Fields, _>>().map(Value::Object)
    }
}

/// The JSON of a pointer field tagged `omitempty`: none when unset.
fn pointer<T: Json>(value: Option<T>) -> Result<Option<Value>, ConversionError> {
    value.map(Json::json).transpose()
}

/// The JSON of a pointer field without `omitempty`: `null` when unset.
fn nullable<T: Json>(value: Option<T>) -> Result<Value, ConversionError> {
    value.map_or(Ok(Value::Null), Json::json)
}

/// Writes one field's JSON, if it has one, under its key.
fn put(
    out: &mut Fields,
    key: &'static str,
    value: Result<Option<Value>, ConversionError>,
) -> Result<(), ConversionError> {
    if let Some(value) = value.map_err(|error| error.within(Step::Field(key)))? {
        out.insert(key.to_owned(), value);
    }
    Ok(())
}

/// Writes an embedded struct's fields into its parent (the zero struct's when absent).
fn inline<T: Object>(out: &mut Fields, value: Option<T>) -> Result<(), ConversionError> {
    value.unwrap_or_default().write_fields(out)
}

/// Writes one field as its table entry says (see the module documentation).
macro_rules! field {
    ($out:ident, $field:ident => inline) => {
        inline($out, $field)?
    };
    ($out:ident, $field:ident => $key:literal) => {
        put($out, $key, Field::omitempty($field))?
    };
    ($out:ident, $field:ident => $key:literal always) => {
        put($out, $key, Field::always($field).map(Some))?
    };
    ($out:ident, $field:ident => $key:literal ptr) => {
        put($out, $key, pointer($field))?
    };
    ($out:ident, $field:ident => $key:literal nullable) => {
        put($out, $key, nullable($field).map(Some))?
    };
}

/// Implements [`Object`] and [`Json`] for k8s-pb messages from a table of all their fields:
/// `rust_field => "jsonKey" marker` or `rust_field => inline`. The message is destructured
/// without `..`, so the table must name every field.
macro_rules! objects {
    ($($($message:ident)::+ { $($field:ident => $key:tt $($marker:ident)?),* $(,)? })*) => {$(
        impl Object for $($message)::+ {
            fn write_fields(self, out: &mut Fields) -> Result<(), ConversionError> {
                let $($message)::+ { $($field),* } = self;
                $(field!(out, $field => $key $($marker)?);)*
                Ok(())
            }
        }

        impl Json for $($message)::+ {
            fn json(self) -> Result<Value, ConversionError> {
                object_json(self)
            }
        }
    )*};
}

// ---------------------------------------------------------------------------------------------
// Scalars.

impl Json for String {
    fn json(self) -> Result<Value, ConversionError> {
        Ok(Value::String(self))
    }

    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

impl Json for bool {
    fn json(self) -> Result<Value, ConversionError> {
        Ok(Value::Bool(self))
    }

    fn is_zero(&self) -> bool {
        !*self
    }
}

impl Json for i32 {
    fn json(self) -> Result<Value, ConversionError> {
        Ok(Value::from(self))
    }

    fn is_zero(&self) -> bool {
        *self == 0
    }
}

impl Json for i64 {
    fn json(self) -> Result<Value, ConversionError> {
        Ok(Value::from(self))
    }

    fn is_zero(&self) -> bool {
        *self == 0
    }
}

/// `bytes` (Go `[]byte`): standard base64, as Go's encoding/json writes it.
impl Json for Vec<u8> {
    fn json(self) -> Result<Value, ConversionError> {
        Ok(Value::String(BASE64.encode(self)))
    }

    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

/// A boxed message (prost boxes recursive ones) writes as the message.
impl<T: Json> Json for Box<T> {
    fn json(self) -> Result<Value, ConversionError> {
        (*self).json()
    }

    fn is_zero(&self) -> bool {
        (**self).is_zero()
    }
}

// ---------------------------------------------------------------------------------------------
// The types with a JSON form of their own.

/// `resource.Quantity` writes as its string; the zero quantity is `"0"`.
impl Json for resource::Quantity {
    fn json(self) -> Result<Value, ConversionError> {
        let resource::Quantity { string } = self;
        match string {
            None => Ok(Value::String("0".to_owned())),
            // kube-apiserver's decoder parses the string, and refuses an empty one.
            Some(string) if string.is_empty() => Err(ConversionError::new(
                "quantities must match the regular expression \
                 '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            )),
            Some(string) => Ok(Value::String(string)),
        }
    }
}

/// `intstr.IntOrString` writes as a number (type 0) or a string (type 1).
impl Json for intstr::IntOrString {
    fn json(self) -> Result<Value, ConversionError> {
        let intstr::IntOrString {
            r#type,
            int_val,
            str_val,
        } = self;
        match r#type.unwrap_or_default() {
            0 => Ok(Value::from(int_val.unwrap_or_default())),
            1 => Ok(Value::String(str_val.unwrap_or_default())),
            _ => Err(ConversionError::new("impossible IntOrString.Type")),
        }
    }
}

/// Go's zero `time.Time` in Unix seconds; `metav1.Time` and `MicroTime` write it as `null`.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// `metav1.Time`: RFC 3339 in UTC, whole seconds. An empty message is the zero time (`null`);
/// kube-apiserver drops `nanos` when it decodes a Time, and so does this.
impl Json for metav1::Time {
    fn json(self) -> Result<Value, ConversionError> {
        let metav1::Time { seconds, nanos } = self;
        if seconds.is_none() && nanos.is_none() {
            return Ok(Value::Null);
        }
        let seconds = seconds.unwrap_or_default();
        if seconds == GO_ZERO_TIME_UNIX {
            return Ok(Value::Null);
        }
        let timestamp = jiff::Timestamp::new(seconds, 0).map_err(time_error)?;
        format_time("%Y-%m-%dT%H:%M:%SZ", timestamp)
    }
}

/// `metav1.MicroTime`: RFC 3339 in UTC with six fractional digits (nanoseconds truncated to
/// microseconds, as kube-apiserver decodes it). An empty message is the zero time (`null`).
impl Json for metav1::MicroTime {
    fn json(self) -> Result<Value, ConversionError> {
        let metav1::MicroTime { seconds, nanos } = self;
        if seconds.is_none() && nanos.is_none() {
            return Ok(Value::Null);
        }
        let nanos = i128::from(nanos.unwrap_or_default());
        let total =
            i128::from(seconds.unwrap_or_default()) * 1_000_000_000 + (nanos - nanos % 1_000);
        if total == i128::from(GO_ZERO_TIME_UNIX) * 1_000_000_000 {
            return Ok(Value::Null);
        }
        let timestamp = jiff::Timestamp::from_nanosecond(total).map_err(time_error)?;
        format_time("%Y-%m-%dT%H:%M:%S%.6fZ", timestamp)
    }
}

/// A time as a JSON string in the given format, in UTC.
fn format_time(format: &str, timestamp: jiff::Timestamp) -> Result<Value, ConversionError> {
    jiff::fmt::strtime::format(format, timestamp)
        .map(Value::String)
        .map_err(time_error)
}

/// A time that cannot be written as RFC 3339.
fn time_error(error: jiff::Error) -> ConversionError {
    ConversionError::new(format!("time out of range: {error}"))
}

/// `metav1.FieldsV1` (managedFields) writes as its raw JSON, `null` when unset.
impl Json for metav1::FieldsV1 {
    fn json(self) -> Result<Value, ConversionError> {
        let metav1::FieldsV1 { raw } = self;
        match raw {
            None => Ok(Value::Null),
            Some(raw) => serde_json::from_slice(&raw).map_err(|error| {
                ConversionError::new(format!(
                    "metav1.FieldsV1 is not JSON ({error}); \
                     CBOR fields are not supported, send JSON"
                ))
            }),
        }
    }
}

/// `runtime.RawExtension` writes as its raw JSON, `null` when unset.
impl Json for runtime::RawExtension {
    fn json(self) -> Result<Value, ConversionError> {
        let runtime::RawExtension { raw } = self;
        match raw {
            None => Ok(Value::Null),
            Some(raw) => serde_json::from_slice(&raw).map_err(|error| {
                ConversionError::new(format!(
                    "failed to parse RawExtension bytes as JSON: {error}; \
                     other encodings are not supported, send JSON"
                ))
            }),
        }
    }
}

/// `authentication/v1.ExtraValue` is a Go `[]string`: an array, `null` when empty.
impl Json for authenticationv1::ExtraValue {
    fn json(self) -> Result<Value, ConversionError> {
        let authenticationv1::ExtraValue { items } = self;
        Field::always(items)
    }
}

// ---------------------------------------------------------------------------------------------
// The messages: every field of every k8s-pb message inside a supported kind, with its JSON
// key and its Go declaration's marker. Generated from k8s-pb's structs joined, by protobuf
// tag, with the Go types of k8s.io/api and k8s.io/apimachinery, then checked by hand.

objects! {
    // core/v1
    corev1::Affinity {
        node_affinity => "nodeAffinity" ptr,
        pod_affinity => "podAffinity" ptr,
        pod_anti_affinity => "podAntiAffinity" ptr,
    }
    corev1::AppArmorProfile {
        r#type => "type" always,
        localhost_profile => "localhostProfile" ptr,
    }
    corev1::AttachedVolume {
        name => "name" always,
        device_path => "devicePath" always,
    }
    corev1::AwsElasticBlockStoreVolumeSource {
        volume_id => "volumeID" always,
        fs_type => "fsType",
        partition => "partition",
        read_only => "readOnly",
    }
    corev1::AzureDiskVolumeSource {
        disk_name => "diskName" always,
        disk_uri => "diskURI" always,
        caching_mode => "cachingMode" ptr,
        fs_type => "fsType" ptr,
        read_only => "readOnly" ptr,
        kind => "kind" ptr,
    }
    corev1::AzureFileVolumeSource {
        secret_name => "secretName" always,
        share_name => "shareName" always,
        read_only => "readOnly",
    }
    corev1::Binding {
        metadata => "metadata" always,
        target => "target" always,
    }
    corev1::CSIVolumeSource {
        driver => "driver" always,
        read_only => "readOnly" ptr,
        fs_type => "fsType" ptr,
        volume_attributes => "volumeAttributes",
        node_publish_secret_ref => "nodePublishSecretRef" ptr,
    }
    corev1::Capabilities {
        add => "add",
        drop => "drop",
    }
    corev1::CephFsVolumeSource {
        monitors => "monitors" always,
        path => "path",
        user => "user",
        secret_file => "secretFile",
        secret_ref => "secretRef" ptr,
        read_only => "readOnly",
    }
    corev1::CinderVolumeSource {
        volume_id => "volumeID" always,
        fs_type => "fsType",
        read_only => "readOnly",
        secret_ref => "secretRef" ptr,
    }
    corev1::ClientIpConfig {
        timeout_seconds => "timeoutSeconds" ptr,
    }
    corev1::ClusterTrustBundleProjection {
        name => "name" ptr,
        signer_name => "signerName" ptr,
        label_selector => "labelSelector" ptr,
        optional => "optional" ptr,
        path => "path" always,
    }
    corev1::ConfigMap {
        metadata => "metadata" always,
        immutable => "immutable" ptr,
        data => "data",
        binary_data => "binaryData",
    }
    corev1::ConfigMapEnvSource {
        local_object_reference => inline,
        optional => "optional" ptr,
    }
    corev1::ConfigMapKeySelector {
        local_object_reference => inline,
        key => "key" always,
        optional => "optional" ptr,
    }
    corev1::ConfigMapNodeConfigSource {
        namespace => "namespace" always,
        name => "name" always,
        uid => "uid",
        resource_version => "resourceVersion",
        kubelet_config_key => "kubeletConfigKey" always,
    }
    corev1::ConfigMapProjection {
        local_object_reference => inline,
        items => "items",
        optional => "optional" ptr,
    }
    corev1::ConfigMapVolumeSource {
        local_object_reference => inline,
        items => "items",
        default_mode => "defaultMode" ptr,
        optional => "optional" ptr,
    }
    corev1::Container {
        name => "name" always,
        image => "image",
        command => "command",
        args => "args",
        working_dir => "workingDir",
        ports => "ports",
        env_from => "envFrom",
        env => "env",
        resources => "resources" always,
        resize_policy => "resizePolicy",
        restart_policy => "restartPolicy" ptr,
        restart_policy_rules => "restartPolicyRules",
        volume_mounts => "volumeMounts",
        volume_devices => "volumeDevices",
        liveness_probe => "livenessProbe" ptr,
        readiness_probe => "readinessProbe" ptr,
        startup_probe => "startupProbe" ptr,
        lifecycle => "lifecycle" ptr,
        termination_message_path => "terminationMessagePath",
        termination_message_policy => "terminationMessagePolicy",
        image_pull_policy => "imagePullPolicy",
        security_context => "securityContext" ptr,
        stdin => "stdin",
        stdin_once => "stdinOnce",
        tty => "tty",
    }
    corev1::ContainerExtendedResourceRequest {
        container_name => "containerName" always,
        resource_name => "resourceName" always,
        request_name => "requestName" always,
    }
    corev1::ContainerImage {
        names => "names" always,
        size_bytes => "sizeBytes",
    }
    corev1::ContainerPort {
        name => "name",
        host_port => "hostPort",
        container_port => "containerPort" always,
        protocol => "protocol",
        host_ip => "hostIP",
    }
    corev1::ContainerResizePolicy {
        resource_name => "resourceName" always,
        restart_policy => "restartPolicy" always,
    }
    corev1::ContainerRestartRule {
        action => "action",
        exit_codes => "exitCodes" ptr,
    }
    corev1::ContainerRestartRuleOnExitCodes {
        operator => "operator",
        values => "values",
    }
    corev1::ContainerState {
        waiting => "waiting" ptr,
        running => "running" ptr,
        terminated => "terminated" ptr,
    }
    corev1::ContainerStateRunning {
        started_at => "startedAt" always,
    }
    corev1::ContainerStateTerminated {
        exit_code => "exitCode" always,
        signal => "signal",
        reason => "reason",
        message => "message",
        started_at => "startedAt" always,
        finished_at => "finishedAt" always,
        container_id => "containerID",
    }
    corev1::ContainerStateWaiting {
        reason => "reason",
        message => "message",
    }
    corev1::ContainerStatus {
        name => "name" always,
        state => "state" always,
        last_state => "lastState" always,
        ready => "ready" always,
        restart_count => "restartCount" always,
        image => "image" always,
        image_id => "imageID" always,
        container_id => "containerID",
        started => "started" ptr,
        allocated_resources => "allocatedResources",
        resources => "resources" ptr,
        volume_mounts => "volumeMounts",
        user => "user" ptr,
        allocated_resources_status => "allocatedResourcesStatus",
        stop_signal => "stopSignal" ptr,
    }
    corev1::ContainerUser {
        linux => "linux" ptr,
    }
    corev1::DaemonEndpoint {
        port => "Port" always,
    }
    corev1::DownwardAPIProjection {
        items => "items",
    }
    corev1::DownwardAPIVolumeFile {
        path => "path" always,
        field_ref => "fieldRef" ptr,
        resource_field_ref => "resourceFieldRef" ptr,
        mode => "mode" ptr,
    }
    corev1::DownwardAPIVolumeSource {
        items => "items",
        default_mode => "defaultMode" ptr,
    }
    corev1::EmptyDirVolumeSource {
        medium => "medium",
        size_limit => "sizeLimit" ptr,
    }
    corev1::EndpointAddress {
        ip => "ip" always,
        hostname => "hostname",
        node_name => "nodeName" ptr,
        target_ref => "targetRef" ptr,
    }
    corev1::EndpointPort {
        name => "name",
        port => "port" always,
        protocol => "protocol",
        app_protocol => "appProtocol" ptr,
    }
    corev1::EndpointSubset {
        addresses => "addresses",
        not_ready_addresses => "notReadyAddresses",
        ports => "ports",
    }
    corev1::Endpoints {
        metadata => "metadata" always,
        subsets => "subsets",
    }
    corev1::EnvFromSource {
        prefix => "prefix",
        config_map_ref => "configMapRef" ptr,
        secret_ref => "secretRef" ptr,
    }
    corev1::EnvVar {
        name => "name" always,
        value => "value",
        value_from => "valueFrom" ptr,
    }
    corev1::EnvVarSource {
        field_ref => "fieldRef" ptr,
        resource_field_ref => "resourceFieldRef" ptr,
        config_map_key_ref => "configMapKeyRef" ptr,
        secret_key_ref => "secretKeyRef" ptr,
        file_key_ref => "fileKeyRef" ptr,
    }
    corev1::EphemeralContainer {
        ephemeral_container_common => inline,
        target_container_name => "targetContainerName",
    }
    corev1::EphemeralContainerCommon {
        name => "name" always,
        image => "image",
        command => "command",
        args => "args",
        working_dir => "workingDir",
        ports => "ports",
        env_from => "envFrom",
        env => "env",
        resources => "resources" always,
        resize_policy => "resizePolicy",
        restart_policy => "restartPolicy" ptr,
        restart_policy_rules => "restartPolicyRules",
        volume_mounts => "volumeMounts",
        volume_devices => "volumeDevices",
        liveness_probe => "livenessProbe" ptr,
        readiness_probe => "readinessProbe" ptr,
        startup_probe => "startupProbe" ptr,
        lifecycle => "lifecycle" ptr,
        termination_message_path => "terminationMessagePath",
        termination_message_policy => "terminationMessagePolicy",
        image_pull_policy => "imagePullPolicy",
        security_context => "securityContext" ptr,
        stdin => "stdin",
        stdin_once => "stdinOnce",
        tty => "tty",
    }
    corev1::EphemeralVolumeSource {
        volume_claim_template => "volumeClaimTemplate" ptr,
    }
    corev1::Event {
        metadata => "metadata" always,
        involved_object => "involvedObject" always,
        reason => "reason",
        message => "message",
        source => "source" always,
        first_timestamp => "firstTimestamp" always,
        last_timestamp => "lastTimestamp" always,
        count => "count",
        r#type => "type",
        event_time => "eventTime" always,
        series => "series" ptr,
        action => "action",
        related => "related" ptr,
        reporting_component => "reportingComponent" always,
        reporting_instance => "reportingInstance" always,
    }
    corev1::EventSeries {
        count => "count",
        last_observed_time => "lastObservedTime" always,
    }
    corev1::EventSource {
        component => "component",
        host => "host",
    }
    corev1::ExecAction {
        command => "command",
    }
    corev1::FcVolumeSource {
        target_ww_ns => "targetWWNs",
        lun => "lun" ptr,
        fs_type => "fsType",
        read_only => "readOnly",
        wwids => "wwids",
    }
    corev1::FileKeySelector {
        volume_name => "volumeName" always,
        path => "path" always,
        key => "key" always,
        optional => "optional" ptr,
    }
    corev1::FlexVolumeSource {
        driver => "driver" always,
        fs_type => "fsType",
        secret_ref => "secretRef" ptr,
        read_only => "readOnly",
        options => "options",
    }
    corev1::FlockerVolumeSource {
        dataset_name => "datasetName",
        dataset_uuid => "datasetUUID",
    }
    corev1::GcePersistentDiskVolumeSource {
        pd_name => "pdName" always,
        fs_type => "fsType",
        partition => "partition",
        read_only => "readOnly",
    }
    corev1::GitRepoVolumeSource {
        repository => "repository" always,
        revision => "revision",
        directory => "directory",
    }
    corev1::GlusterfsVolumeSource {
        endpoints => "endpoints" always,
        path => "path" always,
        read_only => "readOnly",
    }
    corev1::GrpcAction {
        port => "port" always,
        service => "service" nullable,
    }
    corev1::HostAlias {
        ip => "ip" always,
        hostnames => "hostnames",
    }
    corev1::HostIp {
        ip => "ip" always,
    }
    corev1::HostPathVolumeSource {
        path => "path" always,
        r#type => "type" ptr,
    }
    corev1::HttpGetAction {
        path => "path",
        port => "port" always,
        host => "host",
        scheme => "scheme",
        http_headers => "httpHeaders",
    }
    corev1::HttpHeader {
        name => "name" always,
        value => "value" always,
    }
    corev1::ImageVolumeSource {
        reference => "reference",
        pull_policy => "pullPolicy",
    }
    corev1::IscsiVolumeSource {
        target_portal => "targetPortal" always,
        iqn => "iqn" always,
        lun => "lun" always,
        iscsi_interface => "iscsiInterface",
        fs_type => "fsType",
        read_only => "readOnly",
        portals => "portals",
        chap_auth_discovery => "chapAuthDiscovery",
        chap_auth_session => "chapAuthSession",
        secret_ref => "secretRef" ptr,
        initiator_name => "initiatorName" ptr,
    }
    corev1::KeyToPath {
        key => "key" always,
        path => "path" always,
        mode => "mode" ptr,
    }
    corev1::Lifecycle {
        post_start => "postStart" ptr,
        pre_stop => "preStop" ptr,
        stop_signal => "stopSignal" ptr,
    }
    corev1::LifecycleHandler {
        exec => "exec" ptr,
        http_get => "httpGet" ptr,
        tcp_socket => "tcpSocket" ptr,
        sleep => "sleep" ptr,
    }
    corev1::LimitRange {
        metadata => "metadata" always,
        spec => "spec" always,
    }
    corev1::LimitRangeItem {
        r#type => "type" always,
        max => "max",
        min => "min",
        default => "default",
        default_request => "defaultRequest",
        max_limit_request_ratio => "maxLimitRequestRatio",
    }
    corev1::LimitRangeSpec {
        limits => "limits" always,
    }
    corev1::LinuxContainerUser {
        uid => "uid" always,
        gid => "gid" always,
        supplemental_groups => "supplementalGroups",
    }
    corev1::LoadBalancerIngress {
        ip => "ip",
        hostname => "hostname",
        ip_mode => "ipMode" ptr,
        ports => "ports",
    }
    corev1::LoadBalancerStatus {
        ingress => "ingress",
    }
    corev1::LocalObjectReference {
        name => "name",
    }
    corev1::ModifyVolumeStatus {
        target_volume_attributes_class_name => "targetVolumeAttributesClassName",
        status => "status" always,
    }
    corev1::Namespace {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    corev1::NamespaceCondition {
        r#type => "type" always,
        status => "status" always,
        last_transition_time => "lastTransitionTime" always,
        reason => "reason",
        message => "message",
    }
    corev1::NamespaceSpec {
        finalizers => "finalizers",
    }
    corev1::NamespaceStatus {
        phase => "phase",
        conditions => "conditions",
    }
    corev1::NfsVolumeSource {
        server => "server" always,
        path => "path" always,
        read_only => "readOnly",
    }
    corev1::Node {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    corev1::NodeAddress {
        r#type => "type" always,
        address => "address" always,
    }
    corev1::NodeAffinity {
        required_during_scheduling_ignored_during_execution =>
            "requiredDuringSchedulingIgnoredDuringExecution" ptr,
        preferred_during_scheduling_ignored_during_execution =>
            "preferredDuringSchedulingIgnoredDuringExecution",
    }
    corev1::NodeCondition {
        r#type => "type" always,
        status => "status" always,
        last_heartbeat_time => "lastHeartbeatTime" always,
        last_transition_time => "lastTransitionTime" always,
        reason => "reason",
        message => "message",
    }
    corev1::NodeConfigSource {
        config_map => "configMap" ptr,
    }
    corev1::NodeConfigStatus {
        assigned => "assigned" ptr,
        active => "active" ptr,
        last_known_good => "lastKnownGood" ptr,
        error => "error",
    }
    corev1::NodeDaemonEndpoints {
        kubelet_endpoint => "kubeletEndpoint" always,
    }
    corev1::NodeFeatures {
        supplemental_groups_policy => "supplementalGroupsPolicy" ptr,
    }
    corev1::NodeRuntimeHandler {
        name => "name" always,
        features => "features" ptr,
    }
    corev1::NodeRuntimeHandlerFeatures {
        recursive_read_only_mounts => "recursiveReadOnlyMounts" ptr,
        user_namespaces => "userNamespaces" ptr,
    }
    corev1::NodeSelector {
        node_selector_terms => "nodeSelectorTerms" always,
    }
    corev1::NodeSelectorRequirement {
        key => "key" always,
        operator => "operator" always,
        values => "values",
    }
    corev1::NodeSelectorTerm {
        match_expressions => "matchExpressions",
        match_fields => "matchFields",
    }
    corev1::NodeSpec {
        pod_cidr => "podCIDR",
        pod_cid_rs => "podCIDRs",
        provider_id => "providerID",
        unschedulable => "unschedulable",
        taints => "taints",
        config_source => "configSource" ptr,
        external_id => "externalID",
    }
    corev1::NodeStatus {
        capacity => "capacity",
        allocatable => "allocatable",
        phase => "phase",
        conditions => "conditions",
        addresses => "addresses",
        daemon_endpoints => "daemonEndpoints" always,
        node_info => "nodeInfo" always,
        images => "images",
        volumes_in_use => "volumesInUse",
        volumes_attached => "volumesAttached",
        config => "config" ptr,
        runtime_handlers => "runtimeHandlers",
        features => "features" ptr,
        declared_features => "declaredFeatures",
    }
    corev1::NodeSwapStatus {
        capacity => "capacity" ptr,
    }
    corev1::NodeSystemInfo {
        machine_id => "machineID" always,
        system_uuid => "systemUUID" always,
        boot_id => "bootID" always,
        kernel_version => "kernelVersion" always,
        os_image => "osImage" always,
        container_runtime_version => "containerRuntimeVersion" always,
        kubelet_version => "kubeletVersion" always,
        kube_proxy_version => "kubeProxyVersion" always,
        operating_system => "operatingSystem" always,
        architecture => "architecture" always,
        swap => "swap" ptr,
    }
    corev1::ObjectFieldSelector {
        api_version => "apiVersion",
        field_path => "fieldPath" always,
    }
    corev1::ObjectReference {
        kind => "kind",
        namespace => "namespace",
        name => "name",
        uid => "uid",
        api_version => "apiVersion",
        resource_version => "resourceVersion",
        field_path => "fieldPath",
    }
    corev1::PersistentVolumeClaim {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    corev1::PersistentVolumeClaimCondition {
        r#type => "type" always,
        status => "status" always,
        last_probe_time => "lastProbeTime" always,
        last_transition_time => "lastTransitionTime" always,
        reason => "reason",
        message => "message",
    }
    corev1::PersistentVolumeClaimSpec {
        access_modes => "accessModes",
        selector => "selector" ptr,
        resources => "resources" always,
        volume_name => "volumeName",
        storage_class_name => "storageClassName" ptr,
        volume_mode => "volumeMode" ptr,
        data_source => "dataSource" ptr,
        data_source_ref => "dataSourceRef" ptr,
        volume_attributes_class_name => "volumeAttributesClassName" ptr,
    }
    corev1::PersistentVolumeClaimStatus {
        phase => "phase",
        access_modes => "accessModes",
        capacity => "capacity",
        conditions => "conditions",
        allocated_resources => "allocatedResources",
        allocated_resource_statuses => "allocatedResourceStatuses",
        current_volume_attributes_class_name => "currentVolumeAttributesClassName" ptr,
        modify_volume_status => "modifyVolumeStatus" ptr,
    }
    corev1::PersistentVolumeClaimTemplate {
        metadata => "metadata" always,
        spec => "spec" always,
    }
    corev1::PersistentVolumeClaimVolumeSource {
        claim_name => "claimName" always,
        read_only => "readOnly",
    }
    corev1::PhotonPersistentDiskVolumeSource {
        pd_id => "pdID" always,
        fs_type => "fsType",
    }
    corev1::Pod {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    corev1::PodAffinity {
        required_during_scheduling_ignored_during_execution =>
            "requiredDuringSchedulingIgnoredDuringExecution",
        preferred_during_scheduling_ignored_during_execution =>
            "preferredDuringSchedulingIgnoredDuringExecution",
    }
    corev1::PodAffinityTerm {
        label_selector => "labelSelector" ptr,
        namespaces => "namespaces",
        topology_key => "topologyKey" always,
        namespace_selector => "namespaceSelector" ptr,
        match_label_keys => "matchLabelKeys",
        mismatch_label_keys => "mismatchLabelKeys",
    }
    corev1::PodAntiAffinity {
        required_during_scheduling_ignored_during_execution =>
            "requiredDuringSchedulingIgnoredDuringExecution",
        preferred_during_scheduling_ignored_during_execution =>
            "preferredDuringSchedulingIgnoredDuringExecution",
    }
    corev1::PodCertificateProjection {
        signer_name => "signerName",
        key_type => "keyType",
        max_expiration_seconds => "maxExpirationSeconds" ptr,
        credential_bundle_path => "credentialBundlePath",
        key_path => "keyPath",
        certificate_chain_path => "certificateChainPath",
        user_annotations => "userAnnotations",
    }
    corev1::PodCondition {
        r#type => "type" always,
        observed_generation => "observedGeneration",
        status => "status" always,
        last_probe_time => "lastProbeTime" always,
        last_transition_time => "lastTransitionTime" always,
        reason => "reason",
        message => "message",
    }
    corev1::PodDnsConfig {
        nameservers => "nameservers",
        searches => "searches",
        options => "options",
    }
    corev1::PodDnsConfigOption {
        name => "name",
        value => "value" ptr,
    }
    corev1::PodExtendedResourceClaimStatus {
        request_mappings => "requestMappings" always,
        resource_claim_name => "resourceClaimName" always,
    }
    corev1::PodIp {
        ip => "ip" always,
    }
    corev1::PodOs {
        name => "name" always,
    }
    corev1::PodReadinessGate {
        condition_type => "conditionType" always,
    }
    corev1::PodResourceClaim {
        name => "name" always,
        resource_claim_name => "resourceClaimName" ptr,
        resource_claim_template_name => "resourceClaimTemplateName" ptr,
    }
    corev1::PodResourceClaimStatus {
        name => "name" always,
        resource_claim_name => "resourceClaimName" ptr,
    }
    corev1::PodSchedulingGate {
        name => "name" always,
    }
    corev1::PodSecurityContext {
        se_linux_options => "seLinuxOptions" ptr,
        windows_options => "windowsOptions" ptr,
        run_as_user => "runAsUser" ptr,
        run_as_group => "runAsGroup" ptr,
        run_as_non_root => "runAsNonRoot" ptr,
        supplemental_groups => "supplementalGroups",
        supplemental_groups_policy => "supplementalGroupsPolicy" ptr,
        fs_group => "fsGroup" ptr,
        sysctls => "sysctls",
        fs_group_change_policy => "fsGroupChangePolicy" ptr,
        seccomp_profile => "seccompProfile" ptr,
        app_armor_profile => "appArmorProfile" ptr,
        se_linux_change_policy => "seLinuxChangePolicy" ptr,
    }
    corev1::PodSpec {
        volumes => "volumes",
        init_containers => "initContainers",
        containers => "containers" always,
        ephemeral_containers => "ephemeralContainers",
        restart_policy => "restartPolicy",
        termination_grace_period_seconds => "terminationGracePeriodSeconds" ptr,
        active_deadline_seconds => "activeDeadlineSeconds" ptr,
        dns_policy => "dnsPolicy",
        node_selector => "nodeSelector",
        service_account_name => "serviceAccountName",
        service_account => "serviceAccount",
        automount_service_account_token => "automountServiceAccountToken" ptr,
        node_name => "nodeName",
        host_network => "hostNetwork",
        host_pid => "hostPID",
        host_ipc => "hostIPC",
        share_process_namespace => "shareProcessNamespace" ptr,
        security_context => "securityContext" ptr,
        image_pull_secrets => "imagePullSecrets",
        hostname => "hostname",
        subdomain => "subdomain",
        affinity => "affinity" ptr,
        scheduler_name => "schedulerName",
        tolerations => "tolerations",
        host_aliases => "hostAliases",
        priority_class_name => "priorityClassName",
        priority => "priority" ptr,
        dns_config => "dnsConfig" ptr,
        readiness_gates => "readinessGates",
        runtime_class_name => "runtimeClassName" ptr,
        enable_service_links => "enableServiceLinks" ptr,
        preemption_policy => "preemptionPolicy" ptr,
        overhead => "overhead",
        topology_spread_constraints => "topologySpreadConstraints",
        set_hostname_as_fqdn => "setHostnameAsFQDN" ptr,
        os => "os" ptr,
        host_users => "hostUsers" ptr,
        scheduling_gates => "schedulingGates",
        resource_claims => "resourceClaims",
        resources => "resources" ptr,
        hostname_override => "hostnameOverride" ptr,
        workload_ref => "workloadRef" ptr,
    }
    corev1::PodStatus {
        observed_generation => "observedGeneration",
        phase => "phase",
        conditions => "conditions",
        message => "message",
        reason => "reason",
        nominated_node_name => "nominatedNodeName",
        host_ip => "hostIP",
        host_ips => "hostIPs",
        pod_ip => "podIP",
        pod_ips => "podIPs",
        start_time => "startTime" ptr,
        init_container_statuses => "initContainerStatuses",
        container_statuses => "containerStatuses",
        qos_class => "qosClass",
        ephemeral_container_statuses => "ephemeralContainerStatuses",
        resize => "resize",
        resource_claim_statuses => "resourceClaimStatuses",
        extended_resource_claim_status => "extendedResourceClaimStatus" ptr,
        allocated_resources => "allocatedResources",
        resources => "resources" ptr,
    }
    corev1::PodTemplateSpec {
        metadata => "metadata" always,
        spec => "spec" always,
    }
    corev1::PortStatus {
        port => "port" always,
        protocol => "protocol" always,
        error => "error" ptr,
    }
    corev1::PortworxVolumeSource {
        volume_id => "volumeID" always,
        fs_type => "fsType",
        read_only => "readOnly",
    }
    corev1::PreferredSchedulingTerm {
        weight => "weight" always,
        preference => "preference" always,
    }
    corev1::Probe {
        handler => inline,
        initial_delay_seconds => "initialDelaySeconds",
        timeout_seconds => "timeoutSeconds",
        period_seconds => "periodSeconds",
        success_threshold => "successThreshold",
        failure_threshold => "failureThreshold",
        termination_grace_period_seconds => "terminationGracePeriodSeconds" ptr,
    }
    corev1::ProbeHandler {
        exec => "exec" ptr,
        http_get => "httpGet" ptr,
        tcp_socket => "tcpSocket" ptr,
        grpc => "grpc" ptr,
    }
    corev1::ProjectedVolumeSource {
        sources => "sources" always,
        default_mode => "defaultMode" ptr,
    }
    corev1::QuobyteVolumeSource {
        registry => "registry" always,
        volume => "volume" always,
        read_only => "readOnly",
        user => "user",
        group => "group",
        tenant => "tenant",
    }
    corev1::RbdVolumeSource {
        monitors => "monitors" always,
        image => "image" always,
        fs_type => "fsType",
        pool => "pool",
        user => "user",
        keyring => "keyring",
        secret_ref => "secretRef" ptr,
        read_only => "readOnly",
    }
    corev1::ResourceClaim {
        name => "name" always,
        request => "request",
    }
    corev1::ResourceFieldSelector {
        container_name => "containerName",
        resource => "resource" always,
        divisor => "divisor" always,
    }
    corev1::ResourceHealth {
        resource_id => "resourceID" always,
        health => "health",
    }
    corev1::ResourceQuota {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    corev1::ResourceQuotaSpec {
        hard => "hard",
        scopes => "scopes",
        scope_selector => "scopeSelector" ptr,
    }
    corev1::ResourceQuotaStatus {
        hard => "hard",
        used => "used",
    }
    corev1::ResourceRequirements {
        limits => "limits",
        requests => "requests",
        claims => "claims",
    }
    corev1::ResourceStatus {
        name => "name" always,
        resources => "resources",
    }
    corev1::ScaleIoVolumeSource {
        gateway => "gateway" always,
        system => "system" always,
        secret_ref => "secretRef" nullable,
        ssl_enabled => "sslEnabled",
        protection_domain => "protectionDomain",
        storage_pool => "storagePool",
        storage_mode => "storageMode",
        volume_name => "volumeName",
        fs_type => "fsType",
        read_only => "readOnly",
    }
    corev1::ScopeSelector {
        match_expressions => "matchExpressions",
    }
    corev1::ScopedResourceSelectorRequirement {
        scope_name => "scopeName" always,
        operator => "operator" always,
        values => "values",
    }
    corev1::SeLinuxOptions {
        user => "user",
        role => "role",
        r#type => "type",
        level => "level",
    }
    corev1::SeccompProfile {
        r#type => "type" always,
        localhost_profile => "localhostProfile" ptr,
    }
    corev1::Secret {
        metadata => "metadata" always,
        immutable => "immutable" ptr,
        data => "data",
        string_data => "stringData",
        r#type => "type",
    }
    corev1::SecretEnvSource {
        local_object_reference => inline,
        optional => "optional" ptr,
    }
    corev1::SecretKeySelector {
        local_object_reference => inline,
        key => "key" always,
        optional => "optional" ptr,
    }
    corev1::SecretProjection {
        local_object_reference => inline,
        items => "items",
        optional => "optional" ptr,
    }
    corev1::SecretVolumeSource {
        secret_name => "secretName",
        items => "items",
        default_mode => "defaultMode" ptr,
        optional => "optional" ptr,
    }
    corev1::SecurityContext {
        capabilities => "capabilities" ptr,
        privileged => "privileged" ptr,
        se_linux_options => "seLinuxOptions" ptr,
        windows_options => "windowsOptions" ptr,
        run_as_user => "runAsUser" ptr,
        run_as_group => "runAsGroup" ptr,
        run_as_non_root => "runAsNonRoot" ptr,
        read_only_root_filesystem => "readOnlyRootFilesystem" ptr,
        allow_privilege_escalation => "allowPrivilegeEscalation" ptr,
        proc_mount => "procMount" ptr,
        seccomp_profile => "seccompProfile" ptr,
        app_armor_profile => "appArmorProfile" ptr,
    }
    corev1::Service {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    corev1::ServiceAccount {
        metadata => "metadata" always,
        secrets => "secrets",
        image_pull_secrets => "imagePullSecrets",
        automount_service_account_token => "automountServiceAccountToken" ptr,
    }
    corev1::ServiceAccountTokenProjection {
        audience => "audience",
        expiration_seconds => "expirationSeconds" ptr,
        path => "path" always,
    }
    corev1::ServicePort {
        name => "name",
        protocol => "protocol",
        app_protocol => "appProtocol" ptr,
        port => "port" always,
        target_port => "targetPort" always,
        node_port => "nodePort",
    }
    corev1::ServiceSpec {
        ports => "ports",
        selector => "selector",
        cluster_ip => "clusterIP",
        cluster_ips => "clusterIPs",
        r#type => "type",
        external_ips => "externalIPs",
        session_affinity => "sessionAffinity",
        load_balancer_ip => "loadBalancerIP",
        load_balancer_source_ranges => "loadBalancerSourceRanges",
        external_name => "externalName",
        external_traffic_policy => "externalTrafficPolicy",
        health_check_node_port => "healthCheckNodePort",
        publish_not_ready_addresses => "publishNotReadyAddresses",
        session_affinity_config => "sessionAffinityConfig" ptr,
        ip_families => "ipFamilies",
        ip_family_policy => "ipFamilyPolicy" ptr,
        allocate_load_balancer_node_ports => "allocateLoadBalancerNodePorts" ptr,
        load_balancer_class => "loadBalancerClass" ptr,
        internal_traffic_policy => "internalTrafficPolicy" ptr,
        traffic_distribution => "trafficDistribution" ptr,
    }
    corev1::ServiceStatus {
        load_balancer => "loadBalancer" always,
        conditions => "conditions",
    }
    corev1::SessionAffinityConfig {
        client_ip => "clientIP" ptr,
    }
    corev1::SleepAction {
        seconds => "seconds" always,
    }
    corev1::StorageOsVolumeSource {
        volume_name => "volumeName",
        volume_namespace => "volumeNamespace",
        fs_type => "fsType",
        read_only => "readOnly",
        secret_ref => "secretRef" ptr,
    }
    corev1::Sysctl {
        name => "name" always,
        value => "value" always,
    }
    corev1::Taint {
        key => "key" always,
        value => "value",
        effect => "effect" always,
        time_added => "timeAdded" ptr,
    }
    corev1::TcpSocketAction {
        port => "port" always,
        host => "host",
    }
    corev1::Toleration {
        key => "key",
        operator => "operator",
        value => "value",
        effect => "effect",
        toleration_seconds => "tolerationSeconds" ptr,
    }
    corev1::TopologySpreadConstraint {
        max_skew => "maxSkew" always,
        topology_key => "topologyKey" always,
        when_unsatisfiable => "whenUnsatisfiable" always,
        label_selector => "labelSelector" ptr,
        min_domains => "minDomains" ptr,
        node_affinity_policy => "nodeAffinityPolicy" ptr,
        node_taints_policy => "nodeTaintsPolicy" ptr,
        match_label_keys => "matchLabelKeys",
    }
    corev1::TypedLocalObjectReference {
        api_group => "apiGroup" nullable,
        kind => "kind" always,
        name => "name" always,
    }
    corev1::TypedObjectReference {
        api_group => "apiGroup" nullable,
        kind => "kind" always,
        name => "name" always,
        namespace => "namespace" ptr,
    }
    corev1::Volume {
        name => "name" always,
        volume_source => inline,
    }
    corev1::VolumeDevice {
        name => "name" always,
        device_path => "devicePath" always,
    }
    corev1::VolumeMount {
        name => "name" always,
        read_only => "readOnly",
        recursive_read_only => "recursiveReadOnly" ptr,
        mount_path => "mountPath" always,
        sub_path => "subPath",
        mount_propagation => "mountPropagation" ptr,
        sub_path_expr => "subPathExpr",
    }
    corev1::VolumeMountStatus {
        name => "name" always,
        mount_path => "mountPath" always,
        read_only => "readOnly",
        recursive_read_only => "recursiveReadOnly" ptr,
    }
    corev1::VolumeProjection {
        secret => "secret" ptr,
        downward_api => "downwardAPI" ptr,
        config_map => "configMap" ptr,
        service_account_token => "serviceAccountToken" ptr,
        cluster_trust_bundle => "clusterTrustBundle" ptr,
        pod_certificate => "podCertificate" ptr,
    }
    corev1::VolumeResourceRequirements {
        limits => "limits",
        requests => "requests",
    }
    corev1::VolumeSource {
        host_path => "hostPath" ptr,
        empty_dir => "emptyDir" ptr,
        gce_persistent_disk => "gcePersistentDisk" ptr,
        aws_elastic_block_store => "awsElasticBlockStore" ptr,
        git_repo => "gitRepo" ptr,
        secret => "secret" ptr,
        nfs => "nfs" ptr,
        iscsi => "iscsi" ptr,
        glusterfs => "glusterfs" ptr,
        persistent_volume_claim => "persistentVolumeClaim" ptr,
        rbd => "rbd" ptr,
        flex_volume => "flexVolume" ptr,
        cinder => "cinder" ptr,
        cephfs => "cephfs" ptr,
        flocker => "flocker" ptr,
        downward_api => "downwardAPI" ptr,
        fc => "fc" ptr,
        azure_file => "azureFile" ptr,
        config_map => "configMap" ptr,
        vsphere_volume => "vsphereVolume" ptr,
        quobyte => "quobyte" ptr,
        azure_disk => "azureDisk" ptr,
        photon_persistent_disk => "photonPersistentDisk" ptr,
        projected => "projected" ptr,
        portworx_volume => "portworxVolume" ptr,
        scale_io => "scaleIO" ptr,
        storageos => "storageos" ptr,
        csi => "csi" ptr,
        ephemeral => "ephemeral" ptr,
        image => "image" ptr,
    }
    corev1::VsphereVirtualDiskVolumeSource {
        volume_path => "volumePath" always,
        fs_type => "fsType",
        storage_policy_name => "storagePolicyName",
        storage_policy_id => "storagePolicyID",
    }
    corev1::WeightedPodAffinityTerm {
        weight => "weight" always,
        pod_affinity_term => "podAffinityTerm" always,
    }
    corev1::WindowsSecurityContextOptions {
        gmsa_credential_spec_name => "gmsaCredentialSpecName" ptr,
        gmsa_credential_spec => "gmsaCredentialSpec" ptr,
        run_as_user_name => "runAsUserName" ptr,
        host_process => "hostProcess" ptr,
    }
    corev1::WorkloadReference {
        name => "name" always,
        pod_group => "podGroup" always,
        pod_group_replica_key => "podGroupReplicaKey",
    }
    // apps/v1
    appsv1::ControllerRevision {
        metadata => "metadata" always,
        data => "data" always,
        revision => "revision" always,
    }
    appsv1::DaemonSet {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    appsv1::DaemonSetCondition {
        r#type => "type" always,
        status => "status" always,
        last_transition_time => "lastTransitionTime" always,
        reason => "reason",
        message => "message",
    }
    appsv1::DaemonSetSpec {
        selector => "selector" nullable,
        template => "template" always,
        update_strategy => "updateStrategy" always,
        min_ready_seconds => "minReadySeconds",
        revision_history_limit => "revisionHistoryLimit" ptr,
    }
    appsv1::DaemonSetStatus {
        current_number_scheduled => "currentNumberScheduled" always,
        number_misscheduled => "numberMisscheduled" always,
        desired_number_scheduled => "desiredNumberScheduled" always,
        number_ready => "numberReady" always,
        observed_generation => "observedGeneration",
        updated_number_scheduled => "updatedNumberScheduled",
        number_available => "numberAvailable",
        number_unavailable => "numberUnavailable",
        collision_count => "collisionCount" ptr,
        conditions => "conditions",
    }
    appsv1::DaemonSetUpdateStrategy {
        r#type => "type",
        rolling_update => "rollingUpdate" ptr,
    }
    appsv1::Deployment {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    appsv1::DeploymentCondition {
        r#type => "type" always,
        status => "status" always,
        last_update_time => "lastUpdateTime" always,
        last_transition_time => "lastTransitionTime" always,
        reason => "reason",
        message => "message",
    }
    appsv1::DeploymentSpec {
        replicas => "replicas" ptr,
        selector => "selector" nullable,
        template => "template" always,
        strategy => "strategy" always,
        min_ready_seconds => "minReadySeconds",
        revision_history_limit => "revisionHistoryLimit" ptr,
        paused => "paused",
        progress_deadline_seconds => "progressDeadlineSeconds" ptr,
    }
    appsv1::DeploymentStatus {
        observed_generation => "observedGeneration",
        replicas => "replicas",
        updated_replicas => "updatedReplicas",
        ready_replicas => "readyReplicas",
        available_replicas => "availableReplicas",
        unavailable_replicas => "unavailableReplicas",
        terminating_replicas => "terminatingReplicas" ptr,
        conditions => "conditions",
        collision_count => "collisionCount" ptr,
    }
    appsv1::DeploymentStrategy {
        r#type => "type",
        rolling_update => "rollingUpdate" ptr,
    }
    appsv1::ReplicaSet {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    appsv1::ReplicaSetCondition {
        r#type => "type" always,
        status => "status" always,
        last_transition_time => "lastTransitionTime" always,
        reason => "reason",
        message => "message",
    }
    appsv1::ReplicaSetSpec {
        replicas => "replicas" ptr,
        min_ready_seconds => "minReadySeconds",
        selector => "selector" nullable,
        template => "template" always,
    }
    appsv1::ReplicaSetStatus {
        replicas => "replicas" always,
        fully_labeled_replicas => "fullyLabeledReplicas",
        ready_replicas => "readyReplicas",
        available_replicas => "availableReplicas",
        terminating_replicas => "terminatingReplicas" ptr,
        observed_generation => "observedGeneration",
        conditions => "conditions",
    }
    appsv1::RollingUpdateDaemonSet {
        max_unavailable => "maxUnavailable" ptr,
        max_surge => "maxSurge" ptr,
    }
    appsv1::RollingUpdateDeployment {
        max_unavailable => "maxUnavailable" ptr,
        max_surge => "maxSurge" ptr,
    }
    appsv1::RollingUpdateStatefulSetStrategy {
        partition => "partition" ptr,
        max_unavailable => "maxUnavailable" ptr,
    }
    appsv1::StatefulSet {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    appsv1::StatefulSetCondition {
        r#type => "type" always,
        status => "status" always,
        last_transition_time => "lastTransitionTime" always,
        reason => "reason",
        message => "message",
    }
    appsv1::StatefulSetOrdinals {
        start => "start" always,
    }
    appsv1::StatefulSetPersistentVolumeClaimRetentionPolicy {
        when_deleted => "whenDeleted",
        when_scaled => "whenScaled",
    }
    appsv1::StatefulSetSpec {
        replicas => "replicas" ptr,
        selector => "selector" nullable,
        template => "template" always,
        volume_claim_templates => "volumeClaimTemplates",
        service_name => "serviceName" always,
        pod_management_policy => "podManagementPolicy",
        update_strategy => "updateStrategy" always,
        revision_history_limit => "revisionHistoryLimit" ptr,
        min_ready_seconds => "minReadySeconds",
        persistent_volume_claim_retention_policy => "persistentVolumeClaimRetentionPolicy" ptr,
        ordinals => "ordinals" ptr,
    }
    appsv1::StatefulSetStatus {
        observed_generation => "observedGeneration",
        replicas => "replicas" always,
        ready_replicas => "readyReplicas",
        current_replicas => "currentReplicas",
        updated_replicas => "updatedReplicas",
        current_revision => "currentRevision",
        update_revision => "updateRevision",
        collision_count => "collisionCount" ptr,
        conditions => "conditions",
        available_replicas => "availableReplicas" always,
    }
    appsv1::StatefulSetUpdateStrategy {
        r#type => "type",
        rolling_update => "rollingUpdate" ptr,
    }
    // batch/v1
    batchv1::CronJob {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    batchv1::CronJobSpec {
        schedule => "schedule" always,
        time_zone => "timeZone" ptr,
        starting_deadline_seconds => "startingDeadlineSeconds" ptr,
        concurrency_policy => "concurrencyPolicy",
        suspend => "suspend" ptr,
        job_template => "jobTemplate" always,
        successful_jobs_history_limit => "successfulJobsHistoryLimit" ptr,
        failed_jobs_history_limit => "failedJobsHistoryLimit" ptr,
    }
    batchv1::CronJobStatus {
        active => "active",
        last_schedule_time => "lastScheduleTime" ptr,
        last_successful_time => "lastSuccessfulTime" ptr,
    }
    batchv1::Job {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    batchv1::JobCondition {
        r#type => "type" always,
        status => "status" always,
        last_probe_time => "lastProbeTime" always,
        last_transition_time => "lastTransitionTime" always,
        reason => "reason",
        message => "message",
    }
    batchv1::JobSpec {
        parallelism => "parallelism" ptr,
        completions => "completions" ptr,
        active_deadline_seconds => "activeDeadlineSeconds" ptr,
        pod_failure_policy => "podFailurePolicy" ptr,
        success_policy => "successPolicy" ptr,
        backoff_limit => "backoffLimit" ptr,
        backoff_limit_per_index => "backoffLimitPerIndex" ptr,
        max_failed_indexes => "maxFailedIndexes" ptr,
        selector => "selector" ptr,
        manual_selector => "manualSelector" ptr,
        template => "template" always,
        ttl_seconds_after_finished => "ttlSecondsAfterFinished" ptr,
        completion_mode => "completionMode" ptr,
        suspend => "suspend" ptr,
        pod_replacement_policy => "podReplacementPolicy" ptr,
        managed_by => "managedBy" ptr,
    }
    batchv1::JobStatus {
        conditions => "conditions",
        start_time => "startTime" ptr,
        completion_time => "completionTime" ptr,
        active => "active",
        succeeded => "succeeded",
        failed => "failed",
        terminating => "terminating" ptr,
        completed_indexes => "completedIndexes",
        failed_indexes => "failedIndexes" ptr,
        uncounted_terminated_pods => "uncountedTerminatedPods" ptr,
        ready => "ready" ptr,
    }
    batchv1::JobTemplateSpec {
        metadata => "metadata" always,
        spec => "spec" always,
    }
    batchv1::PodFailurePolicy {
        rules => "rules" always,
    }
    batchv1::PodFailurePolicyOnExitCodesRequirement {
        container_name => "containerName" ptr,
        operator => "operator" always,
        values => "values" always,
    }
    batchv1::PodFailurePolicyOnPodConditionsPattern {
        r#type => "type" always,
        status => "status" always,
    }
    batchv1::PodFailurePolicyRule {
        action => "action" always,
        on_exit_codes => "onExitCodes" ptr,
        on_pod_conditions => "onPodConditions",
    }
    batchv1::SuccessPolicy {
        rules => "rules" always,
    }
    batchv1::SuccessPolicyRule {
        succeeded_indexes => "succeededIndexes" ptr,
        succeeded_count => "succeededCount" ptr,
    }
    batchv1::UncountedTerminatedPods {
        succeeded => "succeeded",
        failed => "failed",
    }
    // rbac/v1
    rbacv1::AggregationRule {
        cluster_role_selectors => "clusterRoleSelectors",
    }
    rbacv1::ClusterRole {
        metadata => "metadata" always,
        rules => "rules" always,
        aggregation_rule => "aggregationRule" ptr,
    }
    rbacv1::ClusterRoleBinding {
        metadata => "metadata" always,
        subjects => "subjects",
        role_ref => "roleRef" always,
    }
    rbacv1::PolicyRule {
        verbs => "verbs" always,
        api_groups => "apiGroups",
        resources => "resources",
        resource_names => "resourceNames",
        non_resource_ur_ls => "nonResourceURLs",
    }
    rbacv1::Role {
        metadata => "metadata" always,
        rules => "rules" always,
    }
    rbacv1::RoleBinding {
        metadata => "metadata" always,
        subjects => "subjects",
        role_ref => "roleRef" always,
    }
    rbacv1::RoleRef {
        api_group => "apiGroup" always,
        kind => "kind" always,
        name => "name" always,
    }
    rbacv1::Subject {
        kind => "kind" always,
        api_group => "apiGroup",
        name => "name" always,
        namespace => "namespace",
    }
    // scheduling/v1
    schedulingv1::PriorityClass {
        metadata => "metadata" always,
        value => "value" always,
        global_default => "globalDefault",
        description => "description",
        preemption_policy => "preemptionPolicy" ptr,
    }
    // policy/v1
    policyv1::Eviction {
        metadata => "metadata" always,
        delete_options => "deleteOptions" ptr,
    }
    policyv1::PodDisruptionBudget {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    policyv1::PodDisruptionBudgetSpec {
        min_available => "minAvailable" ptr,
        selector => "selector" ptr,
        max_unavailable => "maxUnavailable" ptr,
        unhealthy_pod_eviction_policy => "unhealthyPodEvictionPolicy" ptr,
    }
    policyv1::PodDisruptionBudgetStatus {
        observed_generation => "observedGeneration",
        disrupted_pods => "disruptedPods",
        disruptions_allowed => "disruptionsAllowed" always,
        current_healthy => "currentHealthy" always,
        desired_healthy => "desiredHealthy" always,
        expected_pods => "expectedPods" always,
        conditions => "conditions",
    }
    // networking/v1
    networkingv1::HttpIngressPath {
        path => "path",
        path_type => "pathType" nullable,
        backend => "backend" always,
    }
    networkingv1::HttpIngressRuleValue {
        paths => "paths" always,
    }
    networkingv1::Ingress {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    networkingv1::IngressBackend {
        service => "service" ptr,
        resource => "resource" ptr,
    }
    networkingv1::IngressLoadBalancerIngress {
        ip => "ip",
        hostname => "hostname",
        ports => "ports",
    }
    networkingv1::IngressLoadBalancerStatus {
        ingress => "ingress",
    }
    networkingv1::IngressPortStatus {
        port => "port" always,
        protocol => "protocol" always,
        error => "error" ptr,
    }
    networkingv1::IngressRule {
        host => "host",
        ingress_rule_value => inline,
    }
    networkingv1::IngressRuleValue {
        http => "http" ptr,
    }
    networkingv1::IngressServiceBackend {
        name => "name" always,
        port => "port" always,
    }
    networkingv1::IngressSpec {
        ingress_class_name => "ingressClassName" ptr,
        default_backend => "defaultBackend" ptr,
        tls => "tls",
        rules => "rules",
    }
    networkingv1::IngressStatus {
        load_balancer => "loadBalancer" always,
    }
    networkingv1::IngressTls {
        hosts => "hosts",
        secret_name => "secretName",
    }
    networkingv1::ServiceBackendPort {
        name => "name",
        number => "number",
    }
    // authorization/v1
    authorizationv1::FieldSelectorAttributes {
        raw_selector => "rawSelector",
        requirements => "requirements",
    }
    authorizationv1::LabelSelectorAttributes {
        raw_selector => "rawSelector",
        requirements => "requirements",
    }
    authorizationv1::NonResourceAttributes {
        path => "path",
        verb => "verb",
    }
    authorizationv1::NonResourceRule {
        verbs => "verbs" always,
        non_resource_ur_ls => "nonResourceURLs",
    }
    authorizationv1::ResourceAttributes {
        namespace => "namespace",
        verb => "verb",
        group => "group",
        version => "version",
        resource => "resource",
        subresource => "subresource",
        name => "name",
        field_selector => "fieldSelector" ptr,
        label_selector => "labelSelector" ptr,
    }
    authorizationv1::ResourceRule {
        verbs => "verbs" always,
        api_groups => "apiGroups",
        resources => "resources",
        resource_names => "resourceNames",
    }
    authorizationv1::SelfSubjectAccessReview {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    authorizationv1::SelfSubjectAccessReviewSpec {
        resource_attributes => "resourceAttributes" ptr,
        non_resource_attributes => "nonResourceAttributes" ptr,
    }
    authorizationv1::SelfSubjectRulesReview {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    authorizationv1::SelfSubjectRulesReviewSpec {
        namespace => "namespace",
    }
    authorizationv1::SubjectAccessReviewStatus {
        allowed => "allowed" always,
        denied => "denied",
        reason => "reason",
        evaluation_error => "evaluationError",
    }
    authorizationv1::SubjectRulesReviewStatus {
        resource_rules => "resourceRules" always,
        non_resource_rules => "nonResourceRules" always,
        incomplete => "incomplete" always,
        evaluation_error => "evaluationError",
    }
    // authentication/v1
    authenticationv1::BoundObjectReference {
        kind => "kind",
        api_version => "apiVersion",
        name => "name",
        u_id => "uid",
    }
    authenticationv1::SelfSubjectReview {
        metadata => "metadata" always,
        status => "status" always,
    }
    authenticationv1::SelfSubjectReviewStatus {
        user_info => "userInfo" always,
    }
    authenticationv1::TokenRequest {
        metadata => "metadata" always,
        spec => "spec" always,
        status => "status" always,
    }
    authenticationv1::TokenRequestSpec {
        audiences => "audiences" always,
        expiration_seconds => "expirationSeconds" nullable,
        bound_object_ref => "boundObjectRef" nullable,
    }
    authenticationv1::TokenRequestStatus {
        token => "token" always,
        expiration_timestamp => "expirationTimestamp" always,
    }
    authenticationv1::UserInfo {
        username => "username",
        uid => "uid",
        groups => "groups",
        extra => "extra",
    }
    // coordination/v1
    coordinationv1::Lease {
        metadata => "metadata" always,
        spec => "spec" always,
    }
    coordinationv1::LeaseSpec {
        holder_identity => "holderIdentity" ptr,
        lease_duration_seconds => "leaseDurationSeconds" ptr,
        acquire_time => "acquireTime" ptr,
        renew_time => "renewTime" ptr,
        lease_transitions => "leaseTransitions" ptr,
        strategy => "strategy" ptr,
        preferred_holder => "preferredHolder" ptr,
    }
    // discovery/v1
    discoveryv1::Endpoint {
        addresses => "addresses" always,
        conditions => "conditions" always,
        hostname => "hostname" ptr,
        target_ref => "targetRef" ptr,
        deprecated_topology => "deprecatedTopology",
        node_name => "nodeName" ptr,
        zone => "zone" ptr,
        hints => "hints" ptr,
    }
    discoveryv1::EndpointConditions {
        ready => "ready" ptr,
        serving => "serving" ptr,
        terminating => "terminating" ptr,
    }
    discoveryv1::EndpointHints {
        for_zones => "forZones",
        for_nodes => "forNodes",
    }
    discoveryv1::EndpointPort {
        name => "name" ptr,
        protocol => "protocol" ptr,
        port => "port" ptr,
        app_protocol => "appProtocol" ptr,
    }
    discoveryv1::EndpointSlice {
        metadata => "metadata" always,
        address_type => "addressType" always,
        endpoints => "endpoints" always,
        ports => "ports" always,
    }
    discoveryv1::ForNode {
        name => "name" always,
    }
    discoveryv1::ForZone {
        name => "name" always,
    }
    // events/v1
    eventsv1::Event {
        metadata => "metadata" always,
        event_time => "eventTime" always,
        series => "series" ptr,
        reporting_controller => "reportingController",
        reporting_instance => "reportingInstance",
        action => "action",
        reason => "reason",
        regarding => "regarding" always,
        related => "related" ptr,
        note => "note",
        r#type => "type",
        deprecated_source => "deprecatedSource" always,
        deprecated_first_timestamp => "deprecatedFirstTimestamp" always,
        deprecated_last_timestamp => "deprecatedLastTimestamp" always,
        deprecated_count => "deprecatedCount",
    }
    eventsv1::EventSeries {
        count => "count" always,
        last_observed_time => "lastObservedTime" always,
    }
    // apimachinery/pkg/apis/meta/v1
    metav1::Condition {
        r#type => "type" always,
        status => "status" always,
        observed_generation => "observedGeneration",
        last_transition_time => "lastTransitionTime" always,
        reason => "reason" always,
        message => "message" always,
    }
    metav1::DeleteOptions {
        grace_period_seconds => "gracePeriodSeconds" ptr,
        preconditions => "preconditions" ptr,
        orphan_dependents => "orphanDependents" ptr,
        propagation_policy => "propagationPolicy" ptr,
        dry_run => "dryRun",
        ignore_store_read_error_with_cluster_breaking_potential =>
            "ignoreStoreReadErrorWithClusterBreakingPotential" ptr,
    }
    metav1::FieldSelectorRequirement {
        key => "key" always,
        operator => "operator" always,
        values => "values",
    }
    metav1::LabelSelector {
        match_labels => "matchLabels",
        match_expressions => "matchExpressions",
    }
    metav1::LabelSelectorRequirement {
        key => "key" always,
        operator => "operator" always,
        values => "values",
    }
    metav1::ManagedFieldsEntry {
        manager => "manager",
        operation => "operation",
        api_version => "apiVersion",
        time => "time" ptr,
        fields_type => "fieldsType",
        fields_v1 => "fieldsV1" ptr,
        subresource => "subresource",
    }
    metav1::ObjectMeta {
        name => "name",
        generate_name => "generateName",
        namespace => "namespace",
        self_link => "selfLink",
        uid => "uid",
        resource_version => "resourceVersion",
        generation => "generation",
        // `omitzero` since v0.34; kubectl 1.32 writes the zero time as null.
        creation_timestamp => "creationTimestamp" always,
        deletion_timestamp => "deletionTimestamp" ptr,
        deletion_grace_period_seconds => "deletionGracePeriodSeconds" ptr,
        labels => "labels",
        annotations => "annotations",
        owner_references => "ownerReferences",
        finalizers => "finalizers",
        managed_fields => "managedFields",
    }
    metav1::OwnerReference {
        api_version => "apiVersion" always,
        kind => "kind" always,
        name => "name" always,
        uid => "uid" always,
        controller => "controller" ptr,
        block_owner_deletion => "blockOwnerDeletion" ptr,
    }
    metav1::Preconditions {
        uid => "uid" ptr,
        resource_version => "resourceVersion" ptr,
    }
}

#[cfg(test)]
mod tests {
    //! Each kubectl test builds the message the way kubectl 1.32's generator builds the Go
    //! object (staging/src/k8s.io/kubectl/pkg/cmd/create/*.go, cmd/auth/cani.go), sends it
    //! through the envelope, and compares with the JSON kubectl writes for the same object
    //! (`kubectl create … --dry-run=client -o json` prints the same encoding).

    use super::*;
    use prost::Message as _;
    use serde_json::json;

    /// The body kubectl sends: the magic, then the envelope around the object's encoding.
    fn body(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let envelope = runtime::Unknown {
            type_meta: Some(runtime::TypeMeta {
                api_version: some(api_version),
                kind: some(kind),
            }),
            raw: Some(raw),
            content_encoding: some(""),
            content_type: some(""),
        };
        let mut body = MAGIC.to_vec();
        body.extend(envelope.encode_to_vec());
        body
    }

    /// The JSON decode() makes of an object sent as protobuf.
    fn sent(api_version: &str, kind: &str, object: &impl prost::Message) -> Result<Value, String> {
        decode(&body(api_version, kind, object.encode_to_vec()))
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    /// `ObjectMeta{Name: name}` (and a namespace when kubectl enforces one).
    fn named(name: &str) -> Option<metav1::ObjectMeta> {
        Some(metav1::ObjectMeta {
            name: some(name),
            ..Default::default()
        })
    }

    fn int_or_string(value: i32) -> Option<intstr::IntOrString> {
        Some(intstr::IntOrString {
            r#type: Some(0),
            int_val: Some(value),
            str_val: some(""),
        })
    }

    fn quantity(text: &str) -> resource::Quantity {
        resource::Quantity { string: some(text) }
    }

    /// `kubectl create namespace ns`.
    #[test]
    fn create_namespace() {
        let namespace = corev1::Namespace {
            metadata: named("ns"),
            ..Default::default()
        };
        assert_eq!(
            sent("v1", "Namespace", &namespace),
            Ok(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "ns", "creationTimestamp": null},
                "spec": {}, "status": {},
            }))
        );
    }

    /// `kubectl create deployment web --image=nginx --replicas=2 --port=80`.
    #[test]
    fn create_deployment() {
        let app = labels(&[("app", "web")]);
        let deployment = appsv1::Deployment {
            metadata: Some(metav1::ObjectMeta {
                name: some("web"),
                labels: app.clone(),
                ..Default::default()
            }),
            spec: Some(appsv1::DeploymentSpec {
                replicas: Some(2),
                selector: Some(metav1::LabelSelector {
                    match_labels: app.clone(),
                    ..Default::default()
                }),
                template: Some(corev1::PodTemplateSpec {
                    metadata: Some(metav1::ObjectMeta {
                        labels: app,
                        ..Default::default()
                    }),
                    spec: Some(corev1::PodSpec {
                        containers: vec![corev1::Container {
                            name: some("nginx"),
                            image: some("nginx"),
                            ports: vec![corev1::ContainerPort {
                                container_port: Some(80),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            status: None,
        };
        assert_eq!(
            sent("apps/v1", "Deployment", &deployment),
            Ok(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                        "spec": {
                            "containers": [{
                                "name": "nginx",
                                "image": "nginx",
                                "ports": [{"containerPort": 80}],
                                "resources": {},
                            }],
                        },
                    },
                    "strategy": {},
                },
                "status": {},
            }))
        );
    }

    /// Go writes every value field to protobuf, zero or not, and a pointer only when set:
    /// zero values of `omitempty` fields go, set pointers stay even when 0 or false.
    #[test]
    fn zero_values_as_go_encodes_them() {
        let spec = corev1::PodSpec {
            containers: vec![corev1::Container {
                name: some("c"),
                image: some(""),
                stdin: Some(false),
                ports: vec![corev1::ContainerPort {
                    name: some(""),
                    host_port: Some(0),
                    container_port: Some(80),
                    protocol: some(""),
                    host_ip: some(""),
                }],
                resources: Some(corev1::ResourceRequirements::default()),
                ..Default::default()
            }],
            restart_policy: some(""),
            host_network: Some(false),
            termination_grace_period_seconds: Some(0),
            automount_service_account_token: Some(false),
            ..Default::default()
        };
        let deployment = appsv1::Deployment {
            metadata: Some(metav1::ObjectMeta {
                name: some("web"),
                namespace: some(""),
                generation: Some(0),
                creation_timestamp: Some(metav1::Time::default()),
                ..Default::default()
            }),
            spec: Some(appsv1::DeploymentSpec {
                replicas: Some(0),
                min_ready_seconds: Some(0),
                paused: Some(false),
                template: Some(corev1::PodTemplateSpec {
                    metadata: None,
                    spec: Some(spec),
                }),
                ..Default::default()
            }),
            status: Some(appsv1::DeploymentStatus::default()),
        };
        assert_eq!(
            sent("apps/v1", "Deployment", &deployment),
            Ok(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "creationTimestamp": null},
                "spec": {
                    "replicas": 0,
                    "selector": null,
                    "template": {
                        "metadata": {"creationTimestamp": null},
                        "spec": {
                            "containers": [{
                                "name": "c",
                                "ports": [{"containerPort": 80}],
                                "resources": {},
                            }],
                            "terminationGracePeriodSeconds": 0,
                            "automountServiceAccountToken": false,
                        },
                    },
                    "strategy": {},
                },
                "status": {},
            }))
        );
    }

    /// `kubectl create secret generic s --from-literal=a=b`.
    #[test]
    fn create_secret_generic() {
        let secret = corev1::Secret {
            metadata: named("s"),
            r#type: some(""),
            data: [("a".to_owned(), b"b".to_vec())].into(),
            ..Default::default()
        };
        assert_eq!(
            sent("v1", "Secret", &secret),
            Ok(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s", "creationTimestamp": null},
                "data": {"a": "Yg=="},
            }))
        );
    }

    /// `kubectl create secret tls t --cert=… --key=…`: `type` and binary data.
    #[test]
    fn create_secret_tls() {
        let secret = corev1::Secret {
            metadata: named("t"),
            r#type: some("kubernetes.io/tls"),
            data: [
                ("tls.crt".to_owned(), vec![0xff, 0x00, 0x10]),
                ("tls.key".to_owned(), b"key".to_vec()),
            ]
            .into(),
            ..Default::default()
        };
        assert_eq!(
            sent("v1", "Secret", &secret),
            Ok(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "t", "creationTimestamp": null},
                "data": {"tls.crt": "/wAQ", "tls.key": "a2V5"},
                "type": "kubernetes.io/tls",
            }))
        );
    }

    /// `kubectl create configmap cm --from-literal=k=v --from-file=bin` (a non-UTF-8 file).
    #[test]
    fn create_configmap() {
        let config_map = corev1::ConfigMap {
            metadata: named("cm"),
            data: labels(&[("k", "v")]),
            binary_data: [("bin".to_owned(), vec![0xde, 0xad])].into(),
            immutable: None,
        };
        assert_eq!(
            sent("v1", "ConfigMap", &config_map),
            Ok(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cm", "creationTimestamp": null},
                "data": {"k": "v"},
                "binaryData": {"bin": "3q0="},
            }))
        );
    }

    /// `kubectl create service clusterip svc --tcp=80:8080`.
    #[test]
    fn create_service_clusterip() {
        let service = corev1::Service {
            metadata: Some(metav1::ObjectMeta {
                name: some("svc"),
                labels: labels(&[("app", "svc")]),
                ..Default::default()
            }),
            spec: Some(corev1::ServiceSpec {
                ports: vec![corev1::ServicePort {
                    name: some("80-8080"),
                    port: Some(80),
                    target_port: int_or_string(8080),
                    protocol: some("TCP"),
                    node_port: Some(0),
                    ..Default::default()
                }],
                selector: labels(&[("app", "svc")]),
                r#type: some("ClusterIP"),
                external_name: some(""),
                ..Default::default()
            }),
            status: None,
        };
        assert_eq!(
            sent("v1", "Service", &service),
            Ok(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "svc", "creationTimestamp": null, "labels": {"app": "svc"}},
                "spec": {
                    "ports": [{
                        "name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080,
                    }],
                    "selector": {"app": "svc"},
                    "type": "ClusterIP",
                },
                "status": {"loadBalancer": {}},
            }))
        );
    }

    /// `kubectl create service nodeport np --tcp=80:http --node-port=30080`: a named target port.
    #[test]
    fn create_service_nodeport() {
        let service = corev1::Service {
            metadata: named("np"),
            spec: Some(corev1::ServiceSpec {
                ports: vec![corev1::ServicePort {
                    name: some("80-http"),
                    port: Some(80),
                    target_port: Some(intstr::IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: some("http"),
                    }),
                    protocol: some("TCP"),
                    node_port: Some(30080),
                    ..Default::default()
                }],
                r#type: some("NodePort"),
                ..Default::default()
            }),
            status: None,
        };
        let json = sent("v1", "Service", &service);
        assert_eq!(
            json.map(|json| json["spec"]["ports"].clone()),
            Ok(json!([{
                "name": "80-http", "protocol": "TCP", "port": 80,
                "targetPort": "http", "nodePort": 30080,
            }]))
        );
    }

    /// `kubectl auth can-i delete pods` (in namespace default).
    #[test]
    fn auth_can_i() {
        let review = authorizationv1::SelfSubjectAccessReview {
            metadata: None,
            spec: Some(authorizationv1::SelfSubjectAccessReviewSpec {
                resource_attributes: Some(authorizationv1::ResourceAttributes {
                    namespace: some("default"),
                    verb: some("delete"),
                    group: some(""),
                    resource: some("pods"),
                    subresource: some(""),
                    name: some(""),
                    ..Default::default()
                }),
                non_resource_attributes: None,
            }),
            status: None,
        };
        assert_eq!(
            sent(
                "authorization.k8s.io/v1",
                "SelfSubjectAccessReview",
                &review
            ),
            Ok(json!({
                "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "metadata": {"creationTimestamp": null},
                "spec": {
                    "resourceAttributes": {
                        "namespace": "default", "verb": "delete", "resource": "pods",
                    },
                },
                "status": {"allowed": false},
            }))
        );
    }

    /// `kubectl auth can-i get /logs`: non-resource attributes.
    #[test]
    fn auth_can_i_non_resource() {
        let review = authorizationv1::SelfSubjectAccessReview {
            spec: Some(authorizationv1::SelfSubjectAccessReviewSpec {
                resource_attributes: None,
                non_resource_attributes: Some(authorizationv1::NonResourceAttributes {
                    path: some("/logs"),
                    verb: some("get"),
                }),
            }),
            ..Default::default()
        };
        let json = sent(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            &review,
        );
        assert_eq!(
            json.map(|json| json["spec"].clone()),
            Ok(json!({"nonResourceAttributes": {"path": "/logs", "verb": "get"}}))
        );
    }

    /// `kubectl create token build-robot`: the pointers without omitempty are `null`.
    #[test]
    fn create_token() {
        let request = authenticationv1::TokenRequest {
            spec: Some(authenticationv1::TokenRequestSpec::default()),
            ..Default::default()
        };
        assert_eq!(
            sent("authentication.k8s.io/v1", "TokenRequest", &request),
            Ok(json!({
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "metadata": {"creationTimestamp": null},
                "spec": {"audiences": null, "expirationSeconds": null, "boundObjectRef": null},
                "status": {"token": "", "expirationTimestamp": null},
            }))
        );
    }

    /// `kubectl create token build-robot --duration=1h --audience=a --bound-object-kind=Pod …`.
    #[test]
    fn create_token_bound() {
        let request = authenticationv1::TokenRequest {
            spec: Some(authenticationv1::TokenRequestSpec {
                audiences: strings(&["a"]),
                expiration_seconds: Some(3600),
                bound_object_ref: Some(authenticationv1::BoundObjectReference {
                    kind: some("Pod"),
                    api_version: some("v1"),
                    name: some("p"),
                    u_id: some(""),
                }),
            }),
            ..Default::default()
        };
        let json = sent("authentication.k8s.io/v1", "TokenRequest", &request);
        assert_eq!(
            json.map(|json| json["spec"].clone()),
            Ok(json!({
                "audiences": ["a"],
                "expirationSeconds": 3600,
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"},
            }))
        );
    }

    /// `kubectl create cronjob c --image=busybox --schedule="*/1 * * * *"`.
    #[test]
    fn create_cronjob() {
        let cron_job = batchv1::CronJob {
            metadata: named("c"),
            spec: Some(batchv1::CronJobSpec {
                schedule: some("*/1 * * * *"),
                job_template: Some(batchv1::JobTemplateSpec {
                    metadata: named("c"),
                    spec: Some(batchv1::JobSpec {
                        template: Some(corev1::PodTemplateSpec {
                            metadata: None,
                            spec: Some(corev1::PodSpec {
                                containers: vec![corev1::Container {
                                    name: some("c"),
                                    image: some("busybox"),
                                    ..Default::default()
                                }],
                                restart_policy: some("OnFailure"),
                                ..Default::default()
                            }),
                        }),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            status: None,
        };
        assert_eq!(
            sent("batch/v1", "CronJob", &cron_job),
            Ok(json!({
                "apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": "c", "creationTimestamp": null},
                "spec": {
                    "schedule": "*/1 * * * *",
                    "jobTemplate": {
                        "metadata": {"name": "c", "creationTimestamp": null},
                        "spec": {
                            "template": {
                                "metadata": {"creationTimestamp": null},
                                "spec": {
                                    "containers": [{
                                        "name": "c", "image": "busybox", "resources": {},
                                    }],
                                    "restartPolicy": "OnFailure",
                                },
                            },
                        },
                    },
                },
                "status": {},
            }))
        );
    }

    /// `kubectl create job j --from=cronjob/c`: an owner reference with `controller: true`.
    #[test]
    fn create_job_from_cronjob() {
        let job = batchv1::Job {
            metadata: Some(metav1::ObjectMeta {
                name: some("j"),
                annotations: labels(&[("cronjob.kubernetes.io/instantiate", "manual")]),
                owner_references: vec![metav1::OwnerReference {
                    api_version: some("batch/v1"),
                    kind: some("CronJob"),
                    name: some("c"),
                    uid: some("0b8d"),
                    controller: Some(true),
                    block_owner_deletion: None,
                }],
                ..Default::default()
            }),
            spec: Some(batchv1::JobSpec {
                backoff_limit: Some(0),
                ..Default::default()
            }),
            status: None,
        };
        let json = sent("batch/v1", "Job", &job);
        assert_eq!(
            json.map(|json| (json["metadata"].clone(), json["spec"].clone())),
            Ok((
                json!({
                    "name": "j",
                    "creationTimestamp": null,
                    "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                    "ownerReferences": [{
                        "apiVersion": "batch/v1", "kind": "CronJob", "name": "c",
                        "uid": "0b8d", "controller": true,
                    }],
                }),
                json!({
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"creationTimestamp": null},
                        "spec": {"containers": null},
                    },
                })
            ))
        );
    }

    /// `kubectl create role pod-reader --verb=get,list --resource=pods`.
    #[test]
    fn create_role() {
        let role = rbacv1::Role {
            metadata: named("pod-reader"),
            rules: vec![rbacv1::PolicyRule {
                verbs: strings(&["get", "list"]),
                api_groups: strings(&[""]),
                resources: strings(&["pods"]),
                ..Default::default()
            }],
        };
        assert_eq!(
            sent("rbac.authorization.k8s.io/v1", "Role", &role),
            Ok(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "pod-reader", "creationTimestamp": null},
                "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}],
            }))
        );
    }

    /// `kubectl create clusterrole agg --aggregation-rule=x=true`: `rules` is a nil slice.
    #[test]
    fn create_clusterrole_aggregated() {
        let cluster_role = rbacv1::ClusterRole {
            metadata: named("agg"),
            rules: Vec::new(),
            aggregation_rule: Some(rbacv1::AggregationRule {
                cluster_role_selectors: vec![metav1::LabelSelector {
                    match_labels: labels(&[("x", "true")]),
                    match_expressions: Vec::new(),
                }],
            }),
        };
        assert_eq!(
            sent("rbac.authorization.k8s.io/v1", "ClusterRole", &cluster_role),
            Ok(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "agg", "creationTimestamp": null},
                "rules": null,
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "true"}}]},
            }))
        );
    }

    /// `kubectl create rolebinding rb --clusterrole=admin --user=alice --serviceaccount=ns:sa`.
    #[test]
    fn create_rolebinding() {
        let binding = rbacv1::RoleBinding {
            metadata: named("rb"),
            subjects: vec![
                rbacv1::Subject {
                    kind: some("User"),
                    api_group: some("rbac.authorization.k8s.io"),
                    name: some("alice"),
                    namespace: some(""),
                },
                rbacv1::Subject {
                    kind: some("ServiceAccount"),
                    api_group: some(""),
                    name: some("sa"),
                    namespace: some("ns"),
                },
            ],
            role_ref: Some(rbacv1::RoleRef {
                api_group: some("rbac.authorization.k8s.io"),
                kind: some("ClusterRole"),
                name: some("admin"),
            }),
        };
        assert_eq!(
            sent("rbac.authorization.k8s.io/v1", "RoleBinding", &binding),
            Ok(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "rb", "creationTimestamp": null},
                "subjects": [
                    {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                    {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
                ],
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin",
                },
            }))
        );
    }

    /// `kubectl create priorityclass high --value=1000 --description=x`.
    #[test]
    fn create_priorityclass() {
        let class = schedulingv1::PriorityClass {
            metadata: named("high"),
            value: Some(1000),
            global_default: Some(false),
            description: some("x"),
            preemption_policy: some("PreemptLowerPriority"),
        };
        assert_eq!(
            sent("scheduling.k8s.io/v1", "PriorityClass", &class),
            Ok(json!({
                "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": "high", "creationTimestamp": null},
                "value": 1000,
                "description": "x",
                "preemptionPolicy": "PreemptLowerPriority",
            }))
        );
    }

    /// `kubectl create quota q --hard=cpu=1,pods=2 --scopes=BestEffort`.
    #[test]
    fn create_quota() {
        let quota = corev1::ResourceQuota {
            metadata: named("q"),
            spec: Some(corev1::ResourceQuotaSpec {
                hard: [
                    ("cpu".to_owned(), quantity("1")),
                    ("pods".to_owned(), quantity("2")),
                ]
                .into(),
                scopes: strings(&["BestEffort"]),
                scope_selector: None,
            }),
            status: None,
        };
        assert_eq!(
            sent("v1", "ResourceQuota", &quota),
            Ok(json!({
                "apiVersion": "v1", "kind": "ResourceQuota",
                "metadata": {"name": "q", "creationTimestamp": null},
                "spec": {"hard": {"cpu": "1", "pods": "2"}, "scopes": ["BestEffort"]},
                "status": {},
            }))
        );
    }

    /// `kubectl create poddisruptionbudget pdb --selector=app=rails --min-available=1`.
    #[test]
    fn create_pdb() {
        let budget = policyv1::PodDisruptionBudget {
            metadata: named("pdb"),
            spec: Some(policyv1::PodDisruptionBudgetSpec {
                min_available: int_or_string(1),
                selector: Some(metav1::LabelSelector {
                    match_labels: labels(&[("app", "rails")]),
                    match_expressions: Vec::new(),
                }),
                ..Default::default()
            }),
            status: None,
        };
        assert_eq!(
            sent("policy/v1", "PodDisruptionBudget", &budget),
            Ok(json!({
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "pdb", "creationTimestamp": null},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "rails"}}},
                "status": {
                    "disruptionsAllowed": 0, "currentHealthy": 0,
                    "desiredHealthy": 0, "expectedPods": 0,
                },
            }))
        );
    }

    /// `kubectl create ingress simple --rule="foo.com/bar*=svc1:8080,tls=my-cert"`: the rule's
    /// IngressRuleValue is inline in Go.
    #[test]
    fn create_ingress() {
        let ingress = networkingv1::Ingress {
            metadata: named("simple"),
            spec: Some(networkingv1::IngressSpec {
                tls: vec![networkingv1::IngressTls {
                    hosts: strings(&["foo.com"]),
                    secret_name: some("my-cert"),
                }],
                rules: vec![networkingv1::IngressRule {
                    host: some("foo.com"),
                    ingress_rule_value: Some(networkingv1::IngressRuleValue {
                        http: Some(networkingv1::HttpIngressRuleValue {
                            paths: vec![networkingv1::HttpIngressPath {
                                path: some("/bar"),
                                path_type: some("Prefix"),
                                backend: Some(networkingv1::IngressBackend {
                                    service: Some(networkingv1::IngressServiceBackend {
                                        name: some("svc1"),
                                        port: Some(networkingv1::ServiceBackendPort {
                                            name: some(""),
                                            number: Some(8080),
                                        }),
                                    }),
                                    resource: None,
                                }),
                            }],
                        }),
                    }),
                }],
                ..Default::default()
            }),
            status: None,
        };
        assert_eq!(
            sent("networking.k8s.io/v1", "Ingress", &ingress),
            Ok(json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "simple", "creationTimestamp": null},
                "spec": {
                    "tls": [{"hosts": ["foo.com"], "secretName": "my-cert"}],
                    "rules": [{
                        "host": "foo.com",
                        "http": {"paths": [{
                            "path": "/bar",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "svc1", "port": {"number": 8080}}},
                        }]},
                    }],
                },
                "status": {"loadBalancer": {}},
            }))
        );
    }

    /// The deeper parts of a pod: an inline probe handler and volume source, a Quantity, an
    /// inline LocalObjectReference, pointer booleans, times.
    #[test]
    fn pod_nested_types() {
        let container = corev1::Container {
            name: some("app"),
            image: some("app:1"),
            env: vec![corev1::EnvVar {
                name: some("MODE"),
                value: some(""),
                value_from: Some(corev1::EnvVarSource {
                    config_map_key_ref: Some(corev1::ConfigMapKeySelector {
                        local_object_reference: Some(corev1::LocalObjectReference {
                            name: some("cm"),
                        }),
                        key: some("mode"),
                        optional: Some(false),
                    }),
                    ..Default::default()
                }),
            }],
            resources: Some(corev1::ResourceRequirements {
                limits: [("memory".to_owned(), quantity("128Mi"))].into(),
                ..Default::default()
            }),
            liveness_probe: Some(corev1::Probe {
                handler: Some(corev1::ProbeHandler {
                    http_get: Some(corev1::HttpGetAction {
                        path: some("/healthz"),
                        port: int_or_string(8080),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                period_seconds: Some(5),
                ..Default::default()
            }),
            security_context: Some(corev1::SecurityContext {
                privileged: Some(false),
                capabilities: Some(corev1::Capabilities {
                    add: Vec::new(),
                    drop: strings(&["ALL"]),
                }),
                ..Default::default()
            }),
            volume_mounts: vec![corev1::VolumeMount {
                name: some("scratch"),
                mount_path: some("/tmp"),
                ..Default::default()
            }],
            ..Default::default()
        };
        let pod = corev1::Pod {
            metadata: Some(metav1::ObjectMeta {
                name: some("p"),
                creation_timestamp: Some(metav1::Time {
                    seconds: Some(1_704_164_645),
                    nanos: Some(9),
                }),
                ..Default::default()
            }),
            spec: Some(corev1::PodSpec {
                containers: vec![container],
                volumes: vec![corev1::Volume {
                    name: some("scratch"),
                    volume_source: Some(corev1::VolumeSource {
                        empty_dir: Some(corev1::EmptyDirVolumeSource::default()),
                        ..Default::default()
                    }),
                }],
                node_name: some("n1"),
                host_ipc: Some(true),
                ..Default::default()
            }),
            status: Some(corev1::PodStatus {
                pod_ips: vec![corev1::PodIp {
                    ip: some("10.0.0.5"),
                }],
                ..Default::default()
            }),
        };
        assert_eq!(
            sent("v1", "Pod", &pod),
            Ok(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "creationTimestamp": "2024-01-02T03:04:05Z"},
                "spec": {
                    "volumes": [{"name": "scratch", "emptyDir": {}}],
                    "containers": [{
                        "name": "app",
                        "image": "app:1",
                        "env": [{
                            "name": "MODE",
                            "valueFrom": {
                                "configMapKeyRef": {"name": "cm", "key": "mode", "optional": false},
                            },
                        }],
                        "resources": {"limits": {"memory": "128Mi"}},
                        "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
                        "livenessProbe": {
                            "httpGet": {"path": "/healthz", "port": 8080},
                            "periodSeconds": 5,
                        },
                        "securityContext": {"capabilities": {"drop": ["ALL"]}, "privileged": false},
                    }],
                    "nodeName": "n1",
                    "hostIPC": true,
                },
                "status": {"podIPs": [{"ip": "10.0.0.5"}]},
            }))
        );
    }

    /// MicroTime keeps microseconds (nanoseconds truncated); Time keeps whole seconds.
    #[test]
    fn lease_micro_time() {
        let lease = coordinationv1::Lease {
            metadata: named("l"),
            spec: Some(coordinationv1::LeaseSpec {
                holder_identity: some("node-1"),
                lease_duration_seconds: Some(40),
                renew_time: Some(metav1::MicroTime {
                    seconds: Some(1_704_164_645),
                    nanos: Some(123_456_789),
                }),
                acquire_time: Some(metav1::MicroTime {
                    seconds: Some(0),
                    nanos: None,
                }),
                ..Default::default()
            }),
        };
        let json = sent("coordination.k8s.io/v1", "Lease", &lease);
        assert_eq!(
            json.map(|json| json["spec"].clone()),
            Ok(json!({
                "holderIdentity": "node-1",
                "leaseDurationSeconds": 40,
                "acquireTime": "1970-01-01T00:00:00.000000Z",
                "renewTime": "2024-01-02T03:04:05.123456Z",
            }))
        );
    }

    /// RawExtension and FieldsV1 carry JSON, embedded as it is.
    #[test]
    fn raw_json() {
        let revision = appsv1::ControllerRevision {
            metadata: Some(metav1::ObjectMeta {
                name: some("r"),
                managed_fields: vec![metav1::ManagedFieldsEntry {
                    manager: some("kubectl"),
                    operation: some("Update"),
                    fields_type: some("FieldsV1"),
                    fields_v1: Some(metav1::FieldsV1 {
                        raw: Some(br#"{"f:data":{}}"#.to_vec()),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            data: Some(runtime::RawExtension {
                raw: Some(br#"{"spec":{"x":1}}"#.to_vec()),
            }),
            revision: Some(3),
        };
        assert_eq!(
            sent("apps/v1", "ControllerRevision", &revision),
            Ok(json!({
                "apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {
                    "name": "r",
                    "creationTimestamp": null,
                    "managedFields": [{
                        "manager": "kubectl", "operation": "Update",
                        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}},
                    }],
                },
                "data": {"spec": {"x": 1}},
                "revision": 3,
            }))
        );
    }

    /// `kubectl auth whoami`'s answer type: ExtraValue is a list.
    #[test]
    fn extra_value_is_a_list() {
        let review = authenticationv1::SelfSubjectReview {
            metadata: None,
            status: Some(authenticationv1::SelfSubjectReviewStatus {
                user_info: Some(authenticationv1::UserInfo {
                    username: some("alice"),
                    extra: [(
                        "scopes".to_owned(),
                        authenticationv1::ExtraValue {
                            items: strings(&["a", "b"]),
                        },
                    )]
                    .into(),
                    ..Default::default()
                }),
            }),
        };
        let json = sent("authentication.k8s.io/v1", "SelfSubjectReview", &review);
        assert_eq!(
            json.map(|json| json["status"].clone()),
            Ok(json!({"userInfo": {"username": "alice", "extra": {"scopes": ["a", "b"]}}}))
        );
    }

    /// Every supported kind decodes, even from an empty message.
    #[test]
    fn every_supported_kind_decodes() {
        for (api_version, kind) in supported() {
            let json = decode(&body(api_version, kind, Vec::new()));
            assert_eq!(
                json.as_ref()
                    .map(|json| (&json["apiVersion"], &json["kind"])),
                Ok((&json!(api_version), &json!(kind))),
                "{api_version} {kind}: {json:?}"
            );
        }
    }

    #[test]
    fn not_protobuf() {
        let not_protobuf = Err(
            "provided data does not appear to be a protobuf message, expected prefix \
             [107 56 115 0]"
                .to_owned(),
        );
        assert_eq!(decode(b""), Err("empty data".to_owned()));
        assert_eq!(decode(b"k8s\0"), Err("empty body".to_owned()));
        assert_eq!(decode(br#"{"kind":"Namespace"}"#), not_protobuf);
        assert_eq!(decode(b"k8s"), not_protobuf);
    }

    #[test]
    fn truncated() {
        let namespace = corev1::Namespace {
            metadata: named("ns"),
            ..Default::default()
        };
        let whole = body("v1", "Namespace", namespace.encode_to_vec());
        // The last 4 bytes are the empty contentEncoding and contentType: cut into `raw`.
        let cut = whole.get(..whole.len() - 5).unwrap_or_default();
        assert_eq!(decode(cut), Err("unexpected EOF".to_owned()));
        // A raw object cut short inside a well-formed envelope.
        let raw = namespace.encode_to_vec();
        let raw = raw.get(..raw.len() - 1).unwrap_or_default().to_vec();
        assert_eq!(
            decode(&body("v1", "Namespace", raw)),
            Err("unexpected EOF".to_owned())
        );
    }

    /// Other malformed bodies keep prost's description of the fault.
    #[test]
    fn malformed() {
        let error = decode(&body("v1", "Namespace", vec![0x0f]));
        assert!(
            error
                .as_ref()
                .is_err_and(|error| error.contains("invalid wire type value: 7")),
            "{error:?}"
        );
        let error = decode(b"k8s\0\x00");
        assert!(
            error
                .as_ref()
                .is_err_and(|error| error.contains("invalid tag value: 0")),
            "{error:?}"
        );
    }

    #[test]
    fn unknown_kind() {
        assert_eq!(
            decode(&body("v1", "Widget", Vec::new())),
            Err(concat!(
                r#"no kind "Widget" is registered for version "v1" "#,
                r#"in scheme "pkg/api/legacyscheme/scheme.go:30""#,
            )
            .to_owned())
        );
        assert_eq!(
            decode(&body("example.com/v1", "Namespace", Vec::new())),
            Err(concat!(
                r#"no kind "Namespace" is registered for version "example.com/v1" "#,
                r#"in scheme "pkg/api/legacyscheme/scheme.go:30""#,
            )
            .to_owned())
        );
    }

    #[test]
    fn missing_kind_or_version() {
        assert_eq!(
            decode(&body("v1", "", Vec::new())),
            Err(
                r#"Object 'Kind' is missing in 'runtime.TypeMeta{APIVersion:"v1", Kind:""}'"#
                    .to_owned()
            )
        );
        assert_eq!(
            decode(&body("a/b/c", "Pod", Vec::new())),
            Err(concat!(
                "Object 'apiVersion' is missing in ",
                r#"'runtime.TypeMeta{APIVersion:"a/b/c", Kind:"Pod"}'"#,
            )
            .to_owned())
        );
    }

    /// The apiVersion is read as Go parses it: `/v1` is `v1`; `__internal` is not sendable.
    #[test]
    fn api_version_as_go_parses_it() {
        let json = decode(&body("/v1", "Namespace", Vec::new()));
        assert_eq!(json.map(|json| json["apiVersion"].clone()), Ok(json!("v1")));
        assert_eq!(
            decode(&body("apps/__internal", "Deployment", Vec::new())),
            Err(concat!(
                r#"no kind "Deployment" is registered for the internal version of group "apps" "#,
                r#"in scheme "pkg/api/legacyscheme/scheme.go:30""#,
            )
            .to_owned())
        );
    }

    /// A value Go could not write as JSON is refused, with where it is.
    #[test]
    fn unwritable_values() {
        let service = corev1::Service {
            spec: Some(corev1::ServiceSpec {
                ports: vec![corev1::ServicePort {
                    port: Some(80),
                    target_port: Some(intstr::IntOrString {
                        r#type: Some(7),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            sent("v1", "Service", &service),
            Err("spec.ports[0].targetPort: impossible IntOrString.Type".to_owned())
        );
        let quota = corev1::ResourceQuota {
            spec: Some(corev1::ResourceQuotaSpec {
                hard: [("cpu".to_owned(), quantity(""))].into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let error = sent("v1", "ResourceQuota", &quota);
        assert!(
            error.as_ref().is_err_and(|error| {
                error.starts_with(r#"spec.hard["cpu"]: quantities must match"#)
            }),
            "{error:?}"
        );
    }
}
