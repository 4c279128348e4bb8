//! OpenAPI v3 for kubectl: the `/openapi/v3` index and the `/openapi/v3/<gv-path>` documents.
//!
//! # What kubectl 1.32 reads
//!
//! - **`kubectl create -f` / `kubectl apply -f`** validate with `--validate=strict` by default.
//!   For every object, cli-runtime's `queryParamVerifierV3` fetches `/openapi/v3`, follows the
//!   `serverRelativeURL` of the object's group-version, parses that document as a kube-openapi
//!   `spec3.OpenAPI`, and looks for a PATCH operation whose `x-kubernetes-group-version-kind`
//!   (an object `{group, kind, version}`) is the object's GVK. It stops at the *first* such
//!   operation (Go map order, so any of them) and asks whether it has a parameter named
//!   `fieldValidation`. If so, validation is left to the server. If not, or if the document
//!   cannot be had, kubectl falls back to client-side validation with `/openapi/v2`, which this
//!   server does not serve, and prints "error validating data". So every PATCH operation
//!   carrying a GVK (the item path and `/status`, `/scale`, ...) has `fieldValidation`.
//! - **`kubectl explain pods.spec.containers`** (explain v2, the default `plaintext` output)
//!   fetches the same document as a plain JSON map. Its template takes the GVK from the first of
//!   `get/post/put/patch/delete` that carries one on `/<prefix>/<resource>`,
//!   `/<prefix>/<resource>/{name}` or their `namespaces/{namespace}/` forms, picks the
//!   `components.schemas` entry whose `x-kubernetes-group-version-kind` *array* contains exactly
//!   that GVK object, and walks `properties`, `items`, `additionalProperties` and `allOf`,
//!   resolving `$ref`s of the form `#/components/schemas/<name>`. Field descriptions come from
//!   the property schema itself, so a reference with a description is written the way
//!   kube-apiserver 1.32 writes it: `{"description": ..., "allOf": [{"$ref": ...}]}`.
//!   `/openapi/v2` is only read if `/openapi/v3` fails or with `--output plaintext-openapiv2`.
//! - **`kubectl apply -f`** on an object that exists (client-side apply) asks the document
//!   whether the PATCH operation accepts `application/strategic-merge-patch+json`; if it does,
//!   kubectl computes the strategic merge patch from the schemas'
//!   `x-kubernetes-patch-strategy`/`x-kubernetes-patch-merge-key` extensions. The k8s-openapi
//!   schemas lack those extensions, so the PATCH operations here do not list that content type:
//!   kubectl then tries `/openapi/v2` (a 404 is ignored) and builds the patch from its compiled-in
//!   types, which is what it must do to get merge keys right.
//!
//! # Where the schemas come from
//!
//! The `schemars` feature of `k8s-openapi` gives every type a `JsonSchema` impl whose
//! `schema_name()` is the kube definition name (`io.k8s.api.core.v1.Pod`) and whose schema
//! carries the upstream descriptions. A schemars generator set up for OpenAPI 3
//! ([`SchemaSettings::openapi3`]) puts every referenced type under `#/components/schemas/`
//! and, through its `RemoveRefSiblings` transform, wraps described references in `allOf`,
//! exactly as kube-openapi's `WrapRefs` does. This module adds what schemars cannot know: the
//! `x-kubernetes-group-version-kind` of each kind, the `<Kind>List` schemas (k8s-openapi's
//! `List<T>` has no schema), `Patch`, and the `paths`.
//!
//! # Caching
//!
//! Documents are built on first use and cached in this module, per group-version, keyed by
//! that group-version's rows of the resource table, so a changed table gets new documents.
//! Building `api/v1` takes a noticeable time (tens of milliseconds in release), so the
//! api-server may call [`v3_index`] once at start-up to warm the cache. Each call returns a
//! clone of the cached `Value`; a caller wanting to avoid re-serialising may cache the bytes
//! per hash itself.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{DeleteOptions, ListMeta, ObjectMeta, Status};
use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, Schema, SchemaGenerator};
use k8s_openapi::{ListableResource, Resource};
use serde_json::{Map, Value, json};

/// One served resource, as the api-server's resource table has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResourceInfo {
    /// API group; `""` is the core group, served under `/api`.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// Subresources (`status`, `scale`, `binding`, `log`, `exec`, ...).
    pub subresources: &'static [&'static str],
}

/// The /openapi/v3 index for these resources (paths "api/v1", "apis/apps/v1", ... with serverRelativeURL including a stable hash of the document).
///
/// The shape is kube-openapi's `OpenAPIV3Discovery`:
/// `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."}}}`. The hash is
/// a digest of the document's JSON, so it changes exactly when the document does.
pub fn v3_index(resources: &[ResourceInfo]) -> Value {
    let mut gv_paths: Vec<String> = resources.iter().map(gv_path_of).collect();
    gv_paths.sort();
    gv_paths.dedup();
    let mut paths = Map::new();
    for gv_path in gv_paths {
        if let Some(built) = built(resources, &gv_path) {
            let url = format!("/openapi/v3/{gv_path}?hash={}", built.hash);
            paths.insert(gv_path, json!({ "serverRelativeURL": url }));
        }
    }
    json!({ "paths": paths })
}

/// The /openapi/v3/<gv-path> document ("api/v1", "apis/apps/v1"), or None if no resource is in that group version.
///
/// `gv_path` may carry a leading `/` and a query (`?hash=...`), both ignored. The document is
/// OpenAPI 3.0.0 with `paths` for every resource of the group-version and
/// `components.schemas` holding every schema they reach.
pub fn v3_document(resources: &[ResourceInfo], gv_path: &str) -> Option<Value> {
    built(resources, gv_path).map(|built| (*built.document).clone())
}

// ---------------------------------------------------------------------------------------------
// Cache
// ---------------------------------------------------------------------------------------------

/// A built document and what it was built from.
struct Built {
    /// Digest of the rows the document was built from.
    rows_digest: u64,
    /// Digest of the document's JSON, for the index's `hash` parameter.
    hash: String,
    document: Arc<Value>,
}

/// Built documents by canonical gv path (`api/v1`, `apis/apps/v1`).
fn cache() -> &'static Mutex<HashMap<String, Arc<Built>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Built>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The cached document of `gv_path`, built first if needed; `None` if no row is in it.
fn built(resources: &[ResourceInfo], gv_path: &str) -> Option<Arc<Built>> {
    let (group, version) = parse_gv_path(gv_path)?;
    let rows: Vec<&ResourceInfo> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    let key = gv_path_of(rows.first()?);
    let rows_digest = digest_rows(&rows);
    {
        let cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = cache.get(&key)
            && found.rows_digest == rows_digest
        {
            return Some(Arc::clone(found));
        }
    }
    // Built outside the lock so that other group-versions are served meanwhile; two racing
    // builders produce the same document, and the last one stays.
    let document = build_document(&rows);
    let hash = match serde_json::to_vec(&document) {
        Ok(bytes) => format!("{:016X}", fnv1a(&bytes)),
        Err(_) => format!("{rows_digest:016X}"),
    };
    let built = Arc::new(Built {
        rows_digest,
        hash,
        document: Arc::new(document),
    });
    cache()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, Arc::clone(&built));
    Some(built)
}

