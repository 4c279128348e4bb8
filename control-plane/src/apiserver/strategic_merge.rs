//! Strategic merge patch (`application/strategic-merge-patch+json`), applied to an object the
//! way kube-apiserver applies it.
//!
//! kubectl sends these patches for `kubectl patch` (its default type), for client-side
//! `kubectl apply` (a three-way diff against the last-applied annotation), and for
//! `rollout restart`, `rollout pause`/`resume`, `set image` and friends. They are JSON merge
//! patches (`null` deletes a key, maps merge recursively) plus two things that need the
//! object's Go types: per-field *patch strategies* (a list whose field is tagged
//! `patchStrategy:"merge"` is merged element by element, by its `patchMergeKey` for lists of
//! maps, instead of being replaced), and *directives* kubectl writes into the patch:
//! `$patch: replace | delete` (on a map or an element of a merged list),
//! `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` and `$retainKeys`.
//!
//! This module is a port of the server-side path of
//! `k8s.io/apimachinery/pkg/util/strategicpatch/patch.go` (`StrategicMergeMapPatch`, i.e.
//! `mergeMap` with `MergeParallelList` and `IgnoreUnmatchedNulls`), function by function,
//! keeping its quirks on purpose because clients depend on them: items of a merged list that
//! only the patch has go *before* the live ones unless `$setElementOrder` places them; a
//! `$patch` directive on a key the object does not have yet drops that key; nulls inside added
//! values are discarded; `$patch: merge` on a map is an error. Error texts are upstream's,
//! including its rendering of Go values (`map[name:a]`).
//!
//! Objects are untyped JSON here, so the Go struct tags are replaced by a hand-written table
//! (`Schema` and `field`), transcribed from the `patchStrategy`/`patchMergeKey` tags of
//! `k8s.io/api` v0.33 (core, apps, batch, autoscaling, policy, networking, flowcontrol,
//! storage, admissionregistration; rbac, discovery, coordination, certificates, events, node
//! and scheduling have none) and of `metav1.ObjectMeta`. A field the table does not name gets
//! the default strategy — maps merge, lists replace — which is what upstream does for every
//! untagged field of a typed object. One behaviour comes from the types rather than from
//! `patch.go`: directive keys the merge leaves in place (inside replaced lists, `$patch:
//! replace` maps or added values) are dropped at the end, as kube's decode into the Go type
//! drops them as unknown fields. Where the Go code panics on ill-formed input (a list whose
//! first element is `null`, `$setElementOrder` on a list of maps without a merge key), this
//! returns the Go runtime's message as an error.
//!
//! Upstream's results also depend on Go's runtime, and that is replayed too: slices share a
//! backing array, so a merge's deletions and additions show through in the live list the
//! result is then ordered by (`live_maps_after_merge`, `go_deduplicate`); and
//! `sort.SliceStable` is given a comparator that is no strict order, so its exact steps
//! matter (`GoStableSort`). Go visits a patch's keys in random order; here they are sorted.
//! The port was checked against the Go code on upstream's test cases and on random patches.
//!
//! Custom resources have no Go types, and kube-apiserver refuses strategic merge patches for
//! them (415); that check belongs to the caller. [`apply`] treats an unknown kind as an object
//! whose only known field is `metadata`.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

/// A JSON object, as the Go code's `map[string]interface{}`.
type Object = Map<String, Value>;

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

// `k8s.io/apimachinery/pkg/util/mergepatch` errors (kube answers the format ones with 400).
const ERR_BAD_JSON_DOC: &str = "invalid JSON document";
const ERR_NO_LIST_OF_LISTS: &str = "lists of lists are not supported";
const ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST: &str =
    "invalid patch format of setElementOrder list";
/// The Go runtime's message where `sliceElementType` dereferences the nil type of a `null`.
const ERR_NIL_DEREFERENCE: &str =
    "runtime error: invalid memory address or nil pointer dereference";

/// Go's names for the types of decoded JSON, as `reflect.TypeOf(x)` prints them.
const MAP_TYPE: &str = "map[string]interface {}";
const SLICE_TYPE: &str = "[]interface {}";

/// Applies `patch` to `original` (a whole object of API group `group` and kind `kind`, e.g.
/// ("apps","Deployment")). Returns the patched object or kube's error text (the api-server
/// turns it into a 400/422 Status).
pub fn apply(group: &str, kind: &str, original: &Value, patch: &Value) -> Result<Value, String> {
    let Value::Object(original) = original else {
        return Err(ERR_BAD_JSON_DOC.to_string());
    };
    let patch = match patch {
        Value::Object(patch) => patch.clone(),
        // `json.Unmarshal` of `null` into a map leaves it nil: nothing to merge.
        Value::Null => Object::new(),
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type {MAP_TYPE}",
                json_kind(other)
            ));
        }
    };
    let mut merged = Value::Object(merge_map(original.clone(), patch, root(group, kind))?);
    strip_directives(&mut merged);
    Ok(merged)
}

// ---------------------------------------------------------------------------------------------
// The schema: which fields carry patch metadata, per Go type
// ---------------------------------------------------------------------------------------------

/// A field's `patchStrategy` tag (`retainKeys` only matters when computing a patch, and
/// `$retainKeys` is honoured wherever it appears, so it is not recorded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MergeStrategy {
    /// A list merges element by element (by merge key for maps, as a set for primitives).
    Merge,
    /// A map is replaced whole instead of merged.
    Replace,
}

/// The Go struct types that have tagged fields, or lead to ones that do. Everything else is
/// [`Schema::Plain`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Schema {
    /// No tagged fields at or below: maps merge, lists replace.
    Plain,
    /// An object of a kind whose only tagged fields are in `metadata`.
    Object,
    /// `metav1.ObjectMeta`.
    ObjectMeta,
    /// `core/v1` Pod.
    Pod,
    PodSpec,
    /// `Container`, and `EphemeralContainer` (the same fields and tags).
    Container,
    PodStatus,
    /// `core/v1` PodTemplate.
    PodTemplate,
    PodTemplateSpec,
    /// Deployment, ReplicaSet, StatefulSet, DaemonSet, Job and ReplicationController: a pod
    /// template at `spec.template`, conditions at `status.conditions`.
    Workload,
    /// The `spec` of a [`Schema::Workload`] (and of a CronJob's job template).
    WorkloadSpec,
    /// `batch/v1` CronJob.
    CronJob,
    CronJobSpec,
    JobTemplateSpec,
    /// `core/v1` Service.
    Service,
    ServiceSpec,
    /// `core/v1` ServiceAccount.
    ServiceAccount,
    /// `core/v1` Node.
    Node,
    NodeSpec,
    NodeStatus,
    /// A kind whose only tagged field besides `metadata` is `status.conditions`.
    Conditioned,
    /// A `status` whose `conditions` merge by `type`.
    ConditionsStatus,
    /// `core/v1` ComponentStatus (its `conditions` are at the top).
    ComponentStatus,
    /// `policy/v1` PodDisruptionBudget.
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    /// `storage.k8s.io/v1` CSINode.
    CsiNode,
    CsiNodeSpec,
    /// Validating- and MutatingWebhookConfiguration.
    WebhookConfiguration,
    Webhook,
    /// `admissionregistration.k8s.io/v1` ValidatingAdmissionPolicy.
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicySpec,
    /// upstream's test type `MergeItem` (patch_test.go).
    #[cfg(test)]
    MergeItem,
    /// upstream's test type `RetainKeysMergeItem`.
    #[cfg(test)]
    RetainKeysMergeItem,
}

/// What the tags of one struct field say: its strategy, merge key, and the type of its value
/// (of its elements, for a list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    strategy: Option<MergeStrategy>,
    merge_key: Option<&'static str>,
    ty: Schema,
}

impl Field {
    /// An untagged field of type `ty`.
    const fn of(ty: Schema) -> Self {
        Field {
            strategy: None,
            merge_key: None,
            ty,
        }
    }

    /// `patchStrategy:"merge" patchMergeKey:"<key>"`: a list of maps merged by `key`.
    const fn merge_by(key: &'static str, ty: Schema) -> Self {
        Field {
            strategy: Some(MergeStrategy::Merge),
            merge_key: Some(key),
            ty,
        }
    }

    /// `patchStrategy:"merge"` without a key: a list of primitives merged as a set.
    const fn merge_primitives() -> Self {
        Field {
            strategy: Some(MergeStrategy::Merge),
            merge_key: None,
            ty: Schema::Plain,
        }
    }

    /// `patchStrategy:"replace"`: a map replaced whole.
    const fn replace() -> Self {
        Field {
            strategy: Some(MergeStrategy::Replace),
            merge_key: None,
            ty: Schema::Plain,
        }
    }
}

/// The type of the object root for a kind.
fn root(group: &str, kind: &str) -> Schema {
    use Schema::*;
    match (group, kind) {
        ("", "Pod") => Pod,
        ("", "PodTemplate") => PodTemplate,
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job") => Workload,
        ("batch", "CronJob") => CronJob,
        ("", "Service") => Service,
        ("", "ServiceAccount") => ServiceAccount,
        ("", "Node") => Node,
        ("", "ComponentStatus") => ComponentStatus,
        ("", "Namespace" | "PersistentVolumeClaim")
        | ("autoscaling", "HorizontalPodAutoscaler")
        | ("networking.k8s.io", "ServiceCIDR")
        | ("flowcontrol.apiserver.k8s.io", "FlowSchema" | "PriorityLevelConfiguration") => {
            Conditioned
        }
        ("policy", "PodDisruptionBudget") => PodDisruptionBudget,
        ("storage.k8s.io", "CSINode") => CsiNode,
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
        ) => WebhookConfiguration,
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => ValidatingAdmissionPolicy,
        _ => Object,
    }
}

