//! The `meta.k8s.io/v1` `Table` that kube-apiserver answers when a client sends
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, which is what `kubectl get` does.
//!
//! kubectl prints the server's table as it arrives. `kubectl get pods` therefore looks as it
//! does on a real cluster only if the columns and cells built here are kube's own. This module
//! translates them from upstream:
//!
//! - the column definitions and print functions of `pkg/printers/internalversion/printers.go`
//!   for pods, nodes, namespaces, services, deployments, replicasets, events, jobs and leases;
//! - the default convertor of `k8s.io/apiserver/pkg/registry/rest/table.go` (`Name`,
//!   `Created At`) for every other resource;
//! - `duration.HumanDuration` (`k8s.io/apimachinery/pkg/util/duration`) for AGE-style cells;
//! - the `includeObject` handling of `k8s.io/apiserver/pkg/endpoints/handlers/response.go`.
//!
//! Why it is shaped this way:
//!
//! - kube's table convertor always prints with `Wide: true`. Every row carries the cells of all
//!   columns, priority-1 ones included, and kubectl hides priority-1 columns unless `-o wide`.
//! - kube prints internal objects, which it decodes from storage with defaults applied. Here the
//!   objects are stored JSON, so the few defaults a cell depends on are applied where that cell
//!   is read: a Deployment's or ReplicaSet's 1 replica, a Service's `ClusterIP` type and `TCP`
//!   protocol, a Namespace's `Active` phase, and a pod's `podIP` as the first of `podIPs`.
//! - Objects come from users, so every field is read leniently. A missing, null or mistyped
//!   field reads as the zero value Go would hold, and nothing here can panic.
//! - The clock is a parameter (`now`, Unix seconds). Tables are then deterministic and easy to
//!   test.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

/// How much of each object a row carries: the `includeObject` query parameter, with values
/// `None`, `Metadata` (kube's default) and `Object`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No `object` in the rows.
    None,
    /// A `PartialObjectMetadata` holding the object's `metadata`.
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter. An empty value means kube's default,
    /// `Metadata`. A bad value yields the message of kube's 400 Bad Request for it.
    pub fn parse(s: &str) -> Result<IncludeObject, String> {
        match s {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(format!(
                "Unable to convert to Table as requested: includeObject: Invalid value: {}: \
                 must be 'Metadata', 'Object', 'None', or empty",
                go_quote(other)
            )),
        }
    }
}

/// Builds the Table for `objects` of resource `plural` (e.g. "pods", "nodes", "deployments")
/// at time `now` (Unix seconds).
///
/// `list_meta` is the ListMeta JSON for the Table's `metadata` (resourceVersion, continue,
/// remainingItemCount) and is passed through. Each row's `object` is a `PartialObjectMetadata`
/// for [`IncludeObject::Metadata`] and the object itself for [`IncludeObject::Object`]. For
/// [`IncludeObject::None`] the row has no `object` at all.
pub fn table(
    plural: &str,
    objects: &[Value],
    now: i64,
    include: IncludeObject,
    list_meta: Value,
) -> Value {
    let printer = Printer::for_resource(plural);
    let columns: Vec<Value> = printer.columns().iter().map(Column::definition).collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| row(printer, object, now, include))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": table_metadata(list_meta),
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// kube's `duration.HumanDuration` for a span of `seconds`, as used in AGE cells: "0s", "59s",
/// "119s", "2m", "5m30s", "10m", "3h", "3h30m", "47h", "2d", "2d5h", "8d", "2y", "2y45d", "8y".
/// Spans of -1s count as "0s", as clock skew. Shorter spans give "<invalid>".
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_remainder(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_remainder(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return with_remainder(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

/// "{major}{unit}" with "{minor}{minor_unit}" after it unless `minor` is zero (HumanDuration's
/// two-unit spans).
fn with_remainder(major: i64, unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{unit}")
    } else {
        format!("{major}{unit}{minor}{minor_unit}")
    }
}

// ---------------------------------------------------------------------------------------------
// The table's parts
// ---------------------------------------------------------------------------------------------

/// The Table's `metadata`: the caller's ListMeta, or an empty one when none was given (kube
/// always writes the object).
fn table_metadata(list_meta: Value) -> Value {
    match list_meta {
        Value::Object(_) => list_meta,
        _ => json!({}),
    }
}

/// One `TableRow`: the printer's cells, its row conditions if any, and the object as asked.
fn row(printer: Printer, object: &Value, now: i64, include: IncludeObject) -> Value {
    let mut row = Map::new();
    row.insert(
        "cells".to_string(),
        Value::Array(printer.cells(object, now)),
    );
    if let Some(conditions) = printer.row_conditions(object) {
        row.insert("conditions".to_string(), conditions);
    }
    if let Some(embedded) = row_object(object, include) {
        row.insert("object".to_string(), embedded);
    }
    Value::Object(row)
}

/// The `object` a row embeds for `include`, or None when the row carries no object.
fn row_object(object: &Value, include: IncludeObject) -> Option<Value> {
    match include {
        IncludeObject::None => None,
        IncludeObject::Object => Some(object.clone()),
        IncludeObject::Metadata => Some(partial_object_metadata(object)),
    }
}

/// The object's `metadata` wrapped as a `meta.k8s.io/v1` `PartialObjectMetadata`.
fn partial_object_metadata(object: &Value) -> Value {
    let metadata = object
        .get("metadata")
        .filter(|metadata| metadata.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
    })
}

/// A `TableColumnDefinition`.
#[derive(Clone, Copy, Debug)]
struct Column {
    name: &'static str,
    /// The OpenAPI type of the cells: "string", "integer", "date", ...
    kind: &'static str,
    /// "name" for the column holding the object's name, else empty.
    format: &'static str,
    description: &'static str,
    /// 0 for the default columns, 1 for those kubectl shows only with `-o wide`.
    priority: i32,
}

impl Column {
    /// A priority-0 column without a format.
    const fn new(name: &'static str, kind: &'static str, description: &'static str) -> Column {
        Column {
            name,
            kind,
            format: "",
            description,
            priority: 0,
        }
    }

    /// This column with priority 1, shown by kubectl only with `-o wide`.
    const fn wide(self) -> Column {
        Column {
            priority: 1,
            ..self
        }
    }

    /// This column with the "name" format, marking it as the object's name.
    const fn named(self) -> Column {
        Column {
            format: "name",
            ..self
        }
    }

    /// The column as kube serializes it: every field is always written.
    fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The NAME column that starts most tables.
const NAME: Column = Column::new("Name", "string", META_NAME).named();
/// The AGE column of most tables.
const AGE: Column = Column::new("Age", "string", META_CREATION_TIMESTAMP);
/// The wide CONTAINERS column of workload tables.
const CONTAINERS: Column = Column::new(
    "Containers",
    "string",
    "Names of each container in the template.",
)
.wide();
/// The wide IMAGES column of workload tables.
const IMAGES: Column = Column::new(
    "Images",
    "string",
    "Images referenced by each container in the template.",
)
.wide();

/// Columns of `kubectl get pods`.
const POD_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    Column::new(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    Column::new(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last \
         container in this pod has restarted.",
    ),
    AGE,
    Column::new("IP", "string", POD_IP).wide(),
    Column::new("Node", "string", POD_NODE_NAME).wide(),
    Column::new("Nominated Node", "string", POD_NOMINATED_NODE).wide(),
    Column::new("Readiness Gates", "string", POD_READINESS_GATES).wide(),
];

/// Columns of `kubectl get nodes`.
const NODE_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "The status of the node"),
    Column::new("Roles", "string", "The roles of the node"),
    AGE,
    Column::new("Version", "string", NODE_KUBELET_VERSION),
    Column::new("Internal-IP", "string", NODE_ADDRESSES).wide(),
    Column::new("External-IP", "string", NODE_ADDRESSES).wide(),
    Column::new("OS-Image", "string", NODE_OS_IMAGE).wide(),
    Column::new("Kernel-Version", "string", NODE_KERNEL_VERSION).wide(),
    Column::new("Container-Runtime", "string", NODE_CONTAINER_RUNTIME).wide(),
];

/// Columns of `kubectl get namespaces`.
const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "The status of the namespace"),
    AGE,
];

/// Columns of `kubectl get services`.
const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Type", "string", SERVICE_TYPE),
    Column::new("Cluster-IP", "string", SERVICE_CLUSTER_IP),
    Column::new("External-IP", "string", SERVICE_EXTERNAL_IPS),
    Column::new("Port(s)", "string", SERVICE_PORTS),
    AGE,
    Column::new("Selector", "string", SERVICE_SELECTOR).wide(),
];

/// Columns of `kubectl get deployments`.
const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Ready", "string", "Number of the pod with ready state"),
    Column::new("Up-to-date", "string", DEPLOYMENT_UPDATED),
    Column::new("Available", "string", DEPLOYMENT_AVAILABLE),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new("Selector", "string", DEPLOYMENT_SELECTOR).wide(),
];

/// Columns of `kubectl get replicasets`.
const REPLICA_SET_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Desired", "integer", REPLICA_SET_REPLICAS),
    Column::new("Current", "integer", REPLICA_SET_CURRENT),
    Column::new("Ready", "integer", REPLICA_SET_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new("Selector", "string", REPLICA_SET_SELECTOR).wide(),
];

/// Columns of `kubectl get events`.
const EVENT_COLUMNS: &[Column] = &[
    Column::new("Last Seen", "string", EVENT_LAST_TIMESTAMP),
    Column::new("Type", "string", EVENT_TYPE),
    Column::new("Reason", "string", EVENT_REASON),
    Column::new("Object", "string", EVENT_INVOLVED_OBJECT),
    Column::new("Subobject", "string", EVENT_FIELD_PATH).wide(),
    Column::new("Source", "string", EVENT_SOURCE).wide(),
    Column::new("Message", "string", EVENT_MESSAGE),
    Column::new("First Seen", "string", EVENT_FIRST_TIMESTAMP).wide(),
    Column::new("Count", "string", EVENT_COUNT).wide(),
    NAME.wide(),
];

/// Columns of `kubectl get jobs`.
const JOB_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "Status of the job."),
    Column::new("Completions", "string", JOB_SUCCEEDED),
    Column::new("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new("Selector", "string", JOB_SELECTOR).wide(),
];

/// Columns of `kubectl get leases`.
const LEASE_COLUMNS: &[Column] = &[NAME, Column::new("Holder", "string", LEASE_HOLDER), AGE];

/// Columns of the default table, for every resource without a printer of its own.
const DEFAULT_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Created At", "date", META_CREATION_TIMESTAMP),
];

// Column descriptions: the `SwaggerDoc()` texts kube takes them from
// (`types_swagger_doc_generated.go` of k8s.io/api and k8s.io/apimachinery).

const POD_IP: &str = "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.";
const POD_NOMINATED_NODE: &str = "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.";
const POD_NODE_NAME: &str = "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename";
const POD_READINESS_GATES: &str = "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates";
const NODE_KUBELET_VERSION: &str = "Kubelet Version reported by the node.";
const NODE_ADDRESSES: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";
const NODE_OS_IMAGE: &str =
    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
const NODE_KERNEL_VERSION: &str =
    "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