/// `("", "v1")` for `api/v1`, `("apps", "v1")` for `apis/apps/v1`, else `None`.
fn parse_gv_path(gv_path: &str) -> Option<(&str, &str)> {
    let path = gv_path.split('?').next().unwrap_or_default();
    let path = path.trim_start_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["api", version] if !version.is_empty() => Some(("", version)),
        ["apis", group, version] if !group.is_empty() && !version.is_empty() => {
            Some((group, version))
        }
        _ => None,
    }
}

/// `api/v1` or `apis/<group>/<version>`.
fn gv_path_of(row: &ResourceInfo) -> String {
    if row.group.is_empty() {
        format!("api/{}", row.version)
    } else {
        format!("apis/{}/{}", row.group, row.version)
    }
}

/// FNV-1a, 64 bits: a stable digest (the same across runs and builds, unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A digest of everything in the rows that goes into a document.
fn digest_rows(rows: &[&ResourceInfo]) -> u64 {
    let mut text = String::new();
    for row in rows {
        // Writing to a String cannot fail.
        let _ = writeln!(
            text,
            "{}|{}|{}|{}|{}|{}",
            row.group,
            row.version,
            row.kind,
            row.plural,
            row.namespaced,
            row.subresources.join(",")
        );
    }
    fnv1a(text.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// The kinds k8s-openapi knows
// ---------------------------------------------------------------------------------------------

/// A kind with a schema in k8s-openapi.
struct KnownKind {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    /// The list kind; `None` for kinds that are only ever created (reviews, `Binding`).
    list_kind: Option<&'static str>,
    /// Adds the kind's schema (and all it reaches) to the generator; returns a `$ref` to it.
    generate: fn(&mut SchemaGenerator) -> Schema,
    /// The kind's definition name, e.g. `io.k8s.api.core.v1.Pod`.
    schema_name: fn() -> Cow<'static, str>,
}

impl KnownKind {
    /// A kind that has a list and the usual verbs.
    const fn listable<T: ListableResource + JsonSchema>() -> Self {
        KnownKind {
            group: T::GROUP,
            version: T::VERSION,
            kind: T::KIND,
            list_kind: Some(T::LIST_KIND),
            generate: SchemaGenerator::subschema_for::<T>,
            schema_name: T::schema_name,
        }
    }

    /// A kind that is only created (`create` is its one verb), or a subresource's kind.
    const fn create_only<T: Resource + JsonSchema>() -> Self {
        KnownKind {
            group: T::GROUP,
            version: T::VERSION,
            kind: T::KIND,
            list_kind: None,
            generate: SchemaGenerator::subschema_for::<T>,
            schema_name: T::schema_name,
        }
    }
}

/// Builds the table of known kinds from type paths under `k8s_openapi`.
macro_rules! known_kinds {
    (
        listable: [$($($listable:ident)::+),* $(,)?],
        create_only: [$($($create_only:ident)::+),* $(,)?] $(,)?
    ) => {
        &[
            $(KnownKind::listable::<k8s_openapi::$($listable)::+>(),)*
            $(KnownKind::create_only::<k8s_openapi::$($create_only)::+>(),)*
        ]
    };
}

/// Every top-level kind of k8s-openapi's `v1_33` API (every `ListableResource`, plus the
/// create-only kinds). Rows of the resource table are matched against it by group, version and
/// kind; a row it lacks gets a schema that admits any object.
static KNOWN_KINDS: &[KnownKind] = known_kinds! {
    listable: [
        api::admissionregistration::v1::MutatingWebhookConfiguration,
        api::admissionregistration::v1::ValidatingAdmissionPolicy,
        api::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        api::admissionregistration::v1::ValidatingWebhookConfiguration,
        api::admissionregistration::v1alpha1::MutatingAdmissionPolicy,
        api::admissionregistration::v1alpha1::MutatingAdmissionPolicyBinding,
        api::admissionregistration::v1beta1::ValidatingAdmissionPolicy,
        api::admissionregistration::v1beta1::ValidatingAdmissionPolicyBinding,
        api::apiserverinternal::v1alpha1::StorageVersion,
        api::apps::v1::ControllerRevision,
        api::apps::v1::DaemonSet,
        api::apps::v1::Deployment,
        api::apps::v1::ReplicaSet,
        api::apps::v1::StatefulSet,
        api::autoscaling::v1::HorizontalPodAutoscaler,
        api::autoscaling::v2::HorizontalPodAutoscaler,
        api::batch::v1::CronJob,
        api::batch::v1::Job,
        api::certificates::v1::CertificateSigningRequest,
        api::certificates::v1alpha1::ClusterTrustBundle,
        api::certificates::v1beta1::ClusterTrustBundle,
        api::coordination::v1::Lease,
        api::coordination::v1alpha2::LeaseCandidate,
        api::coordination::v1beta1::LeaseCandidate,
        api::core::v1::ComponentStatus,
        api::core::v1::ConfigMap,
        api::core::v1::Endpoints,
        api::core::v1::Event,
        api::core::v1::LimitRange,
        api::core::v1::Namespace,
        api::core::v1::Node,
        api::core::v1::PersistentVolume,
        api::core::v1::PersistentVolumeClaim,
        api::core::v1::Pod,
        api::core::v1::PodTemplate,
        api::core::v1::ReplicationController,
        api::core::v1::ResourceQuota,
        api::core::v1::Secret,
        api::core::v1::Service,
        api::core::v1::ServiceAccount,
        api::discovery::v1::EndpointSlice,
        api::events::v1::Event,
        api::flowcontrol::v1::FlowSchema,
        api::flowcontrol::v1::PriorityLevelConfiguration,
        api::networking::v1::Ingress,
        api::networking::v1::IngressClass,
        api::networking::v1::IPAddress,
        api::networking::v1::NetworkPolicy,
        api::networking::v1::ServiceCIDR,
        api::networking::v1beta1::IPAddress,
        api::networking::v1beta1::ServiceCIDR,
        api::node::v1::RuntimeClass,
        api::policy::v1::PodDisruptionBudget,
        api::rbac::v1::ClusterRole,
        api::rbac::v1::ClusterRoleBinding,
        api::rbac::v1::Role,
        api::rbac::v1::RoleBinding,
        api::resource::v1alpha3::DeviceClass,
        api::resource::v1alpha3::DeviceTaintRule,
        api::resource::v1alpha3::ResourceClaim,
        api::resource::v1alpha3::ResourceClaimTemplate,
        api::resource::v1alpha3::ResourceSlice,
        api::resource::v1beta1::DeviceClass,
        api::resource::v1beta1::ResourceClaim,
        api::resource::v1beta1::ResourceClaimTemplate,
        api::resource::v1beta1::ResourceSlice,
        api::resource::v1beta2::DeviceClass,
        api::resource::v1beta2::ResourceClaim,
        api::resource::v1beta2::ResourceClaimTemplate,
        api::resource::v1beta2::ResourceSlice,
        api::scheduling::v1::PriorityClass,
        api::storage::v1::CSIDriver,
        api::storage::v1::CSINode,
        api::storage::v1::CSIStorageCapacity,
        api::storage::v1::StorageClass,
        api::storage::v1::VolumeAttachment,
        api::storage::v1alpha1::VolumeAttributesClass,
        api::storage::v1beta1::VolumeAttributesClass,
        api::storagemigration::v1alpha1::StorageVersionMigration,
        apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        kube_aggregator::pkg::apis::apiregistration::v1::APIService,
    ],
    create_only: [
        api::authentication::v1::SelfSubjectReview,
        api::authentication::v1::TokenReview,
        api::authorization::v1::LocalSubjectAccessReview,
        api::authorization::v1::SelfSubjectAccessReview,
        api::authorization::v1::SelfSubjectRulesReview,
        api::authorization::v1::SubjectAccessReview,
        api::core::v1::Binding,
    ],
};

/// The kind of `pods/binding`.
static BINDING: KnownKind = KnownKind::create_only::<k8s_openapi::api::core::v1::Binding>();
/// The kind of `pods/eviction`.
static EVICTION: KnownKind = KnownKind::create_only::<k8s_openapi::api::policy::v1::Eviction>();
/// The kind of `*/scale`.
static SCALE: KnownKind = KnownKind::create_only::<k8s_openapi::api::autoscaling::v1::Scale>();
/// The kind of `serviceaccounts/token`.
static TOKEN_REQUEST: KnownKind =
    KnownKind::create_only::<k8s_openapi::api::authentication::v1::TokenRequest>();

fn known_kind(group: &str, version: &str, kind: &str) -> Option<&'static KnownKind> {
    KNOWN_KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.kind == kind)
}