/// The tags of field `name` of type `parent` (upstream's `LookupPatchMetadataForStruct`/
/// `ForSlice`). Unknown fields are untagged.
fn field(parent: Schema, name: &str) -> Field {
    use Schema::*;
    match (parent, name) {
        (
            Object
            | Pod
            | PodTemplate
            | PodTemplateSpec
            | Workload
            | CronJob
            | JobTemplateSpec
            | Service
            | ServiceAccount
            | Node
            | Conditioned
            | ComponentStatus
            | PodDisruptionBudget
            | CsiNode
            | WebhookConfiguration
            | ValidatingAdmissionPolicy,
            "metadata",
        ) => Field::of(ObjectMeta),
        (ObjectMeta, "finalizers") => Field::merge_primitives(),
        (ObjectMeta, "ownerReferences") => Field::merge_by("uid", Plain),

        (Pod | PodTemplateSpec, "spec") => Field::of(PodSpec),
        (Pod, "status") => Field::of(PodStatus),
        (PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
            Field::merge_by("name", Container)
        }
        (PodSpec, "volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims") => {
            Field::merge_by("name", Plain)
        }
        (PodSpec, "hostAliases") => Field::merge_by("ip", Plain),
        (PodSpec, "topologySpreadConstraints") => Field::merge_by("topologyKey", Plain),
        (Container, "ports") => Field::merge_by("containerPort", Plain),
        (Container, "env") => Field::merge_by("name", Plain),
        (Container, "volumeMounts") => Field::merge_by("mountPath", Plain),
        (Container, "volumeDevices") => Field::merge_by("devicePath", Plain),
        (PodStatus, "conditions") => Field::merge_by("type", Plain),
        (PodStatus, "hostIPs" | "podIPs") => Field::merge_by("ip", Plain),
        (PodStatus, "resourceClaimStatuses") => Field::merge_by("name", Plain),

        (PodTemplate | WorkloadSpec, "template") => Field::of(PodTemplateSpec),
        (Workload | JobTemplateSpec, "spec") => Field::of(WorkloadSpec),
        (CronJob, "spec") => Field::of(CronJobSpec),
        (CronJobSpec, "jobTemplate") => Field::of(JobTemplateSpec),
        (Workload | Service | Conditioned | PodDisruptionBudget, "status") => {
            Field::of(ConditionsStatus)
        }
        (ConditionsStatus | ComponentStatus, "conditions") => Field::merge_by("type", Plain),

        (Service, "spec") => Field::of(ServiceSpec),
        (ServiceSpec, "ports") => Field::merge_by("port", Plain),
        (ServiceAccount, "secrets") => Field::merge_by("name", Plain),
        (Node, "spec") => Field::of(NodeSpec),
        (Node, "status") => Field::of(NodeStatus),
        (NodeSpec, "podCIDRs") => Field::merge_primitives(),
        (NodeStatus, "conditions" | "addresses") => Field::merge_by("type", Plain),

        (PodDisruptionBudget, "spec") => Field::of(PodDisruptionBudgetSpec),
        (PodDisruptionBudgetSpec, "selector") => Field::replace(),
        (CsiNode, "spec") => Field::of(CsiNodeSpec),
        (CsiNodeSpec, "drivers") => Field::merge_by("name", Plain),
        (WebhookConfiguration, "webhooks") => Field::merge_by("name", Webhook),
        (Webhook, "matchConditions") => Field::merge_by("name", Plain),
        (ValidatingAdmissionPolicy, "spec") => Field::of(ValidatingAdmissionPolicySpec),
        (ValidatingAdmissionPolicySpec, "matchConditions" | "variables") => {
            Field::merge_by("name", Plain)
        }

        #[cfg(test)]
        (MergeItem, "mergingList" | "mergeItemPtr" | "retainKeysMergingList")
        | (RetainKeysMergeItem, "mergingList") => Field::merge_by("name", MergeItem),
        #[cfg(test)]
        (MergeItem | RetainKeysMergeItem, "nonMergingList") => Field::of(MergeItem),
        #[cfg(test)]
        (MergeItem | RetainKeysMergeItem, "mergingIntList") => Field::merge_primitives(),
        #[cfg(test)]
        (MergeItem, "replacingItem") => Field::replace(),
        #[cfg(test)]
        (MergeItem, "retainKeysMap") => Field::of(RetainKeysMergeItem),

        _ => Field::of(Plain),
    }
}

// ---------------------------------------------------------------------------------------------
// Merging maps
// ---------------------------------------------------------------------------------------------

/// `mergeMap`: merges `patch` into `original`, an object of type `schema`.
fn merge_map(mut original: Object, mut patch: Object, schema: Schema) -> Result<Object, String> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER).cloned() {
        return map_directive(&directive, patch);
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_ordered_lists(&mut original, &mut patch, schema)?;
    // Go visits the keys in random order; here they go sorted, so `$deleteFromPrimitiveList/x`
    // comes before `x` (kubectl never deletes and adds the same item, where order matters).
    let mut entries: Vec<(String, Value)> = patch.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    // The Go capacity of lists a delete list rebuilt, for merging the same list next.
    let mut rebuilt = HashMap::new();
    for (key, value) in entries {
        merge_field(&mut original, key, value, schema, &mut rebuilt)?;
    }
    Ok(original)
}

/// `handleDirectiveInMergeMap`: `$patch: replace` keeps the patch alone, `$patch: delete`
/// leaves an empty map, anything else is an error.
fn map_directive(directive: &Value, mut patch: Object) -> Result<Object, String> {
    match directive.as_str() {
        Some(REPLACE_DIRECTIVE) => {
            patch.remove(DIRECTIVE_MARKER);
            Ok(patch)
        }
        Some(DELETE_DIRECTIVE) => Ok(Object::new()),
        _ => Err(bad_patch_type(directive, &patch)),
    }
}

/// `applyRetainKeysDirective`: with `$retainKeys: [k…]`, the patch may only set keys of the
/// list, and the original loses every key not in it.
fn apply_retain_keys(original: &mut Object, patch: &mut Object) -> Result<(), String> {
    let Some(retain) = patch.remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS.to_string());
    };
    let retained = |key: &str| retain.iter().any(|k| k.as_str() == Some(key));
    let sets_unlisted_key = patch.iter().any(|(key, value)| {
        !value.is_null()
            && !key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            && !key.starts_with(SET_ELEMENT_ORDER_PREFIX)
            && !retained(key)
    });
    if sets_unlisted_key {
        return Err(ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS.to_string());
    }
    original.retain(|key, _| retained(key));
    Ok(())
}

/// The main loop of `mergeMap` for one key of the patch (`$setElementOrder` lists are done).
fn merge_field(
    original: &mut Object,
    key: String,
    value: Value,
    schema: Schema,
    rebuilt: &mut HashMap<String, usize>,
) -> Result<(), String> {
    // `preprocessDeletionListForMerging`: `$deleteFromPrimitiveList/x` works on `x`.
    let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
        let name = extract_key(
            &key,
            DELETE_FROM_PRIMITIVE_LIST_PREFIX,
            ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST,
        )?;
        (if name.is_empty() { key } else { name }, true)
    } else {
        (key, false)
    };
    if value.is_null() {
        original.remove(&key);
        return Ok(());
    }
    let Some(current) = original.get_mut(&key) else {
        if !is_delete_list {
            add_value(original, key, value);
        }
        return Ok(());
    };
    if GoType::of(current) != GoType::of(&value) {
        if !is_delete_list {
            add_value(original, key, value);
        }
        return Ok(());
    }
    let field = field(schema, &key);
    let merged = match (current.take(), value) {
        (Value::Object(current), Value::Object(patch)) => {
            if field.strategy == Some(MergeStrategy::Replace) {
                Value::Object(patch)
            } else {
                Value::Object(merge_map(current, patch, field.ty)?)
            }
        }
        (Value::Array(current), Value::Array(patch)) => {
            let live = current.len();
            let capacity = rebuilt.remove(&key).unwrap_or_else(|| go_capacity(live));
            let merged = merge_list(current, patch, field, is_delete_list, capacity)?;
            if is_delete_list {
                // `deleteFromSlice` allocates for the whole list it filters.
                rebuilt.insert(key.clone(), live);
            }
            Value::Array(merged)
        }
        (_, patch) => patch,
    };
    original.insert(key, merged);
    Ok(())
}

/// Sets a patch value the original lacks (or has with another type): its nulls discarded and
/// its directive maps dropped; a directive map itself removes the key.
fn add_value(original: &mut Object, key: String, mut value: Value) {
    discard_null_values(&mut value);
    match remove_directives(value) {
        Some(value) => {
            original.insert(key, value);
        }
        None => {
            original.remove(&key);
        }
    }
}

/// `discardNullValuesFromPatch`: drops `null` members of maps, at any depth (not `null`
/// elements of lists).
fn discard_null_values(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_null_values);
        }
        Value::Array(list) => list.iter_mut().for_each(discard_null_values),
        _ => {}
    }
}