const NODE_CONTAINER_RUNTIME: &str = "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).";
const EVENT_LAST_TIMESTAMP: &str =
    "The time at which the most recent occurrence of this event was recorded.";
const EVENT_TYPE: &str =
    "Type of this event (Normal, Warning), new types could be added in the future";
const EVENT_REASON: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
const EVENT_INVOLVED_OBJECT: &str = "The object that this event is about.";
const EVENT_FIELD_PATH: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
const EVENT_SOURCE: &str =
    "The component reporting this event. Should be a short machine understandable string.";
const EVENT_MESSAGE: &str = "A human-readable description of the status of this operation.";
const EVENT_FIRST_TIMESTAMP: &str =
    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
const EVENT_COUNT: &str = "The number of times this event has occurred.";
const SERVICE_TYPE: &str = "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types";
const SERVICE_CLUSTER_IP: &str = "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
const SERVICE_EXTERNAL_IPS: &str = "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.";
const SERVICE_PORTS: &str = "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
const SERVICE_SELECTOR: &str = "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/";
const REPLICA_SET_REPLICAS: &str = "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
const REPLICA_SET_CURRENT: &str = "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
const REPLICA_SET_READY: &str =
    "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.";
const REPLICA_SET_SELECTOR: &str = "Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
const DEPLOYMENT_UPDATED: &str = "Total number of non-terminating pods targeted by this deployment that have the desired template spec.";
const DEPLOYMENT_AVAILABLE: &str = "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.";
const DEPLOYMENT_SELECTOR: &str = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.";
const JOB_SUCCEEDED: &str = "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.";
const JOB_SELECTOR: &str = "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
const LEASE_HOLDER: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";
const META_NAME: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const META_CREATION_TIMESTAMP: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

// ---------------------------------------------------------------------------------------------
// Printers: which columns a resource has and how one object fills them
// ---------------------------------------------------------------------------------------------

/// The print function of a resource: kube's `printPod`, `printNode`, ... or the default
/// convertor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Printer {
    Pod,
    Node,
    Namespace,
    Service,
    Deployment,
    ReplicaSet,
    Event,
    Job,
    Lease,
    Default,
}

impl Printer {
    /// The printer for resource `plural`. Names without a printer of their own get the default.
    fn for_resource(plural: &str) -> Printer {
        match plural {
            "pods" => Printer::Pod,
            "nodes" => Printer::Node,
            "namespaces" => Printer::Namespace,
            "services" => Printer::Service,
            "deployments" => Printer::Deployment,
            "replicasets" => Printer::ReplicaSet,
            "events" => Printer::Event,
            "jobs" => Printer::Job,
            "leases" => Printer::Lease,
            _ => Printer::Default,
        }
    }

    /// The column definitions of this printer's table.
    fn columns(self) -> &'static [Column] {
        match self {
            Printer::Pod => POD_COLUMNS,
            Printer::Node => NODE_COLUMNS,
            Printer::Namespace => NAMESPACE_COLUMNS,
            Printer::Service => SERVICE_COLUMNS,
            Printer::Deployment => DEPLOYMENT_COLUMNS,
            Printer::ReplicaSet => REPLICA_SET_COLUMNS,
            Printer::Event => EVENT_COLUMNS,
            Printer::Job => JOB_COLUMNS,
            Printer::Lease => LEASE_COLUMNS,
            Printer::Default => DEFAULT_COLUMNS,
        }
    }

    /// The cells of one object's row, one for each column (wide columns included).
    fn cells(self, object: &Value, now: i64) -> Vec<Value> {
        match self {
            Printer::Pod => pod_cells(object, now),
            Printer::Node => node_cells(object, now),
            Printer::Namespace => namespace_cells(object, now),
            Printer::Service => service_cells(object, now),
            Printer::Deployment => deployment_cells(object, now),
            Printer::ReplicaSet => replica_set_cells(object, now),
            Printer::Event => event_cells(object, now),
            Printer::Job => job_cells(object, now),
            Printer::Lease => lease_cells(object, now),
            Printer::Default => default_cells(object),
        }
    }

    /// The row's `conditions`. Only pods have them: `Completed` once the pod succeeded or
    /// failed.
    fn row_conditions(self, object: &Value) -> Option<Value> {
        match self {
            Printer::Pod => pod_row_conditions(object),
            _ => None,
        }
    }
}

/// The default convertor's cells: the name, and the creation time in RFC 3339 (UTC).
fn default_cells(object: &Value) -> Vec<Value> {
    vec![
        json!(name_of(object)),
        json!(rfc3339(time_at(object, &["metadata", "creationTimestamp"]))),
    ]
}

// ----- pods ----------------------------------------------------------------------------------

/// What a pod's READY, STATUS and RESTARTS cells sum up (printPod's counters).
#[derive(Debug, Default)]
struct PodSummary {
    /// Ready containers: regular ones, plus started restartable init containers (sidecars).
    ready: i64,
    /// Regular containers plus restartable init containers.
    total: i64,
    /// The STATUS cell.
    reason: String,
    restarts: i64,
    /// When the most recently restarted counted container last terminated.
    last_restart: Option<i64>,
}

/// What the pass over init container statuses found.
#[derive(Debug, Default)]
struct InitPass {
    /// An init container still holds the pod back, and it set the STATUS.
    initializing: bool,
    /// Restarts of restartable init containers only; these still count once the pod runs.
    sidecar_restarts: i64,
    sidecar_last_restart: Option<i64>,
}

/// Where one init container leaves its pod.
#[derive(Debug, PartialEq)]
enum InitState {
    /// Exited 0: look at the next one.
    Finished,
    /// A restartable init container (sidecar) that has started: look at the next one.
    Started,
    /// Still blocking the pod, which then shows this STATUS.
    Blocking(String),
}

/// The cells of `kubectl get pods`: NAME, READY, STATUS, RESTARTS, AGE, IP, NODE,
/// NOMINATED NODE, READINESS GATES.
fn pod_cells(pod: &Value, now: i64) -> Vec<Value> {
    let summary = pod_summary(pod);
    vec![
        json!(name_of(pod)),
        json!(format!("{}/{}", summary.ready, summary.total)),
        json!(summary.reason),
        json!(restarts_cell(&summary, now)),
        json!(age(pod, now)),
        json!(or_none(pod_ip(pod))),
        json!(or_none(str_at(pod, &["spec", "nodeName"]))),
        json!(or_none(str_at(pod, &["status", "nominatedNodeName"]))),
        json!(readiness_gates(pod)),
    ]
}

/// The pod's `Completed` row condition once it succeeded or failed.
fn pod_row_conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match str_at(pod, &["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{
        "type": "Completed",
        "status": "True",
        "reason": reason,
        "message": message,
    }]))
}

/// printPod's walk over a pod's status: init containers first, then (once they are done) the
/// regular containers, then deletion.
fn pod_summary(pod: &Value) -> PodSummary {
    let init_specs = list_at(pod, &["spec", "initContainers"]);
    let sidecars = init_specs
        .iter()
        .filter(|spec| is_restartable(Some(spec)))
        .count();
    let mut summary = PodSummary {
        total: count(list_at(pod, &["spec", "containers"]).len()).saturating_add(count(sidecars)),
        reason: initial_pod_reason(pod),
        ..PodSummary::default()
    };
    let init = apply_init_containers(pod, init_specs, &mut summary);
    if !init.initializing || first_condition_true(pod, "Initialized") {
        apply_containers(pod, &init, &mut summary);
    }
    apply_deletion(pod, &mut summary.reason);
    summary
}

/// The STATUS before containers are looked at: the pod's reason or phase, or `SchedulingGated`.
fn initial_pod_reason(pod: &Value) -> String {
    let reason = str_at(pod, &["status", "reason"]);
    let mut reason = if reason.is_empty() {
        str_at(pod, &["status", "phase"])
    } else {
        reason
    };
    let gated = list_at(pod, &["status", "conditions"])
        .iter()
        .any(|condition| {
            str_at(condition, &["type"]) == "PodScheduled"
                && str_at(condition, &["reason"]) == "SchedulingGated"
        });
    if gated {
        reason = "SchedulingGated";
    }
    reason.to_string()
}

/// Counts the init containers' restarts and ready sidecars, and lets the first init container
/// still blocking the pod set its STATUS.
fn apply_init_containers(pod: &Value, init_specs: &[Value], summary: &mut PodSummary) -> InitPass {
    let mut pass = InitPass::default();
    let statuses = list_at(pod, &["status", "initContainerStatuses"]);
    for (index, status) in statuses.iter().enumerate() {
        let restarts = int_at(status, &["restartCount"]);
        let terminated_at = time_at(status, &["lastState", "terminated", "finishedAt"]);
        summary.restarts = summary.restarts.saturating_add(restarts);
        keep_latest(&mut summary.last_restart, terminated_at);
        let restartable = is_restartable(init_spec(init_specs, str_at(status, &["name"])));
        if restartable {
            pass.sidecar_restarts = pass.sidecar_restarts.saturating_add(restarts);
            keep_latest(&mut pass.sidecar_last_restart, terminated_at);
        }
        match init_container_state(status, index, init_specs.len(), restartable) {
            InitState::Finished => {}
            InitState::Started => {
                if bool_at(status, &["ready"]) {
                    summary.ready = summary.ready.saturating_add(1);
                }
            }
            InitState::Blocking(reason) => {
                summary.reason = reason;
                pass.initializing = true;
                break;
            }
        }
    }
    pass
}

/// Where init container `status` (the `index`th of `init_count`) leaves its pod.
fn init_container_state(
    status: &Value,
    index: usize,
    init_count: usize,
    restartable: bool,
) -> InitState {
    let terminated = at(status, &["state", "terminated"]);
    if terminated.is_some_and(|terminated| int_at(terminated, &["exitCode"]) == 0) {
        return InitState::Finished;
    }
    if restartable && bool_at(status, &["started"]) {
        return InitState::Started;
    }
    if let Some(terminated) = terminated {
        return InitState::Blocking(format!("Init:{}", terminated_reason(terminated)));
    }
    let waiting = str_at(status, &["state", "waiting", "reason"]);
    if !waiting.is_empty() && waiting != "PodInitializing" {
        return InitState::Blocking(format!("Init:{waiting}"));
    }
    InitState::Blocking(format!("Init:{index}/{init_count}"))
}

/// Counts the regular containers' restarts and ready ones, and lets them set the STATUS. The
/// last container listed is looked at first, so the first one listed has the last word.
fn apply_containers(pod: &Value, init: &InitPass, summary: &mut PodSummary) {
    summary.restarts = init.sidecar_restarts;
    summary.last_restart = init.sidecar_last_restart;
    let mut has_running = false;
    let mut error_reason = String::new();
    for status in list_at(pod, &["status", "containerStatuses"]).iter().rev() {
        summary.restarts = summary
            .restarts
            .saturating_add(int_at(status, &["restartCount"]));
        keep_latest(
            &mut summary.last_restart,
            time_at(status, &["lastState", "terminated", "finishedAt"]),
        );
        let waiting = str_at(status, &["state", "waiting", "reason"]);
        if !waiting.is_empty() {
            summary.reason = waiting.to_string();
        } else if let Some(terminated) = at(status, &["state", "terminated"]) {
            summary.reason = terminated_reason(terminated);
            if int_at(terminated, &["exitCode"]) != 0 {
                error_reason = summary.reason.clone();
            }
        } else if bool_at(status, &["ready"]) && at(status, &["state", "running"]).is_some() {
            has_running = true;
            summary.ready = summary.ready.saturating_add(1);
        }
    }
    if summary.reason == "Completed" {
        if has_running && any_condition_true(pod, "Ready") {
            summary.reason = "Running".to_string();
        } else if !error_reason.is_empty() {
            summary.reason = error_reason;
        } else if has_running {
            summary.reason = "NotReady".to_string();
        }
    }
}