// ---------------------------------------------------------------------------------------------
// Building a document
// ---------------------------------------------------------------------------------------------

/// Where `$ref`s point.
const SCHEMA_PREFIX: &str = "#/components/schemas/";
const PATCH_SCHEMA: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// The schemas one kind contributes, as the paths refer to them.
struct KindDoc {
    /// `{group, kind, version}`, the operations' `x-kubernetes-group-version-kind`.
    gvk: Value,
    kind: String,
    /// `$ref` to the kind's schema.
    schema_ref: String,
    /// `$ref` to the list schema; `None` for create-only kinds.
    list_ref: Option<String>,
}

/// What is being assembled into one group-version's document.
struct DocBuilder {
    generator: SchemaGenerator,
    /// `$ref`s of the meta types every document uses.
    status_ref: String,
    delete_options_ref: String,
    object_meta_ref: String,
    list_meta_ref: String,
    /// Schemas written here rather than by schemars (lists, fallbacks), by name.
    extra_schemas: Vec<(String, Value)>,
    /// `x-kubernetes-group-version-kind` entries to add, by schema name.
    gvks: Vec<(String, Value)>,
    paths: Map<String, Value>,
}

/// A `$ref` value for a definition name.
fn schema_ref(name: &str) -> String {
    format!("{SCHEMA_PREFIX}{name}")
}

/// The `$ref` a generator call returned, or the one its name implies.
fn ref_of(schema: &Schema, name: &str) -> String {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .map_or_else(|| schema_ref(name), str::to_owned)
}

/// The definition name a `$ref` points to.
fn name_of(reference: &str) -> &str {
    reference.strip_prefix(SCHEMA_PREFIX).unwrap_or(reference)
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({ "group": group, "kind": kind, "version": version })
}

/// `{"$ref": ...}`.
fn ref_schema(reference: &str) -> Value {
    json!({ "$ref": reference })
}

/// A described reference, written the way kube-openapi writes it for OpenAPI 3.0.
fn described_ref(description: &str, reference: &str) -> Value {
    json!({ "description": description, "allOf": [ref_schema(reference)] })
}

impl DocBuilder {
    fn new() -> Self {
        let mut generator = SchemaSettings::openapi3()
            .with(|settings| settings.meta_schema = None)
            .into_generator();
        let status = generator.subschema_for::<Status>();
        let delete_options = generator.subschema_for::<DeleteOptions>();
        let object_meta = generator.subschema_for::<ObjectMeta>();
        let list_meta = generator.subschema_for::<ListMeta>();
        DocBuilder {
            status_ref: ref_of(&status, &Status::schema_name()),
            delete_options_ref: ref_of(&delete_options, &DeleteOptions::schema_name()),
            object_meta_ref: ref_of(&object_meta, &ObjectMeta::schema_name()),
            list_meta_ref: ref_of(&list_meta, &ListMeta::schema_name()),
            generator,
            extra_schemas: Vec::new(),
            gvks: Vec::new(),
            paths: Map::new(),
        }
    }

    /// Generates a known kind's schema (and its list's) and notes its GVK.
    fn known(&mut self, known: &KnownKind) -> KindDoc {
        let generated = (known.generate)(&mut self.generator);
        let name = (known.schema_name)();
        let reference = ref_of(&generated, &name);
        let name = name_of(&reference).to_owned();
        let kind_gvk = gvk(known.group, known.version, known.kind);
        self.gvks.push((name.clone(), kind_gvk.clone()));
        let list_ref = known.list_kind.map(|list_kind| {
            let list_name = match name.strip_suffix(known.kind) {
                Some(stem) => format!("{stem}{list_kind}"),
                None => format!("{name}List"),
            };
            let gvk_of_kind = (known.group, known.version, known.kind);
            self.list_schema(&list_name, &reference, gvk_of_kind, list_kind);
            schema_ref(&list_name)
        });
        KindDoc {
            gvk: kind_gvk,
            kind: known.kind.to_owned(),
            schema_ref: reference,
            list_ref,
        }
    }