/// `removeDirectives`: `None` for a map with a `$patch` directive; otherwise the value without
/// such maps at any depth.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) if map.contains_key(DIRECTIVE_MARKER) => None,
        Value::Object(map) => Some(Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| Some((k, remove_directives(v)?)))
                .collect(),
        )),
        Value::Array(list) => Some(Value::Array(
            list.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

// ---------------------------------------------------------------------------------------------
// Merging lists
// ---------------------------------------------------------------------------------------------

/// `mergeSliceHandler`: lists of merge fields (and delete lists, whatever the field) merge;
/// others are replaced by the patch.
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: Field,
    is_delete_list: bool,
    capacity: usize,
) -> Result<Vec<Value>, String> {
    if field.strategy == Some(MergeStrategy::Merge) || is_delete_list {
        merge_slice(original, patch, field, is_delete_list, capacity)
    } else {
        Ok(patch)
    }
}

/// `mergeSlice`: a set union (or, for a delete list, difference) of primitives, or an
/// element-wise merge of maps by merge key; then the order is normalised: the patch's items in
/// the patch's order, interleaved with the others in their live order. `capacity` is that of
/// the live list's Go array (see `go_appends_in_place`).
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: Field,
    is_delete_list: bool,
    capacity: usize,
) -> Result<Vec<Value>, String> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_type(&[&original, &patch])?;
    let key = field.merge_key;
    let (merged, patch_order, server_order) = if kind != GoType::Map {
        if is_delete_list {
            return Ok(delete_from_slice(original, &patch));
        }
        let patch_order = Order::new(&patch, key);
        // Go appends the patch to the live list's own array when it has room; deduplicating
        // in place then rewrites the live list the order is taken from.
        let live = original.len();
        let shares_array = go_appends_in_place(live, patch.len(), capacity);
        let unshared_order = (!shares_array).then(|| Order::new(&original, key));
        let mut both = original;
        both.extend(patch);
        let kept = go_deduplicate(&mut both);
        let server_order =
            unshared_order.unwrap_or_else(|| Order::new(both.iter().take(live), key));
        both.truncate(kept);
        (both, patch_order, server_order)
    } else {
        let Some(key) = key else {
            // upstream names the element's Go kind; the tagged keyless lists hold strings.
            let kind = if field.strategy == Some(MergeStrategy::Merge) {
                "string"
            } else {
                "struct"
            };
            return Err(format!("cannot merge lists without merge key for {kind}"));
        };
        let (original, patch) = split_special_elements(original, patch, key)?;
        let (patch_order, server_order) = (
            Order::new(&patch, Some(key)),
            Order::new(&original, Some(key)),
        );
        (
            merge_elements(original, patch, key, field.ty)?,
            patch_order,
            server_order,
        )
    };
    let (patch_items, server_only) = partition(merged, &patch_order, key)?;
    normalize_element_order(
        patch_items,
        server_only,
        &patch_order,
        &server_order,
        key,
        kind,
    )
}

/// `mergeSliceWithSpecialElements`: applies the `$patch` elements of a patch list of maps —
/// `delete` removes every original element with that key, `replace` makes the rest of the
/// patch the whole list — and returns the original and the patch without them.
fn split_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for element in patch {
        let Value::Object(map) = &element else {
            return Err(bad_arg_type(MAP_TYPE, &element));
        };
        let Some(directive) = map.get(DIRECTIVE_MARKER) else {
            plain.push(element);
            continue;
        };
        match directive.as_str() {
            Some(DELETE_DIRECTIVE) => {
                let Some(value) = map.get(key) else {
                    return Err(no_merge_key(map, key));
                };
                original.retain(|e| e.get(key) != Some(value));
            }
            Some(REPLACE_DIRECTIVE) => replace = true,
            Some(MERGE_DIRECTIVE) => {
                return Err("merging lists cannot yet be specified in the patch".to_string());
            }
            _ => return Err(bad_patch_type(directive, map)),
        }
    }
    Ok(if replace {
        (plain, Vec::new())
    } else {
        (original, plain)
    })
}

/// `mergeSliceWithoutSpecialElements`: merges each patch element into the first original
/// element with the same merge key value, or appends it.
fn merge_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
    ty: Schema,
) -> Result<Vec<Value>, String> {
    let mut first: HashMap<String, usize> = HashMap::new();
    for (i, element) in original.iter().enumerate() {
        if let Some(value) = element.get(key) {
            first.entry(value.to_string()).or_insert(i);
        }
    }
    for element in patch {
        let Value::Object(element) = element else {
            return Err(bad_arg_type(MAP_TYPE, &element));
        };
        let Some(value) = element.get(key) else {
            return Err(no_merge_key(&element, key));
        };
        let identity = value.to_string();
        match first.get(&identity).and_then(|&i| original.get_mut(i)) {
            Some(slot) => {
                let current = match slot.take() {
                    Value::Object(current) => current,
                    _ => Object::new(),
                };
                *slot = Value::Object(merge_map(current, element, ty)?);
            }
            None => {
                first.insert(identity, original.len());
                original.push(Value::Object(element));
            }
        }
    }
    Ok(original)
}

/// `deleteFromSlice`: the primitives of `current` not in `to_delete`.
fn delete_from_slice(current: Vec<Value>, to_delete: &[Value]) -> Vec<Value> {
    let to_delete: HashSet<String> = to_delete.iter().map(Value::to_string).collect();
    current
        .into_iter()
        .filter(|v| !to_delete.contains(&v.to_string()))
        .collect()
}

/// `deduplicateScalars`, in place as Go does it: a duplicate is overwritten by the last item
/// and the list cut by one. Returns how many items are kept; the rest of `items` is what Go's
/// backing array still holds.
fn go_deduplicate(items: &mut [Value]) -> usize {
    let Some(mut last) = items.len().checked_sub(1) else {
        return 0;
    };
    let mut i = 0;
    while i < last {
        let mut j = i + 1;
        while j <= last {
            if items.get(i) == items.get(j) {
                if let Some(moved) = items.get(last).cloned()
                    && let Some(slot) = items.get_mut(j)
                {
                    *slot = moved;
                }
                last -= 1;
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    last + 1
}

/// Whether Go's `append(live, patch...)` writes into the live list's own array: when nothing
/// is appended, or when the array has room.
fn go_appends_in_place(live: usize, appended: usize, capacity: usize) -> bool {
    appended == 0 || live.saturating_add(appended) <= capacity
}

/// The capacity of a decoded list's Go array: decoding appends item by item, which doubles
/// it, so the next power of two.
fn go_capacity(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        len.checked_next_power_of_two().unwrap_or(usize::MAX)
    }
}

/// The live list of primitives as upstream orders against it after merging `patch` into it:
/// deduplicating the union in place rewrites the live list's slots when the union shares its
/// array.
fn live_primitives_after_merge(live: &[Value], patch: &[Value]) -> Vec<Value> {
    if !go_appends_in_place(live.len(), patch.len(), go_capacity(live.len())) {
        return live.to_vec();
    }
    let mut both: Vec<Value> = live.iter().chain(patch).cloned().collect();
    go_deduplicate(&mut both);
    both.truncate(live.len());
    both
}

/// `sliceElementType`: the one Go type of the elements of all the lists.
fn slice_element_type(lists: &[&[Value]]) -> Result<GoType, String> {
    let mut element_type = None;
    for value in lists.iter().flat_map(|list| list.iter()) {
        let this = GoType::of(value);
        match element_type {
            None if this == GoType::Nil => return Err(ERR_NIL_DEREFERENCE.to_string()),
            None if this == GoType::Slice => return Err(ERR_NO_LIST_OF_LISTS.to_string()),
            None => element_type = Some(this),
            Some(seen) if seen != this => {
                let lists: Vec<String> = lists.iter().map(|list| go_list(list)).collect();
                return Err(format!(
                    "list element types are not identical: [{}]",
                    lists.join(" ")
                ));
            }
            Some(_) => {}
        }
    }
    element_type.ok_or_else(|| "no elements in any of the given slices".to_string())
}

// ---------------------------------------------------------------------------------------------
// $setElementOrder and the order of merged lists
// ---------------------------------------------------------------------------------------------

/// `mergePatchIntoOriginal`: merges each list that has a `$setElementOrder/<field>` directive
/// and orders it: the items the directive names in its order, the live-only ones interleaved
/// by their live order.
fn merge_ordered_lists(
    original: &mut Object,
    patch: &mut Object,
    schema: Schema,
) -> Result<(), String> {
    let directives: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for directive in directives {
        let Some(order) = patch.remove(&directive) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg_type(SLICE_TYPE, &order));
        };
        let name = extract_key(
            &directive,
            SET_ELEMENT_ORDER_PREFIX,
            ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST,
        )?;
        let field = field(schema, &name);
        let key = field.merge_key;
        let original_list = list_member(original, &name)?;
        let patch_list = list_member(patch, &name)?;
        validate_order_directive(patch_list.unwrap_or_default(), &order, key)?;
        let kind = slice_element_type(&[
            original_list.unwrap_or_default(),
            patch_list.unwrap_or_default(),
        ]);
        let server_order = match (original_list, patch_list, key, &kind) {
            (Some(live), Some(patch), Some(key), Ok(GoType::Map))
                if field.strategy == Some(MergeStrategy::Merge) =>
            {
                Order::new(live_maps_after_merge(live, patch, key), Some(key))
            }
            (Some(live), Some(patch), None, Ok(_))
                if field.strategy == Some(MergeStrategy::Merge) =>
            {
                Order::new(&live_primitives_after_merge(live, patch), None)
            }
            _ => Order::new(original_list.unwrap_or_default(), key),
        };
        let merged = match (original_list.is_some(), patch_list.is_some()) {
            (false, false) => continue,
            (true, false) => take_list(original.get_mut(&name)),
            (false, true) => remove_directives_from_list(take_list(patch.get_mut(&name))),
            (true, true) => {
                let (current, patch) = (
                    take_list(original.get_mut(&name)),
                    take_list(patch.get_mut(&name)),
                );
                let capacity = go_capacity(current.len());
                merge_list(current, patch, field, false, capacity)?
            }
        };
        patch.remove(&name);
        let order = Order::new(&order, key);
        let (patch_items, server_only) = partition(merged, &order, key)?;
        let sorted =
            normalize_element_order(patch_items, server_only, &order, &server_order, key, kind?)?;
        original.insert(name, Value::Array(sorted));
    }
    Ok(())
}