/// A deleted pod shows `Terminating` until its phase is final, or `Unknown` when its node was
/// lost.
fn apply_deletion(pod: &Value, reason: &mut String) {
    if at(pod, &["metadata", "deletionTimestamp"]).is_none() {
        return;
    }
    if str_at(pod, &["status", "reason"]) == "NodeLost" {
        *reason = "Unknown".to_string();
    } else if !matches!(str_at(pod, &["status", "phase"]), "Succeeded" | "Failed") {
        *reason = "Terminating".to_string();
    }
}

/// Why a container terminated: its reason, else `Signal:N`, else `ExitCode:N`.
fn terminated_reason(terminated: &Value) -> String {
    let reason = str_at(terminated, &["reason"]);
    if !reason.is_empty() {
        return reason.to_string();
    }
    let signal = int_at(terminated, &["signal"]);
    if signal != 0 {
        return format!("Signal:{signal}");
    }
    format!("ExitCode:{}", int_at(terminated, &["exitCode"]))
}

/// The RESTARTS cell: the count, with how long ago the last restart was, e.g. "2 (5m ago)".
fn restarts_cell(summary: &PodSummary, now: i64) -> String {
    match summary.last_restart {
        Some(last) if summary.restarts != 0 => {
            format!("{} ({} ago)", summary.restarts, since(Some(last), now))
        }
        _ => summary.restarts.to_string(),
    }
}

/// The init container spec named `name`, if the pod has one.
fn init_spec<'a>(init_specs: &'a [Value], name: &str) -> Option<&'a Value> {
    init_specs
        .iter()
        .find(|spec| str_at(spec, &["name"]) == name)
}

/// Whether an init container restarts always, which makes it a sidecar.
fn is_restartable(spec: Option<&Value>) -> bool {
    spec.is_some_and(|spec| str_at(spec, &["restartPolicy"]) == "Always")
}

/// The pod's IP: `status.podIP`, else the first of `status.podIPs` (kube's v1 conversion).
fn pod_ip(pod: &Value) -> &str {
    let ip = str_at(pod, &["status", "podIP"]);
    if !ip.is_empty() {
        return ip;
    }
    list_at(pod, &["status", "podIPs"])
        .first()
        .map_or("", |first| str_at(first, &["ip"]))
}

/// The READINESS GATES cell: how many of the pod's gates are true, e.g. "1/2", or "<none>".
fn readiness_gates(pod: &Value) -> String {
    let gates = list_at(pod, &["spec", "readinessGates"]);
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let conditions = list_at(pod, &["status", "conditions"]);
    let passed = gates
        .iter()
        .filter(|gate| {
            let wanted = str_at(gate, &["conditionType"]);
            conditions
                .iter()
                .find(|condition| str_at(condition, &["type"]) == wanted)
                .is_some_and(|condition| str_at(condition, &["status"]) == "True")
        })
        .count();
    format!("{passed}/{}", gates.len())
}

// ----- nodes ---------------------------------------------------------------------------------