    /// A kind k8s-openapi lacks: a schema that admits any object, and its list.
    fn unknown(&mut self, row: &ResourceInfo) -> KindDoc {
        let name = fallback_schema_name(row);
        let reference = schema_ref(&name);
        let schema = json!({
            "description": format!("{} (this server publishes no detailed schema for it).", row.kind),
            "type": "object",
            "properties": {
                "apiVersion": { "description": API_VERSION_DESCRIPTION, "type": "string" },
                "kind": { "description": KIND_DESCRIPTION, "type": "string" },
                "metadata": described_ref(
                    "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
                    &self.object_meta_ref,
                ),
            },
            "x-kubernetes-preserve-unknown-fields": true,
        });
        self.extra_schemas.push((name.clone(), schema));
        let kind_gvk = gvk(row.group, row.version, row.kind);
        self.gvks.push((name.clone(), kind_gvk.clone()));
        let list_kind = format!("{}List", row.kind);
        let list_name = format!("{name}List");
        let gvk_of_kind = (row.group, row.version, row.kind);
        self.list_schema(&list_name, &reference, gvk_of_kind, &list_kind);
        KindDoc {
            gvk: kind_gvk,
            kind: row.kind.to_owned(),
            schema_ref: reference,
            list_ref: Some(schema_ref(&list_name)),
        }
    }

    /// Adds `<Kind>List`, shaped as kube-openapi shapes list types.
    fn list_schema(
        &mut self,
        list_name: &str,
        item_ref: &str,
        (group, version, kind): (&str, &str, &str),
        list_kind: &str,
    ) {
        let schema = json!({
            "description": format!("{list_kind} is a list of {kind} objects."),
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": { "description": API_VERSION_DESCRIPTION, "type": "string" },
                "items": {
                    "description": format!("List of {kind} objects."),
                    "type": "array",
                    "items": ref_schema(item_ref),
                },
                "kind": { "description": KIND_DESCRIPTION, "type": "string" },
                "metadata": described_ref(
                    "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                    &self.list_meta_ref,
                ),
            },
        });
        self.extra_schemas.push((list_name.to_owned(), schema));
        self.gvks
            .push((list_name.to_owned(), gvk(group, version, list_kind)));
    }

    /// Adds the paths of one row: collection, item, all-namespaces list and subresources.
    fn resource(&mut self, row: &ResourceInfo) {
        let doc = match known_kind(row.group, row.version, row.kind) {
            Some(known) => self.known(known),
            None => self.unknown(row),
        };
        let ids = OpIds::new(row);
        let prefix = api_prefix(row);
        let collection = if row.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", row.plural)
        } else {
            format!("{prefix}/{}", row.plural)
        };
        let scope_params = || {
            let mut params = Vec::new();
            if row.namespaced {
                params.push(namespace_param());
            }
            params.push(pretty_param());
            params
        };

        let Some(list_ref) = doc.list_ref.clone() else {
            // Create-only (reviews, bindings): POST on the collection and nothing else.
            let mut coll = Map::new();
            coll.insert("post".into(), create_op(&ids, &doc, ""));
            coll.insert("parameters".into(), Value::Array(scope_params()));
            self.paths.insert(collection, Value::Object(coll));
            return;
        };

        let mut coll = Map::new();
        coll.insert("get".into(), list_op(&ids.id("list", ""), &doc, &list_ref));
        coll.insert("post".into(), create_op(&ids, &doc, ""));
        if !(row.group.is_empty() && row.kind == "Namespace") {
            coll.insert("delete".into(), self.delete_collection_op(&ids, &doc));
        }
        coll.insert("parameters".into(), Value::Array(scope_params()));
        self.paths.insert(collection.clone(), Value::Object(coll));

        let item_path = format!("{collection}/{{name}}");
        let mut item = Map::new();
        item.insert(
            "get".into(),
            operation(
                &ids.id("read", ""),
                format!("read the specified {}", doc.kind),
                "get",
                Some(&doc.gvk),
                Vec::new(),
                None,
                responses(&[("200", "OK")], &doc.schema_ref),
            ),
        );
        let what = format!("the specified {}", doc.kind);
        item.insert(
            "put".into(),
            replace_op(&ids.id("replace", ""), &what, &doc.gvk, &doc.schema_ref),
        );
        item.insert(
            "patch".into(),
            patch_op(&ids.id("patch", ""), &what, &doc.gvk, &doc.schema_ref),
        );
        item.insert("delete".into(), self.delete_op(&ids, &doc));
        item.insert("parameters".into(), Value::Array(item_params(row)));
        self.paths.insert(item_path.clone(), Value::Object(item));

        if row.namespaced {
            let mut all = Map::new();
            all.insert(
                "get".into(),
                list_op(&ids.all_namespaces("list"), &doc, &list_ref),
            );
            all.insert("parameters".into(), json!([pretty_param()]));
            self.paths
                .insert(format!("{prefix}/{}", row.plural), Value::Object(all));
        }

        for sub in row.subresources {
            self.subresource(row, &ids, &doc, &item_path, sub);
        }
    }

    /// Adds `<item>/<sub>`.
    fn subresource(
        &mut self,
        row: &ResourceInfo,
        ids: &OpIds,
        parent: &KindDoc,
        item_path: &str,
        sub: &str,
    ) {
        let suffix = camel(sub);
        let mut path = Map::new();
        match sub {
            // The parent object through another door.
            "status" | "ephemeralcontainers" | "resize" => {
                let what = format!("{sub} of the specified {}", parent.kind);
                path.insert(
                    "get".into(),
                    operation(
                        &ids.id("read", &suffix),
                        format!("read {what}"),
                        "get",
                        Some(&parent.gvk),
                        Vec::new(),
                        None,
                        responses(&[("200", "OK")], &parent.schema_ref),
                    ),
                );
                path.insert(
                    "put".into(),
                    replace_op(
                        &ids.id("replace", &suffix),
                        &what,
                        &parent.gvk,
                        &parent.schema_ref,
                    ),
                );
                path.insert(
                    "patch".into(),
                    patch_op(
                        &ids.id("patch", &suffix),
                        &what,
                        &parent.gvk,
                        &parent.schema_ref,
                    ),
                );
            }
            "finalize" => {
                let what = format!("finalize of the specified {}", parent.kind);
                path.insert(
                    "put".into(),
                    replace_op(
                        &ids.id("replace", &suffix),
                        &what,
                        &parent.gvk,
                        &parent.schema_ref,
                    ),
                );
            }
            "scale" => {
                let scale = self.known(&SCALE);
                let what = format!("scale of the specified {}", parent.kind);
                path.insert(
                    "get".into(),
                    operation(
                        &ids.id("read", &suffix),
                        format!("read {what}"),
                        "get",
                        Some(&scale.gvk),
                        Vec::new(),
                        None,
                        responses(&[("200", "OK")], &scale.schema_ref),
                    ),
                );
                path.insert(
                    "put".into(),
                    replace_op(
                        &ids.id("replace", &suffix),
                        &what,
                        &scale.gvk,
                        &scale.schema_ref,
                    ),
                );
                path.insert(
                    "patch".into(),
                    patch_op(
                        &ids.id("patch", &suffix),
                        &what,
                        &scale.gvk,
                        &scale.schema_ref,
                    ),
                );
            }
            "binding" | "eviction" | "token" => {
                let kind = match sub {
                    "binding" => &BINDING,
                    "eviction" => &EVICTION,
                    _ => &TOKEN_REQUEST,
                };
                let created = self.known(kind);
                path.insert("post".into(), create_op(ids, &created, &suffix));
            }
            "log" => {
                path.insert(
                    "get".into(),
                    json!({
                        "operationId": ids.id("read", &suffix),
                        "description": format!("read log of the specified {}", parent.kind),
                        "responses": {
                            "200": {
                                "description": "OK",
                                "content": { "text/plain": { "schema": { "type": "string" } } },
                            },
                        },
                        "x-kubernetes-action": "get",
                        "x-kubernetes-group-version-kind": parent.gvk,
                    }),
                );
            }
            // exec, attach, portforward, proxy: streaming; kubectl reads nothing of them here.
            _ => {
                for (method, verb) in [("get", "Get"), ("post", "Post")] {
                    path.insert(
                        method.into(),
                        json!({
                            "operationId": ids.connect(verb, &suffix),
                            "description": format!("connect {method} requests to {sub} of {}", parent.kind),
                            "responses": {
                                "200": {
                                    "description": "OK",
                                    "content": { "*/*": { "schema": { "type": "string" } } },
                                },
                            },
                            "x-kubernetes-action": "connect",
                        }),
                    );
                }
            }
        }
        path.insert("parameters".into(), Value::Array(item_params(row)));
        self.paths
            .insert(format!("{item_path}/{sub}"), Value::Object(path));
    }

    fn delete_op(&self, ids: &OpIds, doc: &KindDoc) -> Value {
        let mut params = vec![dry_run_param()];
        params.extend(delete_params());
        let mut responses = responses(&[("200", "OK"), ("202", "Accepted")], &self.status_ref);
        if let Some(map) = responses.as_object_mut() {
            // Kinds with finalizers return the object itself while it is being deleted.
            map.insert("200".into(), response("OK", &doc.schema_ref));
        }
        operation(
            &ids.id("delete", ""),
            format!("delete a {}", doc.kind),
            "delete",
            Some(&doc.gvk),
            params,
            Some(body(&self.delete_options_ref, false)),
            responses,
        )
    }

    fn delete_collection_op(&self, ids: &OpIds, doc: &KindDoc) -> Value {
        let mut params = vec![dry_run_param()];
        params.extend(delete_params());
        params.extend(list_params());
        operation(
            &ids.collection("delete"),
            format!("delete collection of {}", doc.kind),
            "deletecollection",
            Some(&doc.gvk),
            params,
            Some(body(&self.delete_options_ref, false)),
            responses(&[("200", "OK")], &self.status_ref),
        )
    }

    /// The document: paths plus every schema they reach.
    fn finish(self) -> Value {
        let DocBuilder {
            mut generator,
            extra_schemas,
            gvks,
            paths,
            status_ref,
            ..
        } = self;
        let mut schemas = generator.take_definitions(true);
        for (name, schema) in extra_schemas {
            schemas.entry(name).or_insert(schema);
        }
        schemas.entry(PATCH_SCHEMA.to_owned()).or_insert_with(|| {
            json!({
                "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
                "type": "object",
            })
        });
        let mut gvks = gvks;
        gvks.push((name_of(&status_ref).to_owned(), gvk("", "v1", "Status")));
        for (name, entry) in gvks {
            let Some(Value::Object(schema)) = schemas.get_mut(&name) else {
                continue;
            };
            let list = schema
                .entry("x-kubernetes-group-version-kind")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list
                && !list.contains(&entry)
            {
                list.push(entry);
            }
        }
        json!({
            "openapi": "3.0.0",
            "info": { "title": "Kubernetes", "version": "unversioned" },
            "paths": paths,
            "components": { "schemas": schemas },
        })
    }
}