/// The live list of maps as upstream orders against it after merging a patch into it. In Go,
/// `mergeSlice` deletes and appends on the live list's backing array, which the caller still
/// holds: each deletion shifts the later slots left (the last one keeps its value), and the
/// first additions overwrite the slots freed at the end. Upstream's expected results depend
/// on this, so it is replayed here.
fn live_maps_after_merge<'a>(live: &'a [Value], patch: &'a [Value], key: &str) -> Vec<&'a Value> {
    let len = live.len();
    let mut slots: Vec<&Value> = live.iter().collect();
    let mut list: Vec<Option<&Value>> = live.iter().map(|e| e.get(key)).collect();
    let mut replace = false;
    for element in patch {
        match directive_of(element) {
            Some(Some(DELETE_DIRECTIVE)) => {
                let value = element.get(key);
                while let Some(i) = list.iter().position(|k| k.is_some() && *k == value) {
                    if let Some(shifted) = slots.get_mut(i..list.len()) {
                        let last = shifted.last().copied();
                        shifted.rotate_left(1);
                        if let (Some(slot), Some(last)) = (shifted.last_mut(), last) {
                            *slot = last;
                        }
                    }
                    list.remove(i);
                }
            }
            Some(Some(REPLACE_DIRECTIVE)) => replace = true,
            _ => {}
        }
    }
    if !replace {
        for element in patch.iter().filter(|e| directive_of(e).is_none()) {
            let value = element.get(key);
            if value.is_some() && !list.contains(&value) {
                if let Some(slot) = slots.get_mut(list.len()) {
                    *slot = element;
                }
                list.push(value);
            }
        }
    }
    slots.truncate(len);
    slots
}

/// An element's `$patch` directive, if it has one (`Some(None)` for a non-string one).
fn directive_of(element: &Value) -> Option<Option<&str>> {
    element.get(DIRECTIVE_MARKER).map(Value::as_str)
}

/// `validatePatchWithSetOrderList`: the patch list's items (but deletions and directives) must
/// appear in the `$setElementOrder` list, in the same order.
fn validate_order_directive(
    patch_list: &[Value],
    order: &[Value],
    key: Option<&str>,
) -> Result<(), String> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let mut items = Vec::with_capacity(patch_list.len());
    for item in patch_list {
        if key.is_some() {
            let Value::Object(map) = item else {
                return Err(bad_arg_type(MAP_TYPE, item));
            };
            if map.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some(DELETE_DIRECTIVE) {
                continue;
            }
        }
        items.push(item);
    }
    let (mut p, mut o) = (0, 0);
    while let (Some(item), Some(expected)) = (items.get(p), order.get(o)) {
        if item.get(DIRECTIVE_MARKER).is_some() {
            p += 1;
            continue;
        }
        if merge_key_value_equal(item, expected, key)? {
            p += 1;
        }
        o += 1;
    }
    if p < items.len() && o >= order.len() {
        return Err(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER_PREFIX} list:\n{}\n",
            go_list(patch_list),
            go_list(order)
        ));
    }
    Ok(())
}

/// `mergeKeyValueEqual`: whether two items are the same (by merge key for maps).
fn merge_key_value_equal(left: &Value, right: &Value, key: Option<&str>) -> Result<bool, String> {
    let Some(key) = key else {
        return match (left, right) {
            (Value::Object(_), Value::Object(_)) | (Value::Array(_), Value::Array(_)) => {
                Err(format!(
                    "runtime error: comparing uncomparable type {}",
                    GoType::of(left).name()
                ))
            }
            _ => Ok(left == right),
        };
    };
    let (Value::Object(l), Value::Object(r)) = (left, right) else {
        let culprit = if left.is_object() { right } else { left };
        return Err(bad_arg_type(MAP_TYPE, culprit));
    };
    match (l.get(key), r.get(key)) {
        (Some(l), Some(r)) => Ok(l == r),
        (None, _) => Err(no_merge_key(l, key)),
        (_, None) => Err(no_merge_key(r, key)),
    }
}

/// The positions of the items of a list that dictates an order (the patch, the
/// `$setElementOrder` list or the live list), by identity: the merge key's value for maps,
/// the item itself for primitives. Stands in for upstream's linear `index` and
/// `findMapInSliceBasedOnKeyValue` scans, including the errors they would hit.
struct Order {
    /// First position of each identity (its JSON text).
    first: HashMap<String, usize>,
    /// What `validateMergeKeyInLists` says of the list as a list of maps, if it fails.
    invalid: Option<String>,
    /// The first item that is not a map (a scan for a map fails on reaching it).
    first_non_map: Option<usize>,
    /// Go's type of the first item a Go map cannot hold as a key (maps, lists).
    unhashable: Option<&'static str>,
}

impl Order {
    fn new<'a>(list: impl IntoIterator<Item = &'a Value>, key: Option<&str>) -> Self {
        let mut order = Order {
            first: HashMap::new(),
            invalid: None,
            first_non_map: None,
            unhashable: None,
        };
        for (i, item) in list.into_iter().enumerate() {
            if order.unhashable.is_none() && matches!(item, Value::Object(_) | Value::Array(_)) {
                order.unhashable = Some(GoType::of(item).name());
            }
            match item {
                Value::Object(map) => {
                    if order.invalid.is_none() && !map.contains_key(key.unwrap_or_default()) {
                        order.invalid = Some(no_merge_key(map, key.unwrap_or_default()));
                    }
                }
                other => {
                    order.first_non_map.get_or_insert(i);
                    order
                        .invalid
                        .get_or_insert_with(|| bad_arg_type(MAP_TYPE, other));
                }
            }
            if let Some(identity) = identity(item, key) {
                order.first.entry(identity).or_insert(i);
            }
        }
        order
    }

    /// `index`: where an item (or a map with its merge key value) first is.
    fn position(&self, item: &Value, key: Option<&str>) -> Option<usize> {
        self.first.get(&identity(item, key)?).copied()
    }

    /// `findMapInSliceBasedOnKeyValue`: whether a map with this merge key value is in the list.
    fn has_map_with(&self, value: &Value) -> Result<bool, String> {
        let position = self.first.get(&value.to_string()).copied();
        match self.first_non_map {
            Some(n) if position.is_none_or(|p| n < p) => {
                Err(format!("value for key {n} is not a map"))
            }
            _ => Ok(position.is_some()),
        }
    }
}

/// An item's identity in a list: its merge key's value (maps), or itself (primitives).
fn identity(item: &Value, key: Option<&str>) -> Option<String> {
    match key {
        Some(key) => item.as_object()?.get(key).map(Value::to_string),
        None => Some(item.to_string()),
    }
}

/// `partitionMapsByPresentInList` / `partitionPrimitivesByPresentInList`: the merged items in
/// the `by` list, and the others.
fn partition(
    merged: Vec<Value>,
    by: &Order,
    key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let (mut present, mut absent) = (Vec::new(), Vec::new());
    if let (None, Some(ty)) = (key, by.unhashable) {
        return Err(unhashable(ty));
    }
    for item in merged {
        let found = match key {
            Some(key) => {
                let Value::Object(map) = &item else {
                    return Err(bad_arg_type(MAP_TYPE, &item));
                };
                let Some(value) = map.get(key) else {
                    return Err(no_merge_key(map, key));
                };
                by.has_map_with(value)?
            }
            None if matches!(item, Value::Object(_) | Value::Array(_)) => {
                return Err(unhashable(GoType::of(&item).name()));
            }
            None => by.position(&item, None).is_some(),
        };
        if found {
            present.push(item)
        } else {
            absent.push(item)
        }
    }
    Ok((present, absent))
}

/// `normalizeElementOrder`: sorts the patch's items by the patch order and the live-only items
/// by the live order, then interleaves them.
fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &Order,
    server_order: &Order,
    key: Option<&str>,
    kind: GoType,
) -> Result<Vec<Value>, String> {
    let patch_items = normalize_slice_order(patch_items, patch_order, key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, key, kind)?;
    Ok(merge_sorted(server_only, patch_items, server_order, key))
}

/// `normalizeSliceOrder`: a stable sort by position in `order`; for maps, after checking the
/// merge keys, with `$patch: delete` items moved to the end.
fn normalize_slice_order(
    items: Vec<Value>,
    order: &Order,
    key: Option<&str>,
    kind: GoType,
) -> Result<Vec<Value>, String> {
    let mut deletions = Vec::new();
    let items = if kind == GoType::Map {
        let key = key.unwrap_or_default();
        for item in &items {
            let Value::Object(map) = item else {
                return Err(bad_arg_type(MAP_TYPE, item));
            };
            if !map.contains_key(key) {
                return Err(no_merge_key(map, key));
            }
        }
        if let Some(invalid) = &order.invalid {
            return Err(invalid.clone());
        }
        let (delete, keep): (Vec<Value>, Vec<Value>) = items.into_iter().partition(|item| {
            item.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some(DELETE_DIRECTIVE)
        });
        deletions = delete;
        keep
    } else {
        items
    };
    let mut positioned: Vec<(Option<usize>, Value)> = items
        .into_iter()
        .map(|item| (order.position(&item, key), item))
        .collect();
    // upstream's comparator: an item missing from `order` is "less" than anything.
    GoStableSort::new(&mut positioned, |a, b| match (a.0, b.0) {
        (Some(a), Some(b)) => a < b,
        _ => true,
    })
    .sort();
    let mut items: Vec<Value> = positioned.into_iter().map(|(_, item)| item).collect();
    items.append(&mut deletions);
    Ok(items)
}

/// `mergeSortedSlice`: merges two sorted lists, taking from `left` (live-only items) first only
/// when both heads are in the live list and the left one comes before.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &Order,
    key: Option<&str>,
) -> Vec<Value> {
    let mut merged = Vec::with_capacity(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (server_order.position(l, key), server_order.position(r, key)),
                (Some(l), Some(r)) if l < r
            ),
        };
        merged.extend(if take_left { left.next() } else { right.next() });
    }
    merged
}

/// Go's `sort.SliceStable`, step for step (insertion sort on blocks of 20, then `symMerge`):
/// upstream's comparator is no strict order once an item is missing from the order list, and
/// the result then depends on the algorithm.
struct GoStableSort<'a, T, F: Fn(&T, &T) -> bool> {
    data: &'a mut [T],
    less: F,
}

impl<'a, T, F: Fn(&T, &T) -> bool> GoStableSort<'a, T, F> {
    fn new(data: &'a mut [T], less: F) -> Self {
        GoStableSort { data, less }
    }

    fn less(&self, i: usize, j: usize) -> bool {
        match (self.data.get(i), self.data.get(j)) {
            (Some(a), Some(b)) => (self.less)(a, b),
            _ => false,
        }
    }