/// The cells of `kubectl get nodes`: NAME, STATUS, ROLES, AGE, VERSION, INTERNAL-IP,
/// EXTERNAL-IP, OS-IMAGE, KERNEL-VERSION, CONTAINER-RUNTIME.
fn node_cells(node: &Value, now: i64) -> Vec<Value> {
    let info = |field: &str| or_unknown(str_at(node, &["status", "nodeInfo", field]));
    vec![
        json!(name_of(node)),
        json!(node_status(node)),
        json!(node_roles(node)),
        json!(age(node, now)),
        json!(str_at(node, &["status", "nodeInfo", "kubeletVersion"])),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

/// The STATUS cell of a node: `Ready`, `NotReady` or `Unknown` from its Ready condition, then
/// `SchedulingDisabled` when cordoned.
fn node_status(node: &Value) -> String {
    // kube keys conditions by type in a map, so the last Ready condition listed wins.
    let ready = list_at(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|condition| str_at(condition, &["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(condition) if str_at(condition, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if bool_at(node, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

/// The ROLES cell: the sorted roles named by `node-role.kubernetes.io/<role>` label keys and
/// the `kubernetes.io/role` label's value, or `<none>`.
fn node_roles(node: &Value) -> String {
    const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
    const ROLE_LABEL: &str = "kubernetes.io/role";
    let mut roles = BTreeSet::new();
    for (key, value) in string_map_at(node, &["metadata", "labels"]) {
        if let Some(role) = key.strip_prefix(ROLE_PREFIX) {
            if !role.is_empty() {
                roles.insert(role);
            }
        } else if key == ROLE_LABEL && !value.is_empty() {
            roles.insert(value);
        }
    }
    if roles.is_empty() {
        return "<none>".to_string();
    }
    roles.into_iter().collect::<Vec<_>>().join(",")
}

/// The node's first address of type `kind` (`InternalIP`, `ExternalIP`), or `<none>`.
fn node_address<'a>(node: &'a Value, kind: &str) -> &'a str {
    list_at(node, &["status", "addresses"])
        .iter()
        .find(|address| str_at(address, &["type"]) == kind)
        .map_or("<none>", |address| str_at(address, &["address"]))
}

// ----- namespaces ----------------------------------------------------------------------------

/// The cells of `kubectl get namespaces`: NAME, STATUS (the phase, `Active` by default), AGE.
fn namespace_cells(namespace: &Value, now: i64) -> Vec<Value> {
    vec![
        json!(name_of(namespace)),
        json!(or_default(
            str_at(namespace, &["status", "phase"]),
            "Active"
        )),
        json!(age(namespace, now)),
    ]
}

// ----- services ------------------------------------------------------------------------------

/// The cells of `kubectl get services`: NAME, TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S), AGE,
/// SELECTOR.
fn service_cells(service: &Value, now: i64) -> Vec<Value> {
    let kind = or_default(str_at(service, &["spec", "type"]), "ClusterIP");
    vec![
        json!(name_of(service)),
        json!(kind),
        json!(service_cluster_ip(service)),
        json!(service_external_ip(service, kind)),
        json!(or_none(&service_ports(service))),
        json!(age(service, now)),
        json!(format_labels(service, &["spec", "selector"])),
    ]
}

/// The CLUSTER-IP cell: the first of `clusterIPs` (falling back to `clusterIP`, which kube's
/// registry copies there on write), or `<none>`.
fn service_cluster_ip(service: &Value) -> &str {
    match list_at(service, &["spec", "clusterIPs"]).first() {
        Some(first) => first.as_str().unwrap_or(""),
        None => or_none(str_at(service, &["spec", "clusterIP"])),
    }
}

/// The EXTERNAL-IP cell for a service of type `kind` (kube's `getServiceExternalIP`, wide).
fn service_external_ip(service: &Value, kind: &str) -> String {
    let external_ips = strings_at(service, &["spec", "externalIPs"]);
    match kind {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => {
            let mut addresses = load_balancer_addresses(service);
            if addresses.is_empty() && external_ips.is_empty() {
                return "<pending>".to_string();
            }
            addresses.extend(external_ips);
            addresses.join(",")
        }
        "ExternalName" => str_at(service, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// The sorted, distinct IPs (or else hostnames) of a service's load balancer ingress points.
fn load_balancer_addresses(service: &Value) -> Vec<&str> {
    let mut addresses = BTreeSet::new();
    for ingress in list_at(service, &["status", "loadBalancer", "ingress"]) {
        let ip = str_at(ingress, &["ip"]);
        let hostname = str_at(ingress, &["hostname"]);
        if !ip.is_empty() {
            addresses.insert(ip);
        } else if !hostname.is_empty() {
            addresses.insert(hostname);
        }
    }
    addresses.into_iter().collect()
}

/// The PORT(S) cell: `port/protocol`, or `port:nodePort/protocol`, comma-separated.
fn service_ports(service: &Value) -> String {
    let pieces: Vec<String> = list_at(service, &["spec", "ports"])
        .iter()
        .map(|port| {
            let number = int_at(port, &["port"]);
            let protocol = or_default(str_at(port, &["protocol"]), "TCP");
            let node_port = int_at(port, &["nodePort"]);
            if node_port > 0 {
                format!("{number}:{node_port}/{protocol}")
            } else {
                format!("{number}/{protocol}")
            }
        })
        .collect();
    pieces.join(",")
}

// ----- deployments and replica sets ----------------------------------------------------------

/// The cells of `kubectl get deployments`: NAME, READY ("ready/desired"), UP-TO-DATE,
/// AVAILABLE, AGE, CONTAINERS, IMAGES, SELECTOR.
fn deployment_cells(deployment: &Value, now: i64) -> Vec<Value> {
    let (names, images) = template_containers(deployment);
    let selector = label_selector(at(deployment, &["spec", "selector"]))
        .unwrap_or_else(|| "<invalid>".to_string());
    vec![
        json!(name_of(deployment)),
        json!(format!(
            "{}/{}",
            int_at(deployment, &["status", "readyReplicas"]),
            desired_replicas(deployment)
        )),
        json!(int_at(deployment, &["status", "updatedReplicas"])),
        json!(int_at(deployment, &["status", "availableReplicas"])),
        json!(age(deployment, now)),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

/// The cells of `kubectl get replicasets`: NAME, DESIRED, CURRENT, READY, AGE, CONTAINERS,
/// IMAGES, SELECTOR.
fn replica_set_cells(replica_set: &Value, now: i64) -> Vec<Value> {
    let (names, images) = template_containers(replica_set);
    vec![
        json!(name_of(replica_set)),
        json!(desired_replicas(replica_set)),
        json!(int_at(replica_set, &["status", "replicas"])),
        json!(int_at(replica_set, &["status", "readyReplicas"])),
        json!(age(replica_set, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(at(
            replica_set,
            &["spec", "selector"]
        ))),
    ]
}

/// `spec.replicas`, defaulting to 1 as kube's apps/v1 defaults do.
fn desired_replicas(object: &Value) -> i64 {
    at(object, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// The CONTAINERS and IMAGES cells: the pod template's container names and images, each
/// comma-separated.
fn template_containers(object: &Value) -> (String, String) {
    let containers = list_at(object, &["spec", "template", "spec", "containers"]);
    let names: Vec<&str> = containers
        .iter()
        .map(|container| str_at(container, &["name"]))
        .collect();
    let images: Vec<&str> = containers
        .iter()
        .map(|container| str_at(container, &["image"]))
        .collect();
    (names.join(","), images.join(","))
}

// ----- events --------------------------------------------------------------------------------

/// Where an Event keeps the fields its row shows. core/v1 and events.k8s.io/v1 Events print
/// alike (kube converts both to one internal type) but name these fields differently.
struct EventFields {
    regarding: &'static str,
    message: &'static str,
    source: &'static str,
    first_timestamp: &'static str,
    last_timestamp: &'static str,
    count: &'static str,
    reporting_controller: &'static str,
}

/// The field names of a core/v1 Event.
const CORE_EVENT: EventFields = EventFields {
    regarding: "involvedObject",
    message: "message",
    source: "source",
    first_timestamp: "firstTimestamp",
    last_timestamp: "lastTimestamp",
    count: "count",
    reporting_controller: "reportingComponent",
};

/// The field names of an events.k8s.io/v1 Event.
const EVENTS_API_EVENT: EventFields = EventFields {
    regarding: "regarding",
    message: "note",
    source: "deprecatedSource",
    first_timestamp: "deprecatedFirstTimestamp",
    last_timestamp: "deprecatedLastTimestamp",
    count: "deprecatedCount",
    reporting_controller: "reportingController",
};

/// The cells of `kubectl get events`: LAST SEEN, TYPE, REASON, OBJECT, SUBOBJECT, SOURCE,
/// MESSAGE, FIRST SEEN, COUNT, NAME.
fn event_cells(event: &Value, now: i64) -> Vec<Value> {
    let fields = event_fields(event);
    let (last_seen, count) = event_last_seen_and_count(event, fields, now);
    vec![
        json!(last_seen),
        json!(str_at(event, &["type"])),
        json!(str_at(event, &["reason"])),
        json!(event_target(event, fields)),
        json!(str_at(event, &[fields.regarding, "fieldPath"])),
        json!(event_source(event, fields)),
        json!(str_at(event, &[fields.message]).trim()),
        json!(event_first_seen(event, fields, now)),
        json!(count),
        json!(name_of(event)),
    ]
}

/// The field names of `event`'s API group.
fn event_fields(event: &Value) -> &'static EventFields {
    if str_at(event, &["apiVersion"]).starts_with("events.k8s.io/") {
        &EVENTS_API_EVENT
    } else {
        &CORE_EVENT
    }
}

/// The FIRST SEEN cell: the age of the first timestamp, else of `eventTime`.
fn event_first_seen(event: &Value, fields: &EventFields, now: i64) -> String {
    let first =
        time_at(event, &[fields.first_timestamp]).or_else(|| time_at(event, &["eventTime"]));
    since(first, now)
}

/// The LAST SEEN and COUNT cells. A series overrides both; a singleton event of the new API,
/// which has no count, counts 1.
fn event_last_seen_and_count(event: &Value, fields: &EventFields, now: i64) -> (String, i64) {
    if let Some(series) = at(event, &["series"]) {
        let last = since(time_at(series, &["lastObservedTime"]), now);
        return (last, int_at(series, &["count"]));
    }
    let last = match time_at(event, &[fields.last_timestamp]) {
        Some(last) => since(Some(last), now),
        None => event_first_seen(event, fields, now),
    };
    let count = match int_at(event, &[fields.count]) {
        0 => 1,
        count => count,
    };
    (last, count)
}

/// The OBJECT cell: `kind/name` of the object the event is about, the kind in lower case.
fn event_target(event: &Value, fields: &EventFields) -> String {
    let kind = str_at(event, &[fields.regarding, "kind"]).to_lowercase();
    let name = str_at(event, &[fields.regarding, "name"]);
    if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    }
}

/// The SOURCE cell: "component, host", each falling back to the reporting controller and
/// instance, the host left out when empty.
fn event_source(event: &Value, fields: &EventFields) -> String {
    let component = or_default(
        str_at(event, &[fields.source, "component"]),
        str_at(event, &[fields.reporting_controller]),
    );
    let host = or_default(
        str_at(event, &[fields.source, "host"]),
        str_at(event, &["reportingInstance"]),
    );
    if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    }
}

// ----- jobs ----------------------------------------------------------------------------------

/// The cells of `kubectl get jobs`: NAME, STATUS, COMPLETIONS, DURATION, AGE, CONTAINERS,
/// IMAGES, SELECTOR.
fn job_cells(job: &Value, now: i64) -> Vec<Value> {
    let (names, images) = template_containers(job);
    vec![
        json!(name_of(job)),
        json!(job_status(job)),
        json!(job_completions(job)),
        json!(job_duration(job, now)),
        json!(age(job, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(at(job, &["spec", "selector"]))),
    ]
}

/// The STATUS cell of a job, from its conditions and deletion, in kube's order of precedence.
fn job_status(job: &Value) -> &'static str {
    let condition = |kind: &str| first_condition_true(job, kind);
    if condition("Complete") {
        "Complete"
    } else if condition("Failed") {
        "Failed"
    } else if at(job, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else if condition("Suspended") {
        "Suspended"
    } else if condition("FailureTarget") {
        "FailureTarget"
    } else if condition("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

/// The COMPLETIONS cell: "succeeded/completions", or for a work queue "succeeded/1" with
/// " of parallelism" when it runs more than one pod at a time.
fn job_completions(job: &Value) -> String {
    let succeeded = int_at(job, &["status", "succeeded"]);
    if let Some(completions) = at(job, &["spec", "completions"]).and_then(Value::as_i64) {
        return format!("{succeeded}/{completions}");
    }
    let parallelism = int_at(job, &["spec", "parallelism"]);
    if parallelism > 1 {
        format!("{succeeded}/1 of {parallelism}")
    } else {
        format!("{succeeded}/1")
    }
}

/// The DURATION cell: from start to completion, or to now while running; empty before the
/// job starts.
fn job_duration(job: &Value, now: i64) -> String {
    let Some(start) = time_at(job, &["status", "startTime"]) else {
        return String::new();
    };
    let end = time_at(job, &["status", "completionTime"]).unwrap_or(now);
    human_duration(elapsed(start, end))
}

// ----- leases --------------------------------------------------------------------------------

/// The cells of `kubectl get leases`: NAME, HOLDER, AGE.
fn lease_cells(lease: &Value, now: i64) -> Vec<Value> {
    vec![
        json!(name_of(lease)),
        json!(str_at(lease, &["spec", "holderIdentity"])),
        json!(age(lease, now)),
    ]
}

// ---------------------------------------------------------------------------------------------
// Labels and label selectors, printed as k8s.io/apimachinery prints them
// ---------------------------------------------------------------------------------------------

/// kube's `labels.FormatLabels` for the string map at `path`: sorted `key=value` pairs,
/// comma-separated, or `<none>`.
fn format_labels(object: &Value, path: &[&str]) -> String {
    let mut pairs: Vec<String> = string_map_at(object, path)
        .into_iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.sort();
    pairs.join(",")
}

/// kube's `metav1.FormatLabelSelector`: the selector, `<none>` when it selects everything or
/// nothing, `<error>` when it is invalid.
fn format_label_selector(selector: Option<&Value>) -> String {
    match label_selector(selector) {
        None => "<error>".to_string(),
        Some(text) if text.is_empty() => "<none>".to_string(),
        Some(text) => text,
    }
}

/// kube's `metav1.LabelSelectorAsSelector(..).String()`: each requirement printed, sorted by
/// key, comma-separated. Empty for an absent or empty selector; None for an invalid one.
fn label_selector(selector: Option<&Value>) -> Option<String> {
    let Some(selector) = selector else {
        return Some(String::new());
    };
    let mut requirements: Vec<(&str, String)> = Vec::new();
    for (key, value) in string_map_at(selector, &["matchLabels"]) {
        if !is_label_key(key) || !is_label_value(value) {
            return None;
        }
        requirements.push((key, format!("{key}={value}")));
    }
    for expression in list_at(selector, &["matchExpressions"]) {
        let key = str_at(expression, &["key"]);
        let text = selector_expression(expression)?;
        requirements.push((key, text));
    }
    requirements.sort_by(|a, b| a.0.cmp(b.0));
    let texts: Vec<String> = requirements.into_iter().map(|(_, text)| text).collect();
    Some(texts.join(","))
}

/// One `matchExpressions` entry printed as a requirement ("key in (a,b)", "key notin (a)",
/// "key", "!key"), or None when kube would reject it.
fn selector_expression(expression: &Value) -> Option<String> {
    let key = str_at(expression, &["key"]);
    let mut values = strings_at(expression, &["values"]);
    if !is_label_key(key) || !values.iter().all(|value| is_label_value(value)) {
        return None;
    }
    values.sort_unstable();
    match str_at(expression, &["operator"]) {
        "In" if !values.is_empty() => Some(format!("{key} in ({})", values.join(","))),
        "NotIn" if !values.is_empty() => Some(format!("{key} notin ({})", values.join(","))),
        "Exists" if values.is_empty() => Some(key.to_string()),
        "DoesNotExist" if values.is_empty() => Some(format!("!{key}")),
        _ => None,
    }
}

/// Whether `key` is a valid label key: an optional DNS subdomain prefix and '/', then a name of
/// at most 63 characters.
fn is_label_key(key: &str) -> bool {
    let name = match key.split_once('/') {
        None => key,
        Some((prefix, name)) => {
            if !is_dns_subdomain(prefix) || name.contains('/') {
                return false;
            }
            name
        }
    };
    !name.is_empty() && name.len() <= 63 && is_label_name(name)
}

/// Whether `value` is a valid label value: empty, or a name of at most 63 characters.
fn is_label_value(value: &str) -> bool {
    value.is_empty() || (value.len() <= 63 && is_label_name(value))
}

/// Alphanumerics, '-', '_' and '.', starting and ending with an alphanumeric.
fn is_label_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edges_ok = match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric(),
        _ => false,
    };
    edges_ok
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

/// Whether `name` is a lowercase RFC 1123 subdomain of at most 253 characters.
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// Lowercase alphanumerics and '-', starting and ending with an alphanumeric.
fn is_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let alnum = |byte: &u8| byte.is_ascii_lowercase() || byte.is_ascii_digit();
    let edges_ok = match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => alnum(first) && alnum(last),
        _ => false,
    };
    edges_ok && bytes.iter().all(|byte| alnum(byte) || *byte == b'-')
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in Unix seconds: kube's "unset" timestamp.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// The longest span a Go `time.Duration` holds, in whole seconds. `time.Since` saturates at it.
const MAX_GO_DURATION_SECONDS: i64 = i64::MAX / 1_000_000_000;

/// Parses an RFC 3339 timestamp (`metadata.creationTimestamp`, `lastTimestamp`, ...) into Unix
/// seconds, fractions dropped. None when it is not a timestamp or is Go's zero time.
fn parse_timestamp(text: &str) -> Option<i64> {
    let timestamp: jiff::Timestamp = text.parse().ok()?;
    let seconds = timestamp.as_second();
    if seconds == GO_ZERO_TIME && timestamp.subsec_nanosecond() == 0 {
        return None;
    }
    Some(seconds)
}

/// The timestamp at `path`, if it is set.
fn time_at(value: &Value, path: &[&str]) -> Option<i64> {
    parse_timestamp(str_at(value, path))
}

/// Seconds from `start` to `end`, saturating like Go's `time.Time.Sub`.
fn elapsed(start: i64, end: i64) -> i64 {
    end.saturating_sub(start)
        .clamp(-MAX_GO_DURATION_SECONDS, MAX_GO_DURATION_SECONDS)
}

/// kube's `translateTimestampSince`: how long ago `timestamp` was, or `<unknown>` if unset.
fn since(timestamp: Option<i64>, now: i64) -> String {
    match timestamp {
        Some(timestamp) => human_duration(elapsed(timestamp, now)),
        None => "<unknown>".to_string(),
    }
}

/// The AGE cell: how long ago the object was created.
fn age(object: &Value, now: i64) -> String {
    since(time_at(object, &["metadata", "creationTimestamp"]), now)
}

/// A timestamp in Go's `time.RFC3339` layout in UTC, e.g. "2024-05-01T10:00:00Z". Unset
/// timestamps print as Go's zero time.
fn rfc3339(timestamp: Option<i64>) -> String {
    timestamp
        .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
        .map_or_else(|| "0001-01-01T00:00:00Z".to_string(), |t| t.to_string())
}

// ---------------------------------------------------------------------------------------------
// Reading JSON leniently
// ---------------------------------------------------------------------------------------------

/// The value at `path` (a chain of object keys), if each step exists and the end is not null.
fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |value, key| value.get(*key))
        .filter(|value| !value.is_null())
}

/// The string at `path`, or "" (Go's zero string).
fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    at(value, path).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `path`, or 0.
fn int_at(value: &Value, path: &[&str]) -> i64 {
    at(value, path).and_then(Value::as_i64).unwrap_or(0)
}

/// The boolean at `path`, or false.
fn bool_at(value: &Value, path: &[&str]) -> bool {
    at(value, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at `path`, or an empty one.
fn list_at<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The strings of the array at `path`; other entries read as "".
fn strings_at<'a>(value: &'a Value, path: &[&str]) -> Vec<&'a str> {
    list_at(value, path)
        .iter()
        .map(|item| item.as_str().unwrap_or(""))
        .collect()
}

/// The entries of the string map at `path` (labels, selectors); non-string values read as "".
fn string_map_at<'a>(value: &'a Value, path: &[&str]) -> Vec<(&'a str, &'a str)> {
    at(value, path)
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(key, value)| (key.as_str(), value.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.name`, or "".
fn name_of(object: &Value) -> &str {
    str_at(object, &["metadata", "name"])
}

/// Whether the first of the object's `status.conditions` of type `kind` is True (kube's
/// `isPodInitializedConditionTrue`, `hasJobCondition`).
fn first_condition_true(object: &Value, kind: &str) -> bool {
    list_at(object, &["status", "conditions"])
        .iter()
        .find(|condition| str_at(condition, &["type"]) == kind)
        .is_some_and(|condition| str_at(condition, &["status"]) == "True")
}

/// Whether any of the object's `status.conditions` of type `kind` is True (kube's
/// `hasPodReadyCondition`).
fn any_condition_true(object: &Value, kind: &str) -> bool {
    list_at(object, &["status", "conditions"])
        .iter()
        .any(|condition| {
            str_at(condition, &["type"]) == kind && str_at(condition, &["status"]) == "True"
        })
}

/// Keeps in `latest` the later of itself and `candidate`.
fn keep_latest(latest: &mut Option<i64>, candidate: Option<i64>) {
    if let Some(candidate) = candidate
        && latest.is_none_or(|current| current < candidate)
    {
        *latest = Some(candidate);
    }
}

/// A length as a cell number.
fn count(length: usize) -> i64 {
    i64::try_from(length).unwrap_or(i64::MAX)
}

/// `text`, or `fallback` when it is empty.
fn or_default<'a>(text: &'a str, fallback: &'a str) -> &'a str {
    if text.is_empty() { fallback } else { text }
}

/// `text`, or `<none>` when it is empty.
fn or_none(text: &str) -> &str {
    or_default(text, "<none>")
}

/// `text`, or `<unknown>` when it is empty.
fn or_unknown(text: &str) -> &str {
    or_default(text, "<unknown>")
}

/// `text` quoted as Go's `%q` does, for kube's error messages.
fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\u{07}' => quoted.push_str("\\a"),
            '\u{08}' => quoted.push_str("\\b"),
            '\u{0c}' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{0b}' => quoted.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(quoted, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04x}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock of every test: 2023-11-14T22:13:20Z.
    const NOW: i64 = 1_700_000_000;

    /// The RFC 3339 text of `seconds` before [`NOW`].
    fn ago(seconds: i64) -> String {
        match jiff::Timestamp::from_second(NOW - seconds) {
            Ok(timestamp) => timestamp.to_string(),
            Err(error) => panic!("bad test time: {error}"),
        }
    }

    /// The table of `objects` of `plural` at [`NOW`], without embedded objects.
    fn table_of(plural: &str, objects: &[Value]) -> Value {
        table(plural, objects, NOW, IncludeObject::None, json!({}))
    }

    /// The cells of `object`'s row in the `plural` table.
    fn cells(plural: &str, object: Value) -> Vec<Value> {
        let table = table_of(plural, &[object]);
        match table["rows"][0]["cells"].as_array() {
            Some(cells) => cells.clone(),
            None => panic!("no cells in {table}"),
        }
    }

    /// The cells of `object`'s row as text, numbers printed.
    fn texts(plural: &str, object: Value) -> Vec<String> {
        cells(plural, object)
            .into_iter()
            .map(|cell| match cell {
                Value::String(text) => text,
                other => other.to_string(),
            })
            .collect()
    }

    /// (name, type, priority) of each column of the `plural` table.
    fn columns_of(plural: &str) -> Vec<(String, String, i64)> {
        let table = table_of(plural, &[]);
        table["columnDefinitions"]
            .as_array()
            .map(|columns| {
                columns
                    .iter()
                    .map(|column| {
                        (
                            column["name"].as_str().unwrap_or("").to_string(),
                            column["type"].as_str().unwrap_or("").to_string(),
                            column["priority"].as_i64().unwrap_or(-1),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Column triples from literals.
    fn expect_columns(list: &[(&str, &str, i64)]) -> Vec<(String, String, i64)> {
        list.iter()
            .map(|(name, kind, priority)| (name.to_string(), kind.to_string(), *priority))
            .collect()
    }

    // ----- human_duration --------------------------------------------------------------------

    #[test]
    fn human_duration_matches_kube_at_every_boundary() {
        let minute = 60;
        let hour = 60 * minute;
        let day = 24 * hour;
        let year = 365 * day;
        let cases = [
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (1, "1s"),
            (59, "59s"),
            (60, "60s"),
            (119, "119s"),
            (2 * minute, "2m"),
            (2 * minute + 30, "2m30s"),
            (5 * minute + 30, "5m30s"),
            (9 * minute + 59, "9m59s"),
            (10 * minute, "10m"),
            (10 * minute + 59, "10m"),
            (3 * hour - 1, "179m"),
            (3 * hour, "3h"),
            (3 * hour + 30 * minute, "3h30m"),
            (8 * hour - 1, "7h59m"),
            (8 * hour, "8h"),
            (48 * hour - 1, "47h"),
            (2 * day, "2d"),
            (2 * day + 5 * hour, "2d5h"),
            (8 * day - 1, "7d23h"),
            (8 * day, "8d"),
            (2 * year - 1, "729d"),
            (2 * year, "2y"),
            (2 * year + 45 * day, "2y45d"),
            (8 * year - 1, "7y364d"),
            (8 * year, "8y"),
            (100 * year, "100y"),
            (i64::MAX, "292471208677y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "{seconds}s");
        }
    }

    #[test]
    fn ages_saturate_like_go_durations_and_unset_times_are_unknown() {
        assert_eq!(since(None, NOW), "<unknown>");
        assert_eq!(since(Some(i64::MIN), i64::MAX), "292y");
        assert_eq!(since(Some(NOW + 1), NOW), "0s");
        assert_eq!(since(Some(NOW + 5), NOW), "<invalid>");
        assert_eq!(parse_timestamp("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("not a time"), None);
        assert_eq!(parse_timestamp("2023-11-14T22:13:20Z"), Some(NOW));
        assert_eq!(
            parse_timestamp("2023-11-14T23:13:20.123456+01:00"),
            Some(NOW)
        );
    }

    // ----- includeObject and the envelope -----------------------------------------------------

    #[test]
    fn include_object_parses_kube_values_and_rejects_others_with_kube_text() {
        assert_eq!(IncludeObject::parse(""), Ok(IncludeObject::Metadata));
        assert_eq!(
            IncludeObject::parse("Metadata"),
            Ok(IncludeObject::Metadata)
        );
        assert_eq!(IncludeObject::parse("None"), Ok(IncludeObject::None));
        assert_eq!(IncludeObject::parse("Object"), Ok(IncludeObject::Object));
        assert_eq!(IncludeObject::default(), IncludeObject::Metadata);
        assert_eq!(
            IncludeObject::parse("object"),
            Err(
                "Unable to convert to Table as requested: includeObject: Invalid value: \
                 \"object\": must be 'Metadata', 'Object', 'None', or empty"
                    .to_string()
            )
        );
        assert_eq!(go_quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\x01\"");
    }

    #[test]
    fn table_envelope_passes_list_meta_through_and_embeds_objects_as_asked() {
        let pod = json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        });
        let list_meta =
            json!({"resourceVersion": "42", "continue": "abc", "remainingItemCount": 3});
        let objects = [pod.clone()];

        let with_metadata = table(
            "pods",
            &objects,
            NOW,
            IncludeObject::Metadata,
            list_meta.clone(),
        );
        assert_eq!(with_metadata["kind"], "Table");
        assert_eq!(with_metadata["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(with_metadata["metadata"], list_meta);
        assert_eq!(
            with_metadata["rows"][0]["object"],
            json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
            })
        );

        let with_object = table("pods", &objects, NOW, IncludeObject::Object, json!({}));
        assert_eq!(with_object["rows"][0]["object"], pod);

        let without = table("pods", &objects, NOW, IncludeObject::None, Value::Null);
        assert_eq!(without["metadata"], json!({}));
        assert!(without["rows"][0].get("object").is_none());
        assert!(without["rows"][0].get("conditions").is_none());

        let empty = table("pods", &[], NOW, IncludeObject::Metadata, json!({}));
        assert_eq!(empty["rows"], json!([]));
        assert_eq!(empty["columnDefinitions"].as_array().map(Vec::len), Some(9));
    }

    #[test]
    fn column_definitions_carry_every_field_as_kube_serializes_them() {
        let table = table_of("pods", &[]);
        assert_eq!(
            table["columnDefinitions"][0],
            json!({
                "name": "Name",
                "type": "string",
                "format": "name",
                "description": META_NAME,
                "priority": 0,
            })
        );
        assert_eq!(
            table["columnDefinitions"][5],
            json!({
                "name": "IP",
                "type": "string",
                "format": "",
                "description": POD_IP,
                "priority": 1,
            })
        );
        assert!(META_CREATION_TIMESTAMP.contains("\n\nPopulated by the system."));
    }

    // ----- the default table -----------------------------------------------------------------

    #[test]
    fn other_resources_get_kube_default_name_and_created_at() {
        assert_eq!(
            columns_of("configmaps"),
            expect_columns(&[("Name", "string", 0), ("Created At", "date", 0)])
        );
        let table = table_of("configmaps", &[]);
        assert_eq!(table["columnDefinitions"][0]["format"], "name");
        assert_eq!(
            table["columnDefinitions"][1]["description"],
            META_CREATION_TIMESTAMP
        );
        let created =
            json!({"metadata": {"name": "cm", "creationTimestamp": "2024-05-01T12:00:00+02:00"}});
        assert_eq!(texts("configmaps", created), ["cm", "2024-05-01T10:00:00Z"]);
        let unset = json!({"metadata": {"name": "cm"}});
        assert_eq!(texts("widgets", unset), ["cm", "0001-01-01T00:00:00Z"]);
    }

    // ----- pods ------------------------------------------------------------------------------

    /// A pod created an hour ago with the given spec and status.
    fn pod(spec: Value, status: Value) -> Value {
        json!({
            "metadata": {"name": "web", "creationTimestamp": ago(3600)},
            "spec": spec,
            "status": status,
        })
    }

    /// The spec of a pod with `n` regular containers.
    fn containers(n: usize) -> Value {
        let list: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("c{i}"), "image": "nginx"}))
            .collect();
        json!({"containers": list})
    }

    /// READY, STATUS and RESTARTS of a pod.
    fn pod_status_cells(pod: Value) -> (String, String, String) {
        let texts = texts("pods", pod);
        (texts[1].clone(), texts[2].clone(), texts[3].clone())
    }

    /// A running, ready container status.
    fn running(name: &str) -> Value {
        json!({"name": name, "ready": true, "restartCount": 0, "state": {"running": {"startedAt": ago(60)}}})
    }

    #[test]
    fn pod_columns_are_kubes() {
        assert_eq!(
            columns_of("pods"),
            expect_columns(&[
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Status", "string", 0),
                ("Restarts", "string", 0),
                ("Age", "string", 0),
                ("IP", "string", 1),
                ("Node", "string", 1),
                ("Nominated Node", "string", 1),
                ("Readiness Gates", "string", 1),
            ])
        );
    }

    #[test]
    fn running_pod_row_has_every_cell() {
        let pod = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(300)},
            "spec": {
                "nodeName": "node-1",
                "containers": [{"name": "c", "image": "nginx"}],
                "readinessGates": [{"conditionType": "example.com/gate"}, {"conditionType": "other"}],
            },
            "status": {
                "phase": "Running",
                "podIP": "10.0.0.5",
                "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}],
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "example.com/gate", "status": "True"},
                ],
                "containerStatuses": [running("c")],
            },
        });
        assert_eq!(
            cells("pods", pod),
            [
                json!("web"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("5m"),
                json!("10.0.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("1/2"),
            ]
        );
    }

    #[test]
    fn new_pod_is_pending_with_none_cells() {
        let pod = json!({"metadata": {"name": "p"}, "spec": containers(2), "status": {"phase": "Pending"}});
        assert_eq!(
            texts("pods", pod),
            [
                "p",
                "0/2",
                "Pending",
                "0",
                "<unknown>",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ]
        );
    }

    #[test]
    fn pod_ip_falls_back_to_pod_ips() {
        let pod = pod(containers(1), json!({"podIPs": [{"ip": "10.1.1.1"}]}));
        assert_eq!(texts("pods", pod)[5], "10.1.1.1");
    }

    #[test]
    fn waiting_container_shows_its_reason() {
        let status = json!({
            "phase": "Pending",
            "containerStatuses": [{"name": "c0", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}}}],
        });
        assert_eq!(
            pod_status_cells(pod(containers(1), status)),
            ("0/1".into(), "ContainerCreating".into(), "0".into())
        );
    }

    #[test]
    fn crash_looping_container_shows_restarts_and_when() {
        let status = json!({
            "phase": "Running",
            "containerStatuses": [{
                "name": "c0", "ready": false, "restartCount": 5,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(180)}},
            }],
        });
        assert_eq!(
            pod_status_cells(pod(containers(1), status)),
            ("0/1".into(), "CrashLoopBackOff".into(), "5 (3m ago)".into())
        );
    }

    #[test]
    fn restarts_without_a_termination_time_show_only_the_count() {
        let status = json!({"phase": "Running", "containerStatuses": [{
            "name": "c0", "ready": true, "restartCount": 2, "state": {"running": {}}}]});
        assert_eq!(
            pod_status_cells(pod(containers(1), status)),
            ("1/1".into(), "Running".into(), "2".into())
        );
    }

    #[test]
    fn succeeded_pod_is_completed_with_a_row_condition() {
        let status = json!({
            "phase": "Succeeded",
            "containerStatuses": [{"name": "c0", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
        });
        let pod = pod(containers(1), status);
        let table = table_of("pods", std::slice::from_ref(&pod));
        assert_eq!(
            table["rows"][0]["conditions"],
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                "message": "The pod has completed successfully."}])
        );
        assert_eq!(
            pod_status_cells(pod),
            ("0/1".into(), "Completed".into(), "0".into())
        );
    }

    #[test]
    fn failed_container_shows_error_and_exit_codes_and_signals() {
        let terminated = |state: Value| {
            let status = json!({"phase": "Failed", "containerStatuses": [{
                "name": "c0", "ready": false, "restartCount": 0, "state": {"terminated": state}}]});
            pod_status_cells(pod(containers(1), status)).1
        };
        assert_eq!(
            terminated(json!({"exitCode": 1, "reason": "Error"})),
            "Error"
        );
        assert_eq!(terminated(json!({"exitCode": 137})), "ExitCode:137");
        assert_eq!(terminated(json!({"exitCode": 2, "signal": 9})), "Signal:9");
        let failed = pod(containers(1), json!({"phase": "Failed"}));
        let table = table_of("pods", &[failed]);
        assert_eq!(table["rows"][0]["conditions"][0]["reason"], "Failed");
        assert_eq!(
            table["rows"][0]["conditions"][0]["message"],
            "The pod failed."
        );
    }

    #[test]
    fn completed_container_beside_a_running_one() {
        let status = |ready_condition: bool| {
            json!({
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready_condition { "True" } else { "False" }}],
                "containerStatuses": [
                    {"name": "c0", "ready": false, "restartCount": 0,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    running("c1"),
                ],
            })
        };
        assert_eq!(
            pod_status_cells(pod(containers(2), status(true))),
            ("1/2".into(), "Running".into(), "0".into())
        );
        assert_eq!(
            pod_status_cells(pod(containers(2), status(false))).1,
            "NotReady"
        );
    }

    #[test]
    fn completed_container_beside_a_failed_one_shows_the_error() {
        let status = json!({
            "phase": "Failed",
            "containerStatuses": [
                {"name": "c0", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "c1", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 3, "reason": "Error"}}},
            ],
        });
        assert_eq!(pod_status_cells(pod(containers(2), status)).1, "Error");
    }

    #[test]
    fn init_containers_hold_the_pod_back() {
        let spec = json!({
            "initContainers": [{"name": "init-a", "image": "busybox"}, {"name": "init-b", "image": "busybox"}],
            "containers": [{"name": "c0", "image": "nginx"}],
        });
        let init_status = |a: Value, b: Value| {
            let status = json!({
                "phase": "Pending",
                "initContainerStatuses": [
                    {"name": "init-a", "ready": false, "restartCount": 0, "state": a},
                    {"name": "init-b", "ready": false, "restartCount": 0, "state": b},
                ],
                "containerStatuses": [{"name": "c0", "ready": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "PodInitializing"}}}],
            });
            pod_status_cells(pod(spec.clone(), status))
        };
        let initializing = json!({"waiting": {"reason": "PodInitializing"}});
        let running_state = json!({"running": {}});
        let done = json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
        assert_eq!(
            init_status(running_state.clone(), initializing.clone()),
            ("0/1".into(), "Init:0/2".into(), "0".into())
        );
        assert_eq!(init_status(done.clone(), running_state).1, "Init:1/2");
        assert_eq!(
            init_status(
                json!({"waiting": {"reason": "CrashLoopBackOff"}}),
                initializing.clone()
            )
            .1,
            "Init:CrashLoopBackOff"
        );
        assert_eq!(
            init_status(
                json!({"terminated": {"exitCode": 1, "reason": "Error"}}),
                initializing.clone()
            )
            .1,
            "Init:Error"
        );
        assert_eq!(
            init_status(json!({"terminated": {"exitCode": 1}}), initializing.clone()).1,
            "Init:ExitCode:1"
        );
        assert_eq!(
            init_status(
                json!({"terminated": {"exitCode": 1, "signal": 15}}),
                initializing
            )
            .1,
            "Init:Signal:15"
        );
        assert_eq!(init_status(done.clone(), done).1, "PodInitializing");
    }

    #[test]
    fn single_init_container_shows_init_zero_of_one() {
        let spec = json!({"initContainers": [{"name": "init"}], "containers": [{"name": "c0"}]});
        let status = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]});
        assert_eq!(
            pod_status_cells(pod(spec, status)),
            ("0/1".into(), "Init:0/1".into(), "0".into())
        );
    }

    #[test]
    fn init_container_restarts_count_only_while_initializing() {
        let spec = json!({"initContainers": [{"name": "init"}], "containers": [{"name": "c0"}]});
        let crashing = json!({"phase": "Pending", "initContainerStatuses": [{
            "name": "init", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(30)}}}]});
        assert_eq!(
            pod_status_cells(pod(spec.clone(), crashing)),
            (
                "0/1".into(),
                "Init:CrashLoopBackOff".into(),
                "3 (30s ago)".into()
            )
        );
        let done = json!({
            "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"name": "init", "ready": false, "restartCount": 3,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
            "containerStatuses": [running("c0")],
        });
        assert_eq!(
            pod_status_cells(pod(spec, done)),
            ("1/1".into(), "Running".into(), "0".into())
        );
    }

    #[test]
    fn sidecars_count_in_ready_and_total_and_keep_their_restarts() {
        let spec = json!({
            "initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "c0"}],
        });
        let status = json!({
            "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true, "restartCount": 1,
                "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(600)}}}],
            "containerStatuses": [running("c0")],
        });
        assert_eq!(
            pod_status_cells(pod(spec.clone(), status)),
            ("2/2".into(), "Running".into(), "1 (10m ago)".into())
        );
        let not_started = json!({"phase": "Pending", "initContainerStatuses": [{
            "name": "proxy", "ready": false, "started": false, "restartCount": 0, "state": {"running": {}}}]});
        assert_eq!(
            pod_status_cells(pod(spec, not_started)),
            ("0/2".into(), "Init:0/1".into(), "0".into())
        );
    }

    #[test]
    fn deleted_pods_are_terminating_or_unknown() {
        let deleted = |status: Value| {
            let mut pod = pod(containers(1), status);
            pod["metadata"]["deletionTimestamp"] = json!(ago(5));
            pod_status_cells(pod).1
        };
        assert_eq!(
            deleted(json!({"phase": "Running", "containerStatuses": [running("c0")]})),
            "Terminating"
        );
        assert_eq!(
            deleted(json!({"phase": "Running", "reason": "NodeLost"})),
            "Unknown"
        );
        assert_eq!(deleted(json!({"phase": "Succeeded"})), "Succeeded");
    }

    #[test]
    fn scheduling_gated_and_evicted_pods_show_their_reason() {
        let gated = json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]});
        assert_eq!(
            pod_status_cells(pod(containers(1), gated)).1,
            "SchedulingGated"
        );
        let evicted = json!({"phase": "Failed", "reason": "Evicted"});
        assert_eq!(pod_status_cells(pod(containers(1), evicted)).1, "Evicted");
    }

    #[test]
    fn wide_pod_cells_show_node_and_nominated_node() {
        let pod = pod(
            json!({"nodeName": "n1", "containers": []}),
            json!({"nominatedNodeName": "n2"}),
        );
        let texts = texts("pods", pod);
        assert_eq!(texts[6], "n1");
        assert_eq!(texts[7], "n2");
    }

    // ----- nodes -----------------------------------------------------------------------------

    /// A node with these labels, conditions and cordon flag, created two days ago.
    fn node(labels: Value, conditions: Value, unschedulable: bool) -> Value {
        json!({
            "metadata": {"name": "node-1", "labels": labels, "creationTimestamp": ago(2 * 86400)},
            "spec": {"unschedulable": unschedulable},
            "status": {
                "conditions": conditions,
                "addresses": [
                    {"type": "Hostname", "address": "node-1"},
                    {"type": "InternalIP", "address": "192.168.1.10"},
                ],
                "nodeInfo": {"kubeletVersion": "v1.31.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                    "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.0"},
            },
        })
    }

    #[test]
    fn node_columns_are_kubes() {
        assert_eq!(
            columns_of("nodes"),
            expect_columns(&[
                ("Name", "string", 0),
                ("Status", "string", 0),
                ("Roles", "string", 0),
                ("Age", "string", 0),
                ("Version", "string", 0),
                ("Internal-IP", "string", 1),
                ("External-IP", "string", 1),
                ("OS-Image", "string", 1),
                ("Kernel-Version", "string", 1),
                ("Container-Runtime", "string", 1),
            ])
        );
    }

    #[test]
    fn node_row_has_every_cell() {
        let labels = json!({"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "node-1"});
        let ready = json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]);
        assert_eq!(
            texts("nodes", node(labels, ready, false)),
            [
                "node-1",
                "Ready",
                "control-plane",
                "2d",
                "v1.31.0",
                "192.168.1.10",
                "<none>",
                "Debian GNU/Linux 12 (bookworm)",
                "6.1.0",
                "containerd://1.7.0",
            ]
        );
    }

    #[test]
    fn node_status_follows_the_ready_condition_and_cordon() {
        let status = |conditions: Value, unschedulable: bool| {
            texts("nodes", node(json!({}), conditions, unschedulable))[1].clone()
        };
        assert_eq!(
            status(json!([{"type": "Ready", "status": "False"}]), false),
            "NotReady"
        );
        assert_eq!(
            status(json!([{"type": "Ready", "status": "Unknown"}]), false),
            "NotReady"
        );
        assert_eq!(status(json!([]), false), "Unknown");
        assert_eq!(
            status(json!([{"type": "Ready", "status": "True"}]), true),
            "Ready,SchedulingDisabled"
        );
        assert_eq!(status(json!([]), true), "Unknown,SchedulingDisabled");
    }

    #[test]
    fn node_roles_come_from_role_labels_sorted() {
        let roles = |labels: Value| texts("nodes", node(labels, json!([]), false))[2].clone();
        assert_eq!(roles(json!({})), "<none>");
        assert_eq!(roles(json!({"kubernetes.io/hostname": "x"})), "<none>");
        assert_eq!(
            roles(json!({
                "node-role.kubernetes.io/worker": "",
                "node-role.kubernetes.io/control-plane": "true",
                "node-role.kubernetes.io/": "",
                "kubernetes.io/role": "master",
            })),
            "control-plane,master,worker"
        );
        assert_eq!(roles(json!({"kubernetes.io/role": ""})), "<none>");
        assert_eq!(
            roles(json!({"kubernetes.io/role": "worker", "node-role.kubernetes.io/worker": ""})),
            "worker"
        );
    }

    #[test]
    fn bare_node_shows_unknowns() {
        let node = json!({"metadata": {"name": "bare"}});
        assert_eq!(
            texts("nodes", node),
            [
                "bare",
                "Unknown",
                "<none>",
                "<unknown>",
                "",
                "<none>",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>"
            ]
        );
    }

    // ----- namespaces ------------------------------------------------------------------------

    #[test]
    fn namespace_columns_and_cells() {
        assert_eq!(
            columns_of("namespaces"),
            expect_columns(&[
                ("Name", "string", 0),
                ("Status", "string", 0),
                ("Age", "string", 0)
            ])
        );
        let active = json!({"metadata": {"name": "default", "creationTimestamp": ago(90)}});
        assert_eq!(texts("namespaces", active), ["default", "Active", "90s"]);
        let terminating = json!({"metadata": {"name": "old"}, "status": {"phase": "Terminating"}});
        assert_eq!(
            texts("namespaces", terminating),
            ["old", "Terminating", "<unknown>"]
        );
    }

    // ----- services --------------------------------------------------------------------------

    /// A service created ten minutes ago with this spec and status.
    fn service(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "svc", "creationTimestamp": ago(600)}, "spec": spec, "status": status})
    }

    #[test]
    fn service_columns_are_kubes() {
        assert_eq!(
            columns_of("services"),
            expect_columns(&[
                ("Name", "string", 0),
                ("Type", "string", 0),
                ("Cluster-IP", "string", 0),
                ("External-IP", "string", 0),
                ("Port(s)", "string", 0),
                ("Age", "string", 0),
                ("Selector", "string", 1),
            ])
        );
    }

    #[test]
    fn cluster_ip_service_row() {
        let svc = service(
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                "selector": {"app": "web", "tier": "front"}}),
            json!({}),
        );
        assert_eq!(
            texts("services", svc),
            [
                "svc",
                "ClusterIP",
                "10.96.0.10",
                "<none>",
                "80/TCP,53/UDP",
                "10m",
                "app=web,tier=front"
            ]
        );
    }

    #[test]
    fn service_defaults_type_protocol_and_cluster_ip_fallback() {
        let svc = service(
            json!({"clusterIP": "10.96.0.1", "ports": [{"port": 443}]}),
            json!({}),
        );
        assert_eq!(
            texts("services", svc),
            [
                "svc",
                "ClusterIP",
                "10.96.0.1",
                "<none>",
                "443/TCP",
                "10m",
                "<none>"
            ]
        );
        let bare = service(json!({}), json!({}));
        assert_eq!(
            texts("services", bare),
            [
                "svc",
                "ClusterIP",
                "<none>",
                "<none>",
                "<none>",
                "10m",
                "<none>"
            ]
        );
        let headless = service(
            json!({"clusterIP": "None", "clusterIPs": ["None"]}),
            json!({}),
        );
        assert_eq!(texts("services", headless)[2], "None");
    }

    #[test]
    fn node_port_service_shows_node_ports_and_external_ips() {
        let svc = service(
            json!({"type": "NodePort", "clusterIPs": ["10.96.1.1"], "externalIPs": ["1.2.3.4", "5.6.7.8"],
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
            json!({}),
        );
        let texts = texts("services", svc);
        assert_eq!(texts[3], "1.2.3.4,5.6.7.8");
        assert_eq!(texts[4], "80:30080/TCP");
    }

    #[test]
    fn load_balancer_service_external_ip() {
        let spec = json!({"type": "LoadBalancer", "clusterIPs": ["10.96.2.2"],
            "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]});
        let pending = service(spec.clone(), json!({}));
        assert_eq!(texts("services", pending)[3], "<pending>");
        let ingress = json!({"loadBalancer": {"ingress": [
            {"hostname": "lb.example.com"}, {"ip": "203.0.113.9"}, {"ip": "203.0.113.1"}, {"ip": "203.0.113.9"}]}});
        let ready = service(spec.clone(), ingress.clone());
        assert_eq!(
            texts("services", ready)[3],
            "203.0.113.1,203.0.113.9,lb.example.com"
        );
        let mut with_external = spec;
        with_external["externalIPs"] = json!(["198.51.100.7"]);
        assert_eq!(
            texts("services", service(with_external.clone(), ingress))[3],
            "203.0.113.1,203.0.113.9,lb.example.com,198.51.100.7"
        );
        assert_eq!(
            texts("services", service(with_external, json!({})))[3],
            "198.51.100.7"
        );
    }

    #[test]
    fn external_name_and_unknown_service_types() {
        let external = service(
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
            json!({}),
        );
        assert_eq!(
            texts("services", external),
            [
                "svc",
                "ExternalName",
                "<none>",
                "db.example.com",
                "<none>",
                "10m",
                "<none>"
            ]
        );
        let odd = service(json!({"type": "Weird"}), json!({}));
        assert_eq!(texts("services", odd)[3], "<unknown>");
    }

    // ----- deployments and replica sets ------------------------------------------------------

    /// A workload with this spec and status, created a day ago.
    fn workload(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "web", "creationTimestamp": ago(86400)}, "spec": spec, "status": status})
    }

    /// A pod template spec with two containers.
    fn two_container_spec(selector: Value) -> Value {
        json!({
            "replicas": 3,
            "selector": selector,
            "template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.25"},
                {"name": "sidecar", "image": "envoy:v1"},
            ]}},
        })
    }

    #[test]
    fn deployment_columns_are_kubes() {
        assert_eq!(
            columns_of("deployments"),
            expect_columns(&[
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Up-to-date", "string", 0),
                ("Available", "string", 0),
                ("Age", "string", 0),
                ("Containers", "string", 1),
                ("Images", "string", 1),
                ("Selector", "string", 1),
            ])
        );
    }

    #[test]
    fn deployment_row_has_every_cell() {
        let deployment = workload(
            two_container_spec(json!({"matchLabels": {"app": "web"}})),
            json!({"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}),
        );
        assert_eq!(
            cells("deployments", deployment),
            [
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("24h"),
                json!("app,sidecar"),
                json!("nginx:1.25,envoy:v1"),
                json!("app=web"),
            ]
        );
    }

    #[test]
    fn deployment_defaults_to_one_replica_and_prints_selectors_like_kube() {
        let bare = workload(json!({}), json!({}));
        assert_eq!(
            cells("deployments", bare),
            [
                json!("web"),
                json!("0/1"),
                json!(0),
                json!(0),
                json!("24h"),
                json!(""),
                json!(""),
                json!("")
            ]
        );
        let zero = workload(json!({"replicas": 0}), json!({}));
        assert_eq!(texts("deployments", zero)[1], "0/0");
        let selector = json!({
            "matchLabels": {"tier": "front", "app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
                {"key": "gpu", "operator": "Exists"},
            ],
        });
        let fancy = workload(two_container_spec(selector), json!({}));
        assert_eq!(
            texts("deployments", fancy)[7],
            "app=web,!canary,env in (dev,prod),gpu,tier=front,zone notin (b)"
        );
        let invalid = workload(
            two_container_spec(json!({"matchExpressions": [{"key": "a", "operator": "Near"}]})),
            json!({}),
        );
        assert_eq!(texts("deployments", invalid)[7], "<invalid>");
    }

    #[test]
    fn replica_set_columns_and_cells() {
        assert_eq!(
            columns_of("replicasets"),
            expect_columns(&[
                ("Name", "string", 0),
                ("Desired", "integer", 0),
                ("Current", "integer", 0),
                ("Ready", "integer", 0),
                ("Age", "string", 0),
                ("Containers", "string", 1),
                ("Images", "string", 1),
                ("Selector", "string", 1),
            ])
        );
        let replica_set = workload(
            two_container_spec(json!({"matchLabels": {"app": "web", "pod-template-hash": "5d4f"}})),
            json!({"replicas": 3, "readyReplicas": 1}),
        );
        assert_eq!(
            cells("replicasets", replica_set),
            [
                json!("web"),
                json!(3),
                json!(3),
                json!(1),
                json!("24h"),
                json!("app,sidecar"),
                json!("nginx:1.25,envoy:v1"),
                json!("app=web,pod-template-hash=5d4f"),
            ]
        );
        let bare = workload(json!({}), json!({}));
        assert_eq!(
            cells("replicasets", bare),
            [
                json!("web"),
                json!(1),
                json!(0),
                json!(0),
                json!("24h"),
                json!(""),
                json!(""),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn label_selectors_print_like_apimachinery() {
        let selector = |value: Value| label_selector(Some(&value));
        assert_eq!(label_selector(None), Some(String::new()));
        assert_eq!(selector(json!({})), Some(String::new()));
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(
            format_label_selector(Some(&json!({"matchLabels": {}}))),
            "<none>"
        );
        assert_eq!(
            selector(json!({"matchLabels": {"example.com/app": "web", "a": ""}})),
            Some("a=,example.com/app=web".to_string())
        );
        assert_eq!(selector(json!({"matchLabels": {"bad key": "x"}})), None);
        assert_eq!(
            selector(json!({"matchLabels": {"Example.com/app": "x"}})),
            None
        );
        assert_eq!(selector(json!({"matchLabels": {"a/b/c": "x"}})), None);
        assert_eq!(selector(json!({"matchLabels": {"app": "-bad"}})), None);
        assert_eq!(
            selector(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
            None
        );
        assert_eq!(
            selector(
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})
            ),
            None
        );
        assert_eq!(
            format_label_selector(Some(
                &json!({"matchExpressions": [{"key": "a", "operator": "Gt"}]})
            )),
            "<error>"
        );
    }

    // ----- events ----------------------------------------------------------------------------

    #[test]
    fn event_columns_are_kubes() {
        assert_eq!(
            columns_of("events"),
            expect_columns(&[
                ("Last Seen", "string", 0),
                ("Type", "string", 0),
                ("Reason", "string", 0),
                ("Object", "string", 0),
                ("Subobject", "string", 1),
                ("Source", "string", 1),
                ("Message", "string", 0),
                ("First Seen", "string", 1),
                ("Count", "string", 1),
                ("Name", "string", 1),
            ])
        );
        assert_eq!(
            table_of("events", &[])["columnDefinitions"][9]["format"],
            "name"
        );
    }

    #[test]
    fn core_event_row_has_every_cell() {
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web.17a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
            "reason": "BackOff",
            "message": "  Back-off restarting failed container\n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": ago(3600),
            "lastTimestamp": ago(120),
            "count": 12,
            "type": "Warning",
        });
        assert_eq!(
            cells("events", event),
            [
                json!("2m"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web"),
                json!("spec.containers{app}"),
                json!("kubelet, node-1"),
                json!("Back-off restarting failed container"),
                json!("60m"),
                json!(12),
                json!("web.17a"),
            ]
        );
    }

    #[test]
    fn new_style_core_events_use_event_time_series_and_reporting_fields() {
        let singleton = json!({
            "metadata": {"name": "e1"},
            "involvedObject": {"kind": "Node"},
            "eventTime": "2023-11-14T22:13:15.123456Z",
            "reportingComponent": "scheduler",
            "reportingInstance": "scheduler-abc",
            "type": "Normal",
            "reason": "Scheduled",
            "message": "ok",
        });
        assert_eq!(
            cells("events", singleton),
            [
                json!("5s"),
                json!("Normal"),
                json!("Scheduled"),
                json!("node"),
                json!(""),
                json!("scheduler, scheduler-abc"),
                json!("ok"),
                json!("5s"),
                json!(1),
                json!("e1"),
            ]
        );
        let series = json!({
            "metadata": {"name": "e2"},
            "eventTime": ago(7200),
            "series": {"count": 4, "lastObservedTime": ago(30)},
            "source": {"component": "kubelet"},
        });
        let row = texts("events", series);
        assert_eq!(row[0], "30s");
        assert_eq!(row[5], "kubelet");
        assert_eq!(row[7], "120m");
        assert_eq!(row[8], "4");
        let unset = json!({"metadata": {"name": "e3"}});
        assert_eq!(
            texts("events", unset),
            ["<unknown>", "", "", "", "", "", "", "<unknown>", "1", "e3"]
        );
    }

    #[test]
    fn events_api_events_print_like_core_events() {
        let event = json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "web.17b"},
            "regarding": {"kind": "Deployment", "name": "web"},
            "note": "Scaled up replica set web-5d4f to 3",
            "reason": "ScalingReplicaSet",
            "type": "Normal",
            "reportingController": "deployment-controller",
            "deprecatedFirstTimestamp": ago(600),
            "deprecatedLastTimestamp": ago(60),
            "deprecatedCount": 2,
        });
        assert_eq!(
            texts("events", event),
            [
                "60s",
                "Normal",
                "ScalingReplicaSet",
                "deployment/web",
                "",
                "deployment-controller",
                "Scaled up replica set web-5d4f to 3",
                "10m",
                "2",
                "web.17b",
            ]
        );
    }

    // ----- jobs ------------------------------------------------------------------------------

    #[test]
    fn job_columns_are_kubes() {
        assert_eq!(
            columns_of("jobs"),
            expect_columns(&[
                ("Name", "string", 0),
                ("Status", "string", 0),
                ("Completions", "string", 0),
                ("Duration", "string", 0),
                ("Age", "string", 0),
                ("Containers", "string", 1),
                ("Images", "string", 1),
                ("Selector", "string", 1),
            ])
        );
    }

    #[test]
    fn completed_job_row_has_every_cell() {
        let job = json!({
            "metadata": {"name": "pi", "creationTimestamp": ago(400)},
            "spec": {
                "completions": 1, "parallelism": 1,
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}},
                "template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}},
            },
            "status": {
                "succeeded": 1,
                "startTime": ago(390),
                "completionTime": ago(355),
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True"},
                    {"type": "Complete", "status": "True"},
                ],
            },
        });
        assert_eq!(
            texts("jobs", job),
            [
                "pi",
                "Complete",
                "1/1",
                "35s",
                "6m40s",
                "pi",
                "perl:5.34",
                "batch.kubernetes.io/controller-uid=abc",
            ]
        );
    }

    #[test]
    fn job_status_completions_and_duration_variants() {
        let job = |spec: Value, status: Value| {
            texts(
                "jobs",
                json!({"metadata": {"name": "j"}, "spec": spec, "status": status}),
            )
        };
        let running = job(
            json!({"completions": 5}),
            json!({"succeeded": 2, "startTime": ago(150)}),
        );
        assert_eq!(running[1..4], ["Running", "2/5", "2m30s"]);
        let queue = job(json!({"parallelism": 3}), json!({}));
        assert_eq!(queue[1..4], ["Running", "0/1 of 3", ""]);
        let single = job(json!({}), json!({}));
        assert_eq!(single[1..4], ["Running", "0/1", ""]);
        let failed = job(
            json!({}),
            json!({"conditions": [{"type": "Failed", "status": "True"}]}),
        );
        assert_eq!(failed[1], "Failed");
        let suspended = job(
            json!({}),
            json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
        );
        assert_eq!(suspended[1], "Suspended");
        let target = job(
            json!({}),
            json!({"conditions": [{"type": "FailureTarget", "status": "True"}]}),
        );
        assert_eq!(target[1], "FailureTarget");
        let not_yet = job(
            json!({}),
            json!({"conditions": [{"type": "Complete", "status": "False"}]}),
        );
        assert_eq!(not_yet[1], "Running");
        assert_eq!(job(json!({}), json!({}))[7], "<none>");
        let deleting = texts(
            "jobs",
            json!({"metadata": {"name": "j", "deletionTimestamp": ago(1)},
                "status": {"conditions": [{"type": "Suspended", "status": "True"}]}}),
        );
        assert_eq!(deleting[1], "Terminating");
    }

    // ----- leases ----------------------------------------------------------------------------

    #[test]
    fn lease_columns_and_cells() {
        assert_eq!(
            columns_of("leases"),
            expect_columns(&[
                ("Name", "string", 0),
                ("Holder", "string", 0),
                ("Age", "string", 0)
            ])
        );
        let held = json!({"metadata": {"name": "node-1", "creationTimestamp": ago(45)},
            "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}});
        assert_eq!(texts("leases", held), ["node-1", "node-1", "45s"]);
        let free =
            json!({"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": null}});
        assert_eq!(texts("leases", free), ["kube-scheduler", "", "<unknown>"]);
    }

    // ----- robustness ------------------------------------------------------------------------

    #[test]
    fn garbage_objects_print_without_panicking() {
        let garbage = [
            json!(null),
            json!(42),
            json!("pod"),
            json!([1, 2, 3]),
            json!({"metadata": 7, "spec": [], "status": "x"}),
            json!({"metadata": {"name": 5, "labels": ["a"], "creationTimestamp": 12},
                "spec": {"containers": {"a": 1}, "initContainers": [null, 3], "replicas": "3",
                    "ports": [null, {"port": "80"}], "selector": "app=web", "readinessGates": [7]},
                "status": {"conditions": [null, 1], "containerStatuses": [null, {"state": []}],
                    "initContainerStatuses": [{"state": {"terminated": "x"}}, 4],
                    "restartCount": i64::MAX, "loadBalancer": {"ingress": [1]}, "addresses": "x"},
                "series": 3, "involvedObject": "x", "count": -5}),
        ];
        for plural in [
            "pods",
            "nodes",
            "namespaces",
            "services",
            "deployments",
            "replicasets",
            "events",
            "jobs",
            "leases",
            "secrets",
        ] {
            for include in [
                IncludeObject::None,
                IncludeObject::Metadata,
                IncludeObject::Object,
            ] {
                let table = table(plural, &garbage, NOW, include, json!(5));
                let rows = table["rows"].as_array().map(Vec::len);
                assert_eq!(rows, Some(garbage.len()), "{plural}");
                let columns = table["columnDefinitions"].as_array().map(Vec::len);
                for row in table["rows"].as_array().into_iter().flatten() {
                    assert_eq!(row["cells"].as_array().map(Vec::len), columns, "{plural}");
                }
            }
        }
    }

    #[test]
    fn huge_restart_counts_saturate() {
        let status = json!({"phase": "Running", "containerStatuses": [
            {"name": "a", "restartCount": i64::MAX, "state": {}},
            {"name": "b", "restartCount": i64::MAX, "state": {}}]});
        assert_eq!(
            pod_status_cells(pod(containers(2), status)).2,
            i64::MAX.to_string()
        );
    }
}