/// One group-version's document.
fn build_document(rows: &[&ResourceInfo]) -> Value {
    let mut builder = DocBuilder::new();
    for row in rows {
        builder.resource(row);
    }
    builder.finish()
}

/// A definition name for a kind k8s-openapi lacks, in the style kube uses for CRDs
/// (`com.example.v1.Widget` for `example.com/v1`).
fn fallback_schema_name(row: &ResourceInfo) -> String {
    if row.group.is_empty() {
        return format!("io.k8s.api.core.{}.{}", row.version, row.kind);
    }
    let reversed: Vec<&str> = row.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), row.version, row.kind)
}

/// `/api/v1` or `/apis/<group>/<version>`.
fn api_prefix(row: &ResourceInfo) -> String {
    format!("/{}", gv_path_of(row))
}

/// `status` → `Status`, `portforward` → `Portforward`.
fn camel(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Operation ids as kube-apiserver names them: `listCoreV1NamespacedPod`,
/// `deleteAppsV1CollectionNamespacedDeployment`, `patchCoreV1NamespacedPodStatus`, ...
struct OpIds {
    /// `CoreV1`, `AppsV1`, `RbacAuthorizationV1`.
    group_version: String,
    /// `Namespaced` or empty.
    scope: &'static str,
    kind: &'static str,
}

impl OpIds {
    fn new(row: &ResourceInfo) -> Self {
        let group = if row.group.is_empty() {
            "Core".to_owned()
        } else {
            let group = row.group.strip_suffix(".k8s.io").unwrap_or(row.group);
            group.split(['.', '-']).map(camel).collect()
        };
        OpIds {
            group_version: format!("{group}{}", camel(row.version)),
            scope: if row.namespaced { "Namespaced" } else { "" },
            kind: row.kind,
        }
    }

    fn id(&self, verb: &str, suffix: &str) -> String {
        format!(
            "{verb}{}{}{}{suffix}",
            self.group_version, self.scope, self.kind
        )
    }

    fn collection(&self, verb: &str) -> String {
        format!(
            "{verb}{}Collection{}{}",
            self.group_version, self.scope, self.kind
        )
    }

    fn all_namespaces(&self, verb: &str) -> String {
        format!("{verb}{}{}ForAllNamespaces", self.group_version, self.kind)
    }

    fn connect(&self, method: &str, suffix: &str) -> String {
        format!(
            "connect{}{method}{}{}{suffix}",
            self.group_version, self.scope, self.kind
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Operations and parameters
// ---------------------------------------------------------------------------------------------

/// An operation object.
fn operation(
    id: &str,
    description: String,
    action: &str,
    gvk: Option<&Value>,
    parameters: Vec<Value>,
    request_body: Option<Value>,
    responses: Value,
) -> Value {
    let mut op = Map::new();
    op.insert("operationId".into(), Value::String(id.to_owned()));
    op.insert("description".into(), Value::String(description));
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(request_body) = request_body {
        op.insert("requestBody".into(), request_body);
    }
    op.insert("responses".into(), responses);
    op.insert(
        "x-kubernetes-action".into(),
        Value::String(action.to_owned()),
    );
    if let Some(gvk) = gvk {
        op.insert("x-kubernetes-group-version-kind".into(), gvk.clone());
    }
    Value::Object(op)
}

/// `POST` of `doc`'s kind (the collection's create, or a create-only subresource).
fn create_op(ids: &OpIds, doc: &KindDoc, suffix: &str) -> Value {
    operation(
        &ids.id("create", suffix),
        format!("create a {}", doc.kind),
        "post",
        Some(&doc.gvk),
        write_params(),
        Some(body(&doc.schema_ref, true)),
        responses(
            &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
            &doc.schema_ref,
        ),
    )
}

fn list_op(id: &str, doc: &KindDoc, list_ref: &str) -> Value {
    operation(
        id,
        format!("list or watch objects of kind {}", doc.kind),
        "list",
        Some(&doc.gvk),
        list_params(),
        None,
        responses(&[("200", "OK")], list_ref),
    )
}

fn replace_op(id: &str, what: &str, gvk: &Value, schema: &str) -> Value {
    operation(
        id,
        format!("replace {what}"),
        "put",
        Some(gvk),
        write_params(),
        Some(body(schema, true)),
        responses(&[("200", "OK"), ("201", "Created")], schema),
    )
}

/// The PATCH operation: what kubectl's field-validation check reads.
fn patch_op(id: &str, what: &str, gvk: &Value, schema: &str) -> Value {
    let mut params = write_params();
    params.push(query_param(
        "force",
        "boolean",
        "Force apply requests, taking over conflicting fields; unset for other patches.",
    ));
    let patch = ref_schema(&schema_ref(PATCH_SCHEMA));
    // No application/strategic-merge-patch+json: see the module doc.
    let request_body = json!({
        "content": {
            "application/apply-patch+yaml": { "schema": patch },
            "application/json-patch+json": { "schema": patch },
            "application/merge-patch+json": { "schema": patch },
        },
        "required": true,
    });
    operation(
        id,
        format!("partially update {what}"),
        "patch",
        Some(gvk),
        params,
        Some(request_body),
        responses(&[("200", "OK"), ("201", "Created")], schema),
    )
}

fn body(schema: &str, required: bool) -> Value {
    json!({
        "content": { "*/*": { "schema": ref_schema(schema) } },
        "required": required,
    })
}

fn response(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": ref_schema(schema) } },
    })
}

fn responses(codes: &[(&str, &str)], schema: &str) -> Value {
    let mut map = Map::new();
    for (code, description) in codes {
        map.insert((*code).to_owned(), response(description, schema));
    }
    Value::Object(map)
}

fn query_param(name: &str, ty: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": { "type": ty, "uniqueItems": true },
    })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "path",
        "required": true,
        "description": description,
        "schema": { "type": "string", "uniqueItems": true },
    })
}