    fn swap(&mut self, i: usize, j: usize) {
        if i < self.data.len() && j < self.data.len() {
            self.data.swap(i, j);
        }
    }

    /// `stable`.
    fn sort(&mut self) {
        let n = self.data.len();
        let mut block = 20;
        let (mut a, mut b) = (0, block);
        while b <= n {
            self.insertion_sort(a, b);
            a = b;
            b += block;
        }
        self.insertion_sort(a, n);
        while block < n {
            a = 0;
            b = 2 * block;
            while b <= n {
                self.sym_merge(a, a + block, b);
                a = b;
                b += 2 * block;
            }
            if a + block < n {
                self.sym_merge(a, a + block, n);
            }
            block *= 2;
        }
    }

    /// `insertionSort` of `data[a..b]`.
    fn insertion_sort(&mut self, a: usize, b: usize) {
        for i in a + 1..b {
            let mut j = i;
            while j > a && self.less(j, j - 1) {
                self.swap(j, j - 1);
                j -= 1;
            }
        }
    }

    /// `symMerge`: merges the sorted runs `data[a..m]` and `data[m..b]`.
    fn sym_merge(&mut self, a: usize, m: usize, b: usize) {
        if m - a == 1 {
            let (mut i, mut j) = (m, b);
            while i < j {
                let h = (i + j) / 2;
                if self.less(h, a) {
                    i = h + 1;
                } else {
                    j = h;
                }
            }
            for k in a..i - 1 {
                self.swap(k, k + 1);
            }
            return;
        }
        if b - m == 1 {
            let (mut i, mut j) = (a, m);
            while i < j {
                let h = (i + j) / 2;
                if !self.less(m, h) {
                    i = h + 1;
                } else {
                    j = h;
                }
            }
            let mut k = m;
            while k > i {
                self.swap(k, k - 1);
                k -= 1;
            }
            return;
        }
        let mid = (a + b) / 2;
        let n = mid + m;
        let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
        let p = n - 1;
        while start < r {
            let c = (start + r) / 2;
            if !self.less(p - c, c) {
                start = c + 1;
            } else {
                r = c;
            }
        }
        let end = n - start;
        if start < m && m < end {
            self.rotate(start, m, end);
        }
        if a < start && start < mid {
            self.sym_merge(a, start, mid);
        }
        if mid < end && end < b {
            self.sym_merge(mid, end, b);
        }
    }

    /// `rotate`: swaps the blocks `data[a..m]` and `data[m..b]`.
    fn rotate(&mut self, a: usize, m: usize, b: usize) {
        let (mut i, mut j) = (m - a, b - m);
        while i != j {
            if i > j {
                self.swap_range(m - i, m, j);
                i -= j;
            } else {
                self.swap_range(m - i, m + j - i, i);
                j -= i;
            }
        }
        self.swap_range(m - i, m, i);
    }

    fn swap_range(&mut self, a: usize, b: usize, n: usize) {
        for i in 0..n {
            self.swap(a + i, b + i);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// `extractKey`: the field a `<prefix>/<field>` directive key names.
fn extract_key(directive: &str, prefix: &str, error: &str) -> Result<String, String> {
    match directive.split_once('/') {
        Some((head, name)) if head == prefix => Ok(name.to_string()),
        _ => Err(error.to_string()),
    }
}

/// A member that must be a list if present (upstream's `[]interface{}` assertion).
fn list_member<'a>(map: &'a Object, name: &str) -> Result<Option<&'a [Value]>, String> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::Array(list)) => Ok(Some(list)),
        Some(other) => Err(bad_arg_type(SLICE_TYPE, other)),
    }
}

/// Takes a list out of its slot (left `null`, to be overwritten).
fn take_list(slot: Option<&mut Value>) -> Vec<Value> {
    match slot.map(Value::take) {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    }
}

/// `removeDirectives` over a list.
fn remove_directives_from_list(list: Vec<Value>) -> Vec<Value> {
    list.into_iter().filter_map(remove_directives).collect()
}

/// Drops the directive keys a merge leaves behind, as kube's decode into the Go type drops
/// them as unknown fields.
fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !is_directive_key(key));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(list) => list.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE_MARKER
        || key == RETAIN_KEYS_DIRECTIVE
        || key.starts_with(SET_ELEMENT_ORDER_PREFIX)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
}

/// The Go type of a decoded JSON value (kube decodes integers as `int64`, others as `float64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GoType {
    Nil,
    Bool,
    Int64,
    Float64,
    String,
    Slice,
    Map,
}

impl GoType {
    fn of(value: &Value) -> Self {
        match value {
            Value::Null => GoType::Nil,
            Value::Bool(_) => GoType::Bool,
            Value::Number(n) if n.is_i64() => GoType::Int64,
            Value::Number(_) => GoType::Float64,
            Value::String(_) => GoType::String,
            Value::Array(_) => GoType::Slice,
            Value::Object(_) => GoType::Map,
        }
    }

    /// As `%s` prints a `reflect.Type`.
    fn name(self) -> &'static str {
        match self {
            GoType::Nil => "%!s(<nil>)",
            GoType::Bool => "bool",
            GoType::Int64 => "int64",
            GoType::Float64 => "float64",
            GoType::String => "string",
            GoType::Slice => SLICE_TYPE,
            GoType::Map => MAP_TYPE,
        }
    }
}

/// `encoding/json`'s name for a JSON value's kind, in its unmarshal errors.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `mergepatch.ErrBadArgType`.
fn bad_arg_type(expected: &str, actual: &Value) -> String {
    format!(
        "expected a {expected}, but received a {}",
        GoType::of(actual).name()
    )
}

/// `mergepatch.ErrNoMergeKey`.
fn no_merge_key(map: &Object, key: &str) -> String {
    let mut text = String::new();
    go_map(map, Verb::V, &mut text);
    format!("map: {text} does not contain declared merge key: {key}")
}

/// `mergepatch.ErrBadPatchType`.
fn bad_patch_type(directive: &Value, map: &Object) -> String {
    let (mut directive_text, mut map_text) = (String::new(), String::new());
    go_fmt(directive, Verb::S, &mut directive_text);
    go_map(map, Verb::V, &mut map_text);
    format!("unknown patch type: {directive_text} in map: {map_text}")
}

/// The Go runtime's panic for a map or list used as a map key.
fn unhashable(ty: &str) -> String {
    format!("runtime error: hash of unhashable type {ty}")
}

/// A Go `fmt` verb, for rendering decoded values in error texts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    V,
    S,
}

/// Renders a list as Go's `%v` does: `[a b]`.
fn go_list(list: &[Value]) -> String {
    let mut text = String::new();
    go_fmt(&Value::Array(list.to_vec()), Verb::V, &mut text);
    text
}

/// Renders a decoded value as Go's `fmt` does with `%v` or `%s`: maps as `map[k:v]` sorted by
/// key, lists as `[a b]`, `<nil>`, and `%!s(int64=1)` for non-strings under `%s`.
fn go_fmt(value: &Value, verb: Verb, out: &mut String) {
    let scalar = match value {
        Value::Object(map) => return go_map(map, verb, out),
        Value::Array(list) => {
            out.push('[');
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_fmt(item, verb, out);
            }
            out.push(']');
            return;
        }
        Value::String(s) => return out.push_str(s),
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => go_float(f),
            (None, None) => n.to_string(),
        },
    };
    match (verb, value) {
        (Verb::S, Value::Null) => out.push_str("%!s(<nil>)"),
        (Verb::S, _) => out.push_str(&format!("%!s({}={scalar})", GoType::of(value).name())),
        (Verb::V, _) => out.push_str(&scalar),
    }
}

/// A map under `%v`/`%s`: `map[k1:v1 k2:v2]`, keys sorted.
fn go_map(map: &Object, verb: Verb, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push_str("map[");
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(key);
        out.push(':');
        go_fmt(value, verb, out);
    }
    out.push(']');
}