fn namespace_param() -> Value {
    path_param(
        "namespace",
        "object name and auth scope, such as for teams and projects",
    )
}

fn pretty_param() -> Value {
    query_param(
        "pretty",
        "string",
        "If 'true', then the output is pretty printed.",
    )
}

/// Path parameters of an item path (and its subresources).
fn item_params(row: &ResourceInfo) -> Vec<Value> {
    let mut params = vec![path_param("name", &format!("name of the {}", row.kind))];
    if row.namespaced {
        params.push(namespace_param());
    }
    params.push(pretty_param());
    params
}

fn dry_run_param() -> Value {
    query_param(
        "dryRun",
        "string",
        "When present, modifications are not persisted. Valid values are: - All: all dry run stages will be processed",
    )
}

/// `dryRun`, `fieldManager` and `fieldValidation`: the parameters of create, update and patch.
fn write_params() -> Vec<Value> {
    vec![
        dry_run_param(),
        query_param(
            "fieldManager",
            "string",
            "A name for the actor making these changes, at most 128 printable characters. Required for apply patches.",
        ),
        query_param(
            "fieldValidation",
            "string",
            "How the server handles unknown or duplicate fields in the object. Valid values are: - Ignore: drop unknown fields and keep the last duplicate. - Warn: as Ignore, with a warning for each (the default). - Strict: fail the request with BadRequest, listing every unknown and duplicate field.",
        ),
    ]
}

/// The parameters of delete beyond `dryRun`.
fn delete_params() -> Vec<Value> {
    vec![
        query_param(
            "gracePeriodSeconds",
            "integer",
            "Seconds before the object should be deleted; zero means immediately.",
        ),
        query_param(
            "orphanDependents",
            "boolean",
            "Deprecated: use propagationPolicy.",
        ),
        query_param(
            "propagationPolicy",
            "string",
            "Whether and how dependents are garbage collected: Orphan, Background or Foreground.",
        ),
    ]
}

/// The parameters of list and watch.
fn list_params() -> Vec<Value> {
    vec![
        query_param(
            "allowWatchBookmarks",
            "boolean",
            "Request BOOKMARK watch events.",
        ),
        query_param(
            "continue",
            "string",
            "The metadata.continue of the previous page.",
        ),
        query_param(
            "fieldSelector",
            "string",
            "Restrict the returned objects by their fields.",
        ),
        query_param(
            "labelSelector",
            "string",
            "Restrict the returned objects by their labels.",
        ),
        query_param(
            "limit",
            "integer",
            "The most objects to return; more are announced by metadata.continue.",
        ),
        query_param(
            "resourceVersion",
            "string",
            "What resource versions the request may be served from.",
        ),
        query_param(
            "resourceVersionMatch",
            "string",
            "How resourceVersion applies to a list.",
        ),
        query_param(
            "sendInitialEvents",
            "boolean",
            "With watch=true, start with synthetic events for the current state.",
        ),
        query_param(
            "timeoutSeconds",
            "integer",
            "Timeout for the list/watch call.",
        ),
        query_param(
            "watch",
            "boolean",
            "Watch for changes and return them as a stream of add, update and remove notifications.",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: &[&str] = &[];

    /// A slice of Keel's table, in its shape.
    const TABLE: &[ResourceInfo] = &[
        ResourceInfo {
            group: "",
            version: "v1",
            kind: "Binding",
            plural: "bindings",
            namespaced: true,
            subresources: NONE,
        },
        ResourceInfo {
            group: "",
            version: "v1",
            kind: "ConfigMap",
            plural: "configmaps",
            namespaced: true,
            subresources: NONE,
        },
        ResourceInfo {
            group: "",
            version: "v1",
            kind: "Namespace",
            plural: "namespaces",
            namespaced: false,
            subresources: &["finalize", "status"],
        },
        ResourceInfo {
            group: "",
            version: "v1",
            kind: "Pod",
            plural: "pods",
            namespaced: true,
            subresources: &[
                "attach",
                "binding",
                "eviction",
                "exec",
                "log",
                "portforward",
                "proxy",
                "status",
            ],
        },
        ResourceInfo {
            group: "",
            version: "v1",
            kind: "ServiceAccount",
            plural: "serviceaccounts",
            namespaced: true,
            subresources: &["token"],
        },
        ResourceInfo {
            group: "apps",
            version: "v1",
            kind: "Deployment",
            plural: "deployments",
            namespaced: true,
            subresources: &["status", "scale"],
        },
        ResourceInfo {
            group: "rbac.authorization.k8s.io",
            version: "v1",
            kind: "ClusterRole",
            plural: "clusterroles",
            namespaced: false,
            subresources: NONE,
        },
        ResourceInfo {
            group: "authorization.k8s.io",
            version: "v1",
            kind: "SelfSubjectAccessReview",
            plural: "selfsubjectaccessreviews",
            namespaced: false,
            subresources: NONE,
        },
        ResourceInfo {
            group: "example.com",
            version: "v1",
            kind: "Widget",
            plural: "widgets",
            namespaced: true,
            subresources: &["status"],
        },
    ];

    fn doc(gv_path: &str) -> Value {
        v3_document(TABLE, gv_path).unwrap_or(Value::Null)
    }

    fn gvk_eq(value: &Value, group: &str, version: &str, kind: &str) -> bool {
        *value == gvk(group, version, kind)
    }

    /// What cli-runtime's `supportsQueryParamV3` does: the first PATCH with the GVK decides.
    /// Checked over every PATCH with the GVK, since Go's map order picks any of them.
    fn patch_ops_for<'a>(doc: &'a Value, group: &str, version: &str, kind: &str) -> Vec<&'a Value> {
        let mut ops = Vec::new();
        if let Some(paths) = doc["paths"].as_object() {
            for item in paths.values() {
                let patch = &item["patch"];
                if gvk_eq(
                    &patch["x-kubernetes-group-version-kind"],
                    group,
                    version,
                    kind,
                ) {
                    ops.push(patch);
                }
            }
        }
        ops
    }

    fn has_param(op: &Value, name: &str) -> bool {
        op["parameters"]
            .as_array()
            .is_some_and(|params| params.iter().any(|p| p["name"] == name))
    }

    /// What explain's `resolveRef` does.
    fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
        let name = reference.strip_prefix(SCHEMA_PREFIX)?;
        doc["components"]["schemas"].get(name)
    }

    #[test]
    fn index_lists_each_group_version_with_a_hashed_url() {
        let index = v3_index(TABLE);
        let paths = index["paths"].as_object().cloned().unwrap_or_default();
        let mut keys: Vec<&str> = paths.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "api/v1",
                "apis/apps/v1",
                "apis/authorization.k8s.io/v1",
                "apis/example.com/v1",
                "apis/rbac.authorization.k8s.io/v1",
            ]
        );
        let url = paths["api/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap_or_default();
        let hash = url.strip_prefix("/openapi/v3/api/v1?hash=").unwrap_or("");
        assert_eq!(hash.len(), 16, "{url}");
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        // Stable: the same table gives the same URLs.
        assert_eq!(v3_index(TABLE), index);
        // The hash follows the document.
        let fewer = &TABLE[..2];
        let other = v3_index(fewer);
        assert_ne!(other["paths"]["api/v1"], index["paths"]["api/v1"]);
        assert_eq!(v3_index(TABLE), index);
    }

    #[test]
    fn documents_exist_only_for_served_group_versions() {
        assert!(v3_document(TABLE, "api/v1").is_some());
        assert!(v3_document(TABLE, "/apis/apps/v1?hash=123").is_some());
        assert!(v3_document(TABLE, "apis/batch/v1").is_none());
        assert!(v3_document(TABLE, "api/v2").is_none());
        assert!(v3_document(TABLE, "apis/apps").is_none());
        assert!(v3_document(TABLE, "").is_none());
        assert!(v3_document(TABLE, "apis//v1").is_none());
        assert!(v3_document(&[], "api/v1").is_none());
        assert_eq!(doc("api/v1")["openapi"], "3.0.0");
    }

    #[test]
    fn pod_patch_has_field_validation_and_the_gvk() {
        let doc = doc("api/v1");
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert!(gvk_eq(
            &patch["x-kubernetes-group-version-kind"],
            "",
            "v1",
            "Pod"
        ));
        assert_eq!(patch["x-kubernetes-action"], "patch");
        for name in ["fieldValidation", "dryRun", "fieldManager", "force"] {
            assert!(has_param(patch, name), "{name}");
        }
        // Every PATCH kubectl might pick for Pod (item and /status) has it.
        let ops = patch_ops_for(&doc, "", "v1", "Pod");
        assert_eq!(ops.len(), 2);
        assert!(ops.iter().all(|op| has_param(op, "fieldValidation")));
        // Strategic merge patch is not offered (no patch-strategy extensions in the schemas).
        let content = patch["requestBody"]["content"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(content.contains_key("application/merge-patch+json"));
        assert!(!content.contains_key("application/strategic-merge-patch+json"));
    }

    #[test]
    fn every_kind_patch_supports_field_validation() {
        for row in TABLE {
            let gv_path = gv_path_of(row);
            let doc = doc(&gv_path);
            let ops = patch_ops_for(&doc, row.group, row.version, row.kind);
            if row.kind == "Binding" || row.kind == "SelfSubjectAccessReview" {
                assert!(ops.is_empty(), "{} is create-only", row.kind);
                continue;
            }
            assert!(!ops.is_empty(), "{}", row.kind);
            assert!(ops.iter().all(|op| has_param(op, "fieldValidation")));
        }
        let apps = doc("apis/apps/v1");
        let scale = patch_ops_for(&apps, "autoscaling", "v1", "Scale");
        assert_eq!(scale.len(), 1);
        assert!(has_param(scale[0], "fieldValidation"));
    }

    #[test]
    fn create_update_patch_carry_the_write_parameters() {
        let apps = doc("apis/apps/v1");
        let coll = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"];
        let item = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        for (op, action) in [
            (&coll["post"], "post"),
            (&item["put"], "put"),
            (&item["patch"], "patch"),
        ] {
            assert_eq!(op["x-kubernetes-action"], action);
            assert!(gvk_eq(
                &op["x-kubernetes-group-version-kind"],
                "apps",
                "v1",
                "Deployment"
            ));
            for name in ["fieldValidation", "dryRun", "fieldManager"] {
                assert!(has_param(op, name), "{action} {name}");
            }
        }
        assert_eq!(coll["get"]["x-kubernetes-action"], "list");
        assert_eq!(coll["delete"]["x-kubernetes-action"], "deletecollection");
        assert_eq!(item["get"]["x-kubernetes-action"], "get");
        assert_eq!(item["delete"]["x-kubernetes-action"], "delete");
        assert_eq!(
            item["patch"]["operationId"],
            "patchAppsV1NamespacedDeployment"
        );
        assert!(apps["paths"]["/apis/apps/v1/deployments"]["get"].is_object());
        let core = doc("api/v1");
        // Namespaces have no deletecollection; bindings are create-only.
        assert!(core["paths"]["/api/v1/namespaces"]["delete"].is_null());
        let bindings = &core["paths"]["/api/v1/namespaces/{namespace}/bindings"];
        assert!(bindings["post"].is_object() && bindings["get"].is_null());
        assert!(core["paths"]["/api/v1/namespaces/{namespace}/bindings/{name}"].is_null());
    }

    #[test]
    fn container_schema_has_described_properties() {
        let doc = doc("api/v1");
        let container = &doc["components"]["schemas"]["io.k8s.api.core.v1.Container"];
        assert!(container["description"].is_string());
        let properties = container["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(properties.len() > 20, "{}", properties.len());
        for (name, property) in &properties {
            assert!(
                property["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{name}"
            );
        }
        // A described reference is wrapped as kube-openapi wraps it.
        let probe = &properties["livenessProbe"];
        assert_eq!(
            probe["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.Probe"
        );
        assert!(probe.get("$ref").is_none());
    }

    #[test]
    fn kind_schemas_carry_their_gvk() {
        let core = doc("api/v1");
        let schemas = &core["components"]["schemas"];
        let pod_gvks = &schemas["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"];
        assert_eq!(*pod_gvks, json!([gvk("", "v1", "Pod")]));
        assert_eq!(
            schemas["io.k8s.api.core.v1.PodList"]["x-kubernetes-group-version-kind"],
            json!([gvk("", "v1", "PodList")])
        );
        assert!(schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].is_object());
        assert!(schemas["io.k8s.api.core.v1.Binding"].is_object());
        assert!(schemas["io.k8s.api.policy.v1.Eviction"].is_object());
        assert!(schemas["io.k8s.api.authentication.v1.TokenRequest"].is_object());
        let apps = doc("apis/apps/v1");
        assert_eq!(
            apps["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"]["x-kubernetes-group-version-kind"],
            json!([gvk("autoscaling", "v1", "Scale")])
        );
    }

    /// Every `$ref` resolves within the document and has no siblings.
    #[test]
    fn references_resolve_and_stand_alone() {
        fn walk(doc: &Value, value: &Value, seen: &mut usize) {
            match value {
                Value::Object(map) => {
                    if let Some(reference) = map.get("$ref") {
                        *seen += 1;
                        let reference = reference.as_str().unwrap_or_default();
                        assert!(resolve(doc, reference).is_some(), "{reference}");
                        assert_eq!(map.len(), 1, "{reference} has siblings");
                    }
                    for child in map.values() {
                        walk(doc, child, seen);
                    }
                }
                Value::Array(items) => {
                    for child in items {
                        walk(doc, child, seen);
                    }
                }
                _ => {}
            }
        }
        for gv_path in ["api/v1", "apis/apps/v1", "apis/example.com/v1"] {
            let doc = doc(gv_path);
            let mut seen = 0;
            walk(&doc, &doc, &mut seen);
            assert!(seen > 10, "{gv_path}: {seen}");
        }
    }

    /// The walk explain's template does for `pods.spec.containers`.
    #[test]
    fn explain_can_walk_pods_spec_containers() {
        let doc = doc("api/v1");
        // The GVK from the resource's paths.
        let gvk = &doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["get"]["x-kubernetes-group-version-kind"];
        let schemas = doc["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let matching: Vec<&Value> = schemas
            .values()
            .filter(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|list| list.contains(gvk))
            })
            .collect();
        assert_eq!(matching.len(), 1);
        let spec = &matching[0]["properties"]["spec"];
        assert!(spec["description"].is_string());
        let pod_spec = resolve(&doc, spec["allOf"][0]["$ref"].as_str().unwrap_or_default());
        let containers = pod_spec.map_or(&Value::Null, |s| &s["properties"]["containers"]);
        assert_eq!(containers["type"], "array");
        let container = resolve(
            &doc,
            containers["items"]["$ref"].as_str().unwrap_or_default(),
        );
        assert!(container.is_some_and(|c| c["properties"]["image"]["description"].is_string()));
    }

    #[test]
    fn unknown_kinds_get_an_open_schema() {
        let doc = doc("apis/example.com/v1");
        let schema = &doc["components"]["schemas"]["com.example.v1.Widget"];
        assert_eq!(schema["x-kubernetes-preserve-unknown-fields"], true);
        assert_eq!(
            schema["x-kubernetes-group-version-kind"],
            json!([gvk("example.com", "v1", "Widget")])
        );
        let ops = patch_ops_for(&doc, "example.com", "v1", "Widget");
        assert_eq!(ops.len(), 2);
        assert!(ops.iter().all(|op| has_param(op, "fieldValidation")));
    }

    #[test]
    fn operation_ids_follow_kube() {
        let core = doc("api/v1");
        let paths = &core["paths"];
        assert_eq!(
            paths["/api/v1/namespaces/{namespace}/pods"]["delete"]["operationId"],
            "deleteCoreV1CollectionNamespacedPod"
        );
        assert_eq!(
            paths["/api/v1/pods"]["get"]["operationId"],
            "listCoreV1PodForAllNamespaces"
        );
        assert_eq!(
            paths["/api/v1/namespaces/{namespace}/pods/{name}/status"]["patch"]["operationId"],
            "patchCoreV1NamespacedPodStatus"
        );
        assert_eq!(
            paths["/api/v1/namespaces/{name}/finalize"]["put"]["operationId"],
            "replaceCoreV1NamespaceFinalize"
        );
        let rbac = doc("apis/rbac.authorization.k8s.io/v1");
        assert_eq!(
            rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles"]["get"]["operationId"],
            "listRbacAuthorizationV1ClusterRole"
        );
    }
}