/// A `float64` as Go's `%v` prints it (`strconv`'s shortest `%g`): exponent form below 1e-4
/// and from 1e6, with a signed exponent of at least two digits.
fn go_float(f: f64) -> String {
    let scientific = format!("{f:e}");
    let Some((mantissa, exp)) = scientific.split_once('e') else {
        return scientific;
    };
    let exponent: i32 = exp.parse().unwrap_or_default();
    if (-4..6).contains(&exponent) {
        return f.to_string();
    }
    let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
    format!("{mantissa}e{sign}{digits:0>2}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Applies a patch to an object of the given kind, failing the test on an error.
    fn patched(group: &str, kind: &str, original: Value, patch: Value) -> Value {
        apply(group, kind, &original, &patch).unwrap_or_else(|e| panic!("patch failed: {e}"))
    }

    /// The error a patch gives.
    fn error(group: &str, kind: &str, original: Value, patch: Value) -> String {
        match apply(group, kind, &original, &patch) {
            Ok(v) => panic!("expected an error, got {v}"),
            Err(e) => e,
        }
    }

    /// Applies a patch to upstream's test type `MergeItem`, as its tests do (no decode step).
    fn merge_item(original: Value, patch: Value) -> Result<Value, String> {
        let (Value::Object(original), Value::Object(patch)) = (original, patch) else {
            return Err("test documents must be objects".to_string());
        };
        merge_map(original, patch, Schema::MergeItem).map(Value::Object)
    }

    fn deployment(containers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": containers}
                }
            }
        })
    }

    fn containers(d: &Value) -> &Value {
        &d["spec"]["template"]["spec"]["containers"]
    }

    // --- what kubectl sends -----------------------------------------------------------------

    #[test]
    fn apply_changing_an_image_keeps_the_other_containers() {
        let live = deployment(json!([
            {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "proxy:1"}
        ]));
        // kubectl apply's three-way patch for a changed image of the first container.
        let patch = json!({
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                "containers": [{"image": "app:2", "name": "app"}]
            }}}
        });
        let out = patched("apps", "Deployment", live, patch);
        assert_eq!(
            containers(&out),
            &json!([
                {"name": "app", "image": "app:2", "ports": [{"containerPort": 80}]},
                {"name": "sidecar", "image": "proxy:1"}
            ])
        );
        assert_eq!(
            out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{}"
        );
        assert_eq!(out["spec"]["replicas"], 2);
    }

    #[test]
    fn set_image_orders_containers_by_set_element_order() {
        let live = deployment(json!([
            {"name": "a", "image": "a:1"},
            {"name": "b", "image": "b:1"},
            {"name": "c", "image": "c:1"}
        ]));
        // `kubectl set image deployment/web b=b:2`.
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
            "containers": [{"image": "b:2", "name": "b"}]
        }}}});
        let out = patched("apps", "Deployment", live, patch);
        assert_eq!(
            containers(&out),
            &json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}])
        );
        assert!(!out.to_string().contains("$setElementOrder"));
    }

    #[test]
    fn set_element_order_places_a_new_container_and_reorders() {
        let live = deployment(json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]));
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "new"}, {"name": "a"}],
            "containers": [{"name": "new", "image": "n"}]
        }}}});
        let out = patched("apps", "Deployment", live, patch);
        let names: Vec<&Value> = containers(&out)
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| &c["name"])
            .collect();
        assert_eq!(names, [&json!("b"), &json!("new"), &json!("a")]);
    }

    #[test]
    fn env_var_removed_by_delete_directive_from_apply() {
        let live = deployment(json!([{
            "name": "app", "image": "app:1",
            "env": [{"name": "KEEP", "value": "1"}, {"name": "DROP", "value": "2"}]
        }]));
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{
                "$setElementOrder/env": [{"name": "KEEP"}],
                "env": [{"$patch": "delete", "name": "DROP"}],
                "name": "app"
            }]
        }}}});
        let out = patched("apps", "Deployment", live, patch);
        assert_eq!(
            containers(&out)[0]["env"],
            json!([{"name": "KEEP", "value": "1"}])
        );
    }

    #[test]
    fn env_var_fields_and_lists_removed_by_null() {
        let live = deployment(json!([{
            "name": "app", "image": "app:1",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]
        }]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "env": [{"name": "B", "valueFrom": null, "value": "2"}]}
        ]}}}});
        let out = patched("apps", "Deployment", live.clone(), patch);
        assert_eq!(
            containers(&out)[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
        let patch =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": null}]}}}});
        let out = patched("apps", "Deployment", live, patch);
        assert_eq!(
            containers(&out)[0],
            json!({"name": "app", "image": "app:1"})
        );
    }

    #[test]
    fn rollout_restart_adds_a_template_annotation() {
        let live = deployment(json!([{"name": "app", "image": "app:1"}]));
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"
        }}}}});
        let out = patched("apps", "Deployment", live, patch);
        assert_eq!(
            out["spec"]["template"]["metadata"],
            json!({"labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}})
        );
        assert_eq!(
            containers(&out),
            &json!([{"name": "app", "image": "app:1"}])
        );
    }

    #[test]
    fn rollout_pause_and_resume() {
        let live = deployment(json!([{"name": "app", "image": "app:1"}]));
        let paused = patched(
            "apps",
            "Deployment",
            live,
            json!({"spec": {"paused": true}}),
        );
        assert_eq!(paused["spec"]["paused"], true);
        let resumed = patched(
            "apps",
            "Deployment",
            paused,
            json!({"spec": {"paused": null}}),
        );
        assert!(resumed["spec"].get("paused").is_none());
        // A null for an absent key is not added.
        let again = patched(
            "apps",
            "Deployment",
            resumed.clone(),
            json!({"spec": {"paused": null}}),
        );
        assert_eq!(again, resumed);
    }

    #[test]
    fn service_ports_merge_by_port() {
        let live = json!({
            "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 8443}
            ]}
        });
        let patch = json!({"spec": {"ports": [{"port": 443, "targetPort": 9443}, {"name": "metrics", "port": 9090}]}});
        let out = patched("", "Service", live.clone(), patch);
        assert_eq!(
            out["spec"]["ports"],
            json!([
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 9443},
                {"name": "metrics", "port": 9090}
            ])
        );
        // An item only the patch has goes before the live items that follow it (upstream's
        // mergeSortedSlice); `kubectl apply` sends `$setElementOrder` to place it.
        let out = patched(
            "",
            "Service",
            live,
            json!({"spec": {"ports": [{"name": "metrics", "port": 9090}]}}),
        );
        let ports: Vec<&Value> = out["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| &p["port"])
            .collect();
        assert_eq!(ports, [&json!(9090), &json!(80), &json!(443)]);
    }

    #[test]
    fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
        let live = json!({"metadata": {"name": "x", "finalizers": ["a", "b"]}});
        let out = patched(
            "",
            "ConfigMap",
            live.clone(),
            json!({"metadata": {"finalizers": ["b", "c"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
        let out = patched(
            "",
            "ConfigMap",
            live.clone(),
            json!({"metadata": {"finalizers": ["c"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}});
        let out = patched("", "ConfigMap", live.clone(), patch);
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        let patch = json!({"metadata": {"$setElementOrder/finalizers": ["c", "b"], "$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"]}});
        let out = patched("", "ConfigMap", live, patch);
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "b"]));
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let live = json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "kind": "ReplicaSet"}]}});
        let patch = json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b", "kind": "ReplicaSet"}]}});
        let out = patched("", "Pod", live, patch);
        assert_eq!(
            out["metadata"]["ownerReferences"].as_array().map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn replace_directive_on_a_map() {
        let live = deployment(json!([{"name": "app", "image": "app:1"}]));
        let patch = json!({"spec": {"template": {"metadata": {"labels": {"$patch": "replace", "tier": "front"}}}}});
        let out = patched("apps", "Deployment", live, patch);
        assert_eq!(
            out["spec"]["template"]["metadata"]["labels"],
            json!({"tier": "front"})
        );
    }

    #[test]
    fn replace_and_delete_directives_on_lists_and_maps() {
        let live = deployment(json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "c", "image": "c"}]}}}});
        let out = patched("apps", "Deployment", live.clone(), patch);
        assert_eq!(containers(&out), &json!([{"name": "c", "image": "c"}]));
        let patch = json!({"spec": {"strategy": {"$patch": "delete"}}});
        let out = patched("apps", "Deployment", live, patch);
        assert_eq!(out["spec"]["strategy"], json!({}));
    }

    #[test]
    fn retain_keys_clears_the_other_member_of_a_union() {
        let live = deployment(json!([{"name": "app", "image": "app:1"}]));
        // `kubectl apply` switching a Deployment to Recreate (strategy is tagged retainKeys).
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        let out = patched("apps", "Deployment", live, patch);
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn retain_keys_in_a_volume_switches_its_source() {
        let live = json!({"spec": {"containers": [], "volumes": [
            {"name": "data", "emptyDir": {}}, {"name": "other", "hostPath": {"path": "/x"}}
        ]}});
        let patch = json!({"spec": {
            "$setElementOrder/volumes": [{"name": "data"}, {"name": "other"}],
            "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}, "name": "data"}]
        }});
        let out = patched("", "Pod", live, patch);
        assert_eq!(
            out["spec"]["volumes"],
            json!([{"name": "data", "configMap": {"name": "cm"}}, {"name": "other", "hostPath": {"path": "/x"}}])
        );
    }

    #[test]
    fn retain_keys_refuses_a_patch_setting_an_unlisted_key() {
        let live = deployment(json!([]));
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}});
        assert_eq!(
            error("apps", "Deployment", live.clone(), patch),
            ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS
        );
        let patch = json!({"spec": {"strategy": {"$retainKeys": "type"}}});
        assert_eq!(
            error("apps", "Deployment", live, patch),
            ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS
        );
    }

    #[test]
    fn cronjob_containers_merge_deep_in_the_job_template() {
        let live = json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]
        }}}}}});
        let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "b", "image": "b:2"}]
        }}}}}});
        let out = patched("batch", "CronJob", live, patch);
        assert_eq!(
            out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}])
        );
    }

    #[test]
    fn container_ports_merge_by_container_port_and_init_containers_by_name() {
        let live = json!({"spec": {
            "initContainers": [{"name": "init", "image": "i"}],
            "containers": [{"name": "app", "ports": [{"containerPort": 80, "name": "http"}]}]
        }});
        let patch = json!({"spec": {
            "initContainers": [{"name": "init", "image": "i2"}],
            "containers": [{"name": "app", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]
        }});
        let out = patched("", "Pod", live, patch);
        assert_eq!(
            out["spec"]["initContainers"],
            json!([{"name": "init", "image": "i2"}])
        );
        assert_eq!(
            out["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 80, "name": "http", "protocol": "TCP"}])
        );
    }

    #[test]
    fn untagged_lists_replace() {
        let live = json!({"spec": {"containers": [{"name": "app", "args": ["a", "b"]}], "tolerations": [
            {"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}
        ]}});
        let patch = json!({"spec": {"tolerations": [{"key": "c", "operator": "Exists"}], "containers": [{"name": "app", "args": ["z"]}]}});
        let out = patched("", "Pod", live, patch);
        assert_eq!(
            out["spec"]["tolerations"],
            json!([{"key": "c", "operator": "Exists"}])
        );
        assert_eq!(out["spec"]["containers"][0]["args"], json!(["z"]));
        // Node taints are untagged too.
        let node = json!({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}});
        let out = patched(
            "",
            "Node",
            node,
            json!({"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}}),
        );
        assert_eq!(
            out["spec"]["taints"],
            json!([{"key": "b", "effect": "NoSchedule"}])
        );
    }

    #[test]
    fn status_conditions_and_node_addresses_merge_by_type() {
        let node = json!({"status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "DiskPressure", "status": "False"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]
        }});
        let patch = json!({"status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "Hostname", "address": "n1"}]
        }});
        let out = patched("", "Node", node, patch);
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}, {"type": "DiskPressure", "status": "False"}])
        );
        assert_eq!(
            out["status"]["addresses"],
            json!([{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.1"}])
        );
        let deploy = json!({"status": {"conditions": [{"type": "Available", "status": "True"}]}});
        let patch = json!({"status": {"conditions": [{"type": "Progressing", "status": "True"}]}});
        let out = patched("apps", "Deployment", deploy, patch);
        assert_eq!(
            out["status"]["conditions"].as_array().map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn pdb_selector_is_replaced_whole() {
        let live = json!({"spec": {"selector": {"matchLabels": {"a": "1"}}, "minAvailable": 1}});
        let patch = json!({"spec": {"selector": {"matchExpressions": [{"key": "b", "operator": "Exists"}]}}});
        let out = patched("policy", "PodDisruptionBudget", live, patch);
        assert_eq!(
            out["spec"]["selector"],
            json!({"matchExpressions": [{"key": "b", "operator": "Exists"}]})
        );
        // Elsewhere a label selector merges.
        let live = deployment(json!([]));
        let out = patched(
            "apps",
            "Deployment",
            live,
            json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}}),
        );
        assert_eq!(
            out["spec"]["selector"]["matchLabels"],
            json!({"app": "web", "b": "2"})
        );
    }

    #[test]
    fn a_directive_on_a_key_the_object_lacks_drops_it() {
        // upstream's removeDirectives: the whole `$patch` map goes, not just the marker.
        let live = json!({"metadata": {"name": "x"}});
        let patch = json!({"metadata": {"labels": {"$patch": "replace", "a": "b"}, "annotations": {"k": "v", "n": null}}});
        let out = patched("", "ConfigMap", live, patch);
        assert_eq!(
            out["metadata"],
            json!({"name": "x", "annotations": {"k": "v"}})
        );
    }

    #[test]
    fn leftover_directives_are_dropped_from_replaced_lists() {
        let live = json!({"spec": {"tolerations": [{"key": "a"}]}});
        let patch = json!({"spec": {"tolerations": [{"key": "b", "$patch": "delete"}]}});
        let out = patched("", "Pod", live, patch);
        assert_eq!(out["spec"]["tolerations"], json!([{"key": "b"}]));
    }

    #[test]
    fn a_whole_object_patch_with_replace() {
        let live = json!({"metadata": {"name": "x"}, "data": {"a": "1"}});
        let out = patched(
            "",
            "ConfigMap",
            live,
            json!({"$patch": "replace", "metadata": {"name": "x"}}),
        );
        assert_eq!(out, json!({"metadata": {"name": "x"}}));
    }

    #[test]
    fn malformed_patches_get_upstreams_errors() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "a"}]}});
        assert_eq!(
            error("", "Pod", pod.clone(), json!([1])),
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        assert_eq!(error("", "Pod", json!("x"), json!({})), ERR_BAD_JSON_DOC);
        assert_eq!(
            error(
                "",
                "Pod",
                pod.clone(),
                json!({"spec": {"containers": [{"image": "b"}]}})
            ),
            "map: map[image:b] does not contain declared merge key: name"
        );
        assert_eq!(
            error("", "Pod", pod.clone(), json!({"spec": {"$patch": "merge"}})),
            "unknown patch type: merge in map: map[$patch:merge]"
        );
        assert_eq!(
            error(
                "",
                "Pod",
                pod.clone(),
                json!({"spec": {"containers": [{"name": "a", "$patch": "merge"}]}})
            ),
            "merging lists cannot yet be specified in the patch"
        );
        assert_eq!(
            error(
                "",
                "Pod",
                pod.clone(),
                json!({"spec": {"containers": [{"name": "a", "$patch": 1}]}})
            ),
            "unknown patch type: %!s(int64=1) in map: map[$patch:1 name:a]"
        );
        assert_eq!(
            error(
                "",
                "Pod",
                pod.clone(),
                json!({"spec": {"$setElementOrder": []}})
            ),
            ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST
        );
        assert_eq!(
            error(
                "",
                "Pod",
                pod.clone(),
                json!({"spec": {"$setElementOrder/containers": {}}})
            ),
            "expected a []interface {}, but received a map[string]interface {}"
        );
        assert_eq!(
            error(
                "",
                "Pod",
                pod.clone(),
                json!({"metadata": {"$deleteFromPrimitiveListfinalizers": []}})
            ),
            ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST
        );
        assert_eq!(
            error(
                "",
                "Pod",
                json!({"spec": {"initContainers": []}}),
                json!({"spec": {"initContainers": [[1]]}})
            ),
            ERR_NO_LIST_OF_LISTS
        );
        assert_eq!(
            error(
                "",
                "Pod",
                pod.clone(),
                json!({"spec": {"containers": ["a"]}})
            ),
            "list element types are not identical: [[map[image:a name:a]] [a]]"
        );
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "a"}],
            "containers": [{"name": "b", "image": "b"}]
        }});
        assert_eq!(
            error("", "Pod", pod, patch),
            "The order in patch list:\n[map[image:b name:b]]\n doesn't match $setElementOrder list:\n[map[name:a]]\n"
        );
    }

    #[test]
    fn null_patch_changes_nothing() {
        let pod = json!({"metadata": {"name": "p"}});
        assert_eq!(patched("", "Pod", pod.clone(), Value::Null), pod);
    }

    #[test]
    fn go_formatting_of_values() {
        let mut text = String::new();
        go_fmt(
            &json!({"b": [1, 2.5, null, true], "a": {"x": "y"}}),
            Verb::V,
            &mut text,
        );
        assert_eq!(text, "map[a:map[x:y] b:[1 2.5 <nil> true]]");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(1.5e-7), "1.5e-07");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(-2.5), "-2.5");
    }

    #[test]
    fn go_stable_sort_is_a_stable_sort_for_a_strict_order() {
        // Long enough for the block merges; checked against Go's own for upstream's
        // non-strict comparator too.
        let mut seed: u64 = 1;
        for n in [0, 1, 2, 19, 20, 21, 40, 41, 97, 160] {
            let mut items: Vec<(u64, usize)> = (0..n)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 33) % 7, i)
                })
                .collect();
            let mut expected = items.clone();
            expected.sort_by_key(|item| item.0);
            GoStableSort::new(&mut items, |a: &(u64, usize), b: &(u64, usize)| a.0 < b.0).sort();
            assert_eq!(items, expected, "n = {n}");
        }
    }

    // --- upstream's tests (patch_test.go), on its MergeItem type ------------------------------

    /// (description, original, patch, expected result) from `strategicMergePatchRawTestCases`,
    /// `customStrategicMergePatchTestCaseData` and friends: the two-way patch applied to the
    /// original, or the three-way patch applied to the current object.
    fn upstream_cases() -> Vec<(&'static str, Value, Value, Value)> {
        vec![
            (
                "nested patch merge with empty list",
                json!({"name": "hi"}),
                json!({"mergingList": [{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}]}),
                json!({"name": "hi", "mergingList": [{"name": "hello"}]}),
            ),
            (
                "add and delete items in lists of scalars",
                json!({"mergingIntList": [1, 2, 3]}),
                json!({"$setElementOrder/mergingIntList": [1, 2, 4], "$deleteFromPrimitiveList/mergingIntList": [3], "mergingIntList": [4]}),
                json!({"mergingIntList": [1, 2, 4]}),
            ),
            (
                "delete all duplicate items in lists of scalars",
                json!({"mergingIntList": [1, 2, 3, 3]}),
                json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
                json!({"mergingIntList": [1, 2]}),
            ),
            (
                "merge lists of maps (three-way)",
                json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
                json!({"$setElementOrder/mergingList": [{"name": 4}, {"name": 1}, {"name": 2}, {"name": 3}], "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
                json!({"mergingList": [{"name": 4, "value": 4}, {"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
            ),
            (
                "add map and delete map from merging list (three-way)",
                json!({"mergingList": [{"name": 1}, {"name": 2, "other": "b"}, {"name": 4, "other": "c"}]}),
                json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 3}], "mergingList": [{"name": 3}, {"name": 1, "$patch": "delete"}]}),
                json!({"mergingList": [{"name": 2, "other": "b"}, {"name": 4, "other": "c"}, {"name": 3}]}),
            ),
            (
                "add map and delete map from merging list with conflict (three-way)",
                json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 4, "other": "c"}]}),
                json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 3}], "mergingList": [{"name": 2}, {"name": 3}, {"name": 1, "$patch": "delete"}]}),
                json!({"mergingList": [{"name": 4, "other": "c"}, {"name": 2}, {"name": 3}]}),
            ),
            (
                "delete field from map in merging list",
                json!({"mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]}),
                json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}], "mergingList": [{"name": 1, "value": null}]}),
                json!({"mergingList": [{"name": 1}, {"name": 2, "value": 2}]}),
            ),
            (
                "add field to map in merging list nested in merging list",
                json!({"mergingList": [{"name": 1, "mergingList": [{"name": 1}, {"name": 2, "value": 2}]}, {"name": 2}]}),
                json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}], "mergingList": [{"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}], "name": 1, "mergingList": [{"name": 1, "value": 1}]}]}),
                json!({"mergingList": [{"name": 1, "mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]}, {"name": 2}]}),
            ),
            (
                "replace non merging list nested in merging list",
                json!({"mergingList": [{"name": 1, "nonMergingList": [{"name": 1}, {"name": 2, "value": 2}]}, {"name": 2}]}),
                json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}], "mergingList": [{"name": 1, "nonMergingList": [{"name": 1, "value": 1}]}]}),
                json!({"mergingList": [{"name": 1, "nonMergingList": [{"name": 1, "value": 1}]}, {"name": 2}]}),
            ),
            (
                "add map to merging list by pointer",
                json!({"mergeItemPtr": [{"name": 1}]}),
                json!({"$setElementOrder/mergeItemPtr": [{"name": 1}, {"name": 2}], "mergeItemPtr": [{"name": 2}]}),
                json!({"mergeItemPtr": [{"name": 1}, {"name": 2}]}),
            ),
            (
                "add an item in a list of primitives and preserve order",
                json!({"mergingIntList": [1, 2]}),
                json!({"$setElementOrder/mergingIntList": [3, 1, 2], "mergingIntList": [3]}),
                json!({"mergingIntList": [3, 1, 2]}),
            ),
            (
                "add and delete an item in a list and preserve order (three-way)",
                json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
                json!({"$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 1}], "mergingList": [{"name": 4, "value": 4}, {"name": 3, "$patch": "delete"}]}),
                json!({"mergingList": [{"name": 4, "value": 4}, {"name": 2, "value": 2, "other": "b"}, {"name": 1, "other": "a"}]}),
            ),
            (
                "set elements order in a list with server-only items (three-way)",
                json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 3, "value": 3}, {"name": 4, "value": 4}, {"name": 2, "value": 2}, {"name": 9}]}),
                json!({"$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 3}, {"name": 1}]}),
                json!({"mergingList": [{"name": 4, "value": 4}, {"name": 2, "value": 2}, {"name": 3, "value": 3}, {"name": 1, "other": "a"}, {"name": 9}]}),
            ),
            (
                "set elements order in a list with server-only items 2 (three-way)",
                json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2}, {"name": 9}, {"name": 3, "value": 3}, {"name": 4, "value": 4}]}),
                json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}]}),
                json!({"mergingList": [{"name": 2, "value": 2}, {"name": 1, "other": "a"}, {"name": 9}, {"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
            ),
            (
                "set elements order in a int list with server-only items 3",
                json!({"mergingIntList": [1, 2, 3, 2, 4]}),
                json!({"$setElementOrder/mergingIntList": [2, 1, 4, 3, 2]}),
                json!({"mergingIntList": [2, 2, 1, 4, 3]}),
            ),
            (
                "retainKeys map adds a field and clear a field",
                json!({"retainKeysMap": {"name": "foo"}}),
                json!({"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "bar"}}),
                json!({"retainKeysMap": {"name": "foo", "value": "bar"}}),
            ),
            (
                "retainKeys map adds an item and deletes an item in nested merging int list (three-way)",
                json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3, 4]}}),
                json!({"retainKeysMap": {"$retainKeys": ["mergingIntList", "name"], "mergingIntList": [5], "$deleteFromPrimitiveList/mergingIntList": [2], "$setElementOrder/mergingIntList": [1, 3, 5]}}),
                json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 3, 5, 4]}}),
            ),
            (
                "retainKeys list of maps changes a field and clear a field (three-way)",
                json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "old", "other": "x"}]}),
                json!({"$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}], "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo", "value": "new"}]}),
                json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "new"}]}),
            ),
            (
                "delete and reorder in one list, reorder in another (three-way)",
                json!({"mergingList": [{"name": "a", "value": "a"}, {"name": "b", "value": "b"}], "mergeItemPtr": [{"name": "c", "value": "c"}, {"name": "d", "value": "d"}]}),
                json!({"$setElementOrder/mergingList": [{"name": "b"}], "$setElementOrder/mergeItemPtr": [{"name": "d"}, {"name": "c"}], "mergingList": [{"$patch": "delete", "name": "a"}]}),
                json!({"mergingList": [{"name": "b", "value": "b"}], "mergeItemPtr": [{"name": "d", "value": "d"}, {"name": "c", "value": "c"}]}),
            ),
            (
                "delete all duplicate entries in a merging list",
                json!({"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]}),
                json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]}),
                json!({"mergingList": [{"name": 2, "value": "a"}]}),
            ),
            (
                "delete all items from merging list",
                json!({"mergingList": [{"name": 1}, {"name": 2}]}),
                json!({"mergingList": [{"$patch": "replace"}]}),
                json!({"mergingList": []}),
            ),
            (
                "add key and delete all keys from map",
                json!({"name": 1, "value": 1}),
                json!({"other": "a", "$patch": "replace"}),
                json!({"other": "a"}),
            ),
            (
                "delete map from nested map",
                json!({"simpleMap": {"key1": 1, "key2": 1}}),
                json!({"simpleMap": {"$patch": "delete"}}),
                json!({"simpleMap": {}}),
            ),
            (
                "preserve the order from the patch in a merging list 2",
                json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
                json!({"mergingList": [{"name": 1, "value": "a"}, {"name": 3, "value": "c"}]}),
                json!({"mergingList": [{"name": 1, "value": "a"}, {"name": 2, "value": "b"}, {"name": 3, "value": "c"}]}),
            ),
            (
                "$setElementOrder contains item that is not present in the list to be merged",
                json!({"mergingList": [{"name": 1}, {"name": 3}]}),
                json!({"$setElementOrder/mergingList": [{"name": 3}, {"name": 2}, {"name": 1}], "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
                json!({"mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
            ),
            (
                "$deleteFromPrimitiveList on nonexistent primitive list should not add the primitive list",
                json!({"foo": ["bar"]}),
                json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
                json!({"foo": ["bar"]}),
            ),
            (
                "$deleteFromPrimitiveList should delete item from a list without merge patch strategy",
                json!({"nonMergingIntList": [1, 2, 3]}),
                json!({"$deleteFromPrimitiveList/nonMergingIntList": [2]}),
                json!({"nonMergingIntList": [1, 3]}),
            ),
            (
                "replace RawExtension field, rest unchanched (three-way)",
                json!({"name": "my-object", "value": "some-value", "other": "current-other", "mergingList": [{"name": 1}, {"name": 2}, {"name": 3}], "replacingItem": {"Some": "Generic", "Yaml": "Inside", "The": "RawExtension", "Field": "Period"}}),
                json!({"replacingItem": {"Newly": "Modified", "Yaml": "Inside", "The": "RawExtension"}}),
                json!({"name": "my-object", "value": "some-value", "other": "current-other", "mergingList": [{"name": 1}, {"name": 2}, {"name": 3}], "replacingItem": {"Newly": "Modified", "Yaml": "Inside", "The": "RawExtension"}}),
            ),
            // TestUnknownField: nulls inside added values are discarded, not in lists.
            (
                "discard nulls in nested and adds not nulls",
                json!({"name": "foo"}),
                json!({"complex_nullable": {"key": {"keynotnull": "value", "keynull": null}}}),
                json!({"name": "foo", "complex_nullable": {"key": {"keynotnull": "value"}}}),
            ),
            (
                "filter nulls from nested slices",
                json!({}),
                json!({"complex_nullable": [{"inner_one": {"key_one": "foo", "key_two": null}}]}),
                json!({"complex_nullable": [{"inner_one": {"key_one": "foo"}}]}),
            ),
            (
                "not filter nulls from non-associative slice",
                json!({}),
                json!({"complex_nullable": ["key1", null, "key2"]}),
                json!({"complex_nullable": ["key1", null, "key2"]}),
            ),
            (
                "null values in original are preserved",
                json!({"complex": {"key": null}, "thing": null}),
                json!({"nested": {"value": 5}}),
                json!({"complex": {"key": null}, "nested": {"value": 5}, "thing": null}),
            ),
        ]
    }

    #[test]
    fn upstream_cases_apply() {
        for (description, original, patch, expected) in upstream_cases() {
            match merge_item(original, patch) {
                Ok(got) => assert_eq!(got, expected, "{description}"),
                Err(e) => panic!("{description}: {e}"),
            }
        }
    }

    /// Cases where Go's slice aliasing and sort algorithm show through, checked against the
    /// Go code (`StrategicMergePatch` on upstream's `MergeItem`).
    #[test]
    fn go_runtime_details_are_kept() {
        let cases = [
            (
                "a list added with a $setElementOrder naming none of it comes out reversed",
                json!({"name": 4}),
                json!({"$setElementOrder/mergingIntList": [], "mergingIntList": [4, 3, 2, 5]}),
                json!({"name": 4, "mergingIntList": [5, 2, 3, 4]}),
            ),
            (
                "deduplicating in the live list's spare capacity reorders against it",
                json!({"mergingIntList": [1, 5, 5]}),
                json!({"mergingIntList": [3]}),
                json!({"mergingIntList": [1, 5, 3]}),
            ),
            (
                "a list a delete list rebuilt keeps the capacity of the list before",
                json!({"mergingIntList": [5, 2, 5]}),
                json!({"$deleteFromPrimitiveList/mergingIntList": [1, 2], "mergingIntList": [4]}),
                json!({"mergingIntList": [5, 4]}),
            ),
            (
                "unordered survivors of a $setElementOrder merge follow Go's insertion sort",
                json!({"mergingIntList": [1]}),
                json!({"$setElementOrder/mergingIntList": [], "mergingIntList": [2, 4, 2]}),
                json!({"mergingIntList": [1, 4, 2]}),
            ),
        ];
        for (description, original, patch, expected) in cases {
            match merge_item(original, patch) {
                Ok(got) => assert_eq!(got, expected, "{description}"),
                Err(e) => panic!("{description}: {e}"),
            }
        }
    }

    #[test]
    fn upstream_error_cases() {
        let cases = [
            (
                "should check if order in $setElementOrder and patch list match",
                json!({"mergingList": [{"name": 1}, {"name": 3}, {"name": 2}]}),
                json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}], "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
                "doesn't match",
            ),
            (
                "$setElementOrder and int list order mismatch",
                json!({"mergingIntList": [1, 3, 2]}),
                json!({"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3, 1]}),
                "doesn't match",
            ),
            (
                "missing merge key should error out",
                json!({"mergingList": [{"name": 1, "value": "a"}]}),
                json!({"mergingList": [{"value": "b"}]}),
                "does not contain declared merge key",
            ),
        ];
        for (description, original, patch, expected) in cases {
            match merge_item(original, patch) {
                Ok(got) => panic!("{description}: expected an error, got {got}"),
                Err(e) => assert!(e.contains(expected), "{description}: {e}"),
            }
        }
    }
}
