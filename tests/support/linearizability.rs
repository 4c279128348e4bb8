//! A linearizability checker for the histories Keel's fault-injection tests record.
//!
//! Shape:
//!
//! - **Algorithm**: Wing & Gong's search as improved by Lowe (WGL), in the form Porcupine uses:
//!   the history becomes a time-ordered list of call and return events; the search repeatedly
//!   takes an operation whose call comes before the first remaining return, steps the model
//!   with it and lifts it out of the list, and backtracks when it reaches a return event (that
//!   operation had to take effect already and could not). Every configuration reached,
//!   (linearized set as a bitset, model state), is memoized so it is explored once.
//! - **Indeterminate operations** (`ret: None`: a timeout or lost connection) are handled as
//!   Jepsen and Porcupine handle them: their return time is +infinity and their output unknown,
//!   so the model steps them with [`Model::step_unknown`], which lists every state they may
//!   leave behind, "not applied" included. They need never be linearized (the write may never
//!   have happened) and, having no return, never block others. Three refinements keep them
//!   cheap: they are tried only where the completed operations are stuck, all at once (so
//!   chains of them that reach a state another one reaches directly are pruned); a
//!   configuration is skipped when one with the same completed operations and state but a
//!   subset of the indeterminate ones was seen (leaving one out is always as good as having
//!   applied it); and the model may say which state changes the operations that could come
//!   next can notice ([`Model::relevant`]), so writes nobody there could observe are not
//!   tried.
//! - **P-compositionality**: the history is partitioned by key and every key is checked
//!   independently ([`check_partitioned`], [`check_kv`]), which keeps each search small.
//! - **Evidence**: a violation names the key, the longest linearizable prefix found (in
//!   linearization order), the first operation that could not be placed after it and the other
//!   operations that could have come next, and renders them readably through `Display`.
//! - **Budget**: [`Limits`] caps the states explored per key and the total time; past either
//!   the result is [`CheckResult::Unknown`], so a pathological history cannot hang a test.
//!
//! The generic core is the [`Model`] trait and [`Operation`]; [`KvModel`] is the per-key
//! register etcd clients see (put, get, delete, compare-and-swap on the value).

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Debug, Display, Write as _};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A sequential specification: what one object (here: one key) does, operation by operation.
pub trait Model {
    /// The object's state; memoized by the search, so it must be cheap to clone and hash.
    type State: Clone + Eq + Hash + Debug;
    type Input: Display;
    type Output: Display;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `input` took effect on `state` and answered `output`, or `None` when
    /// `state` cannot answer `output` to `input`.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;

    /// Every state `input` may leave `state` in when its output is unknown, including `state`
    /// itself when the operation may not have been applied (a write that timed out may or may
    /// not have happened). Duplicates are allowed.
    fn step_unknown(&self, state: &Self::State, input: &Self::Input) -> Vec<Self::State>;

    /// A pruning hint for indeterminate operations; the default, [`Relevant::Any`], is always
    /// correct. When the search is stuck in `state`, it lets an indeterminate operation that
    /// may have taken effect change the state to `t` only if some operation that could come
    /// next (`input`, answering `output`, `None` if unknown) answers `Any` or lists `t`. A model
    /// may list fewer states only when it can show that every linearization that moves
    /// `state` to an unlisted `t` this way can be rearranged into one that does not (without
    /// that operation, or with it later), as [`KvModel`] does.
    fn relevant(
        &self,
        _state: &Self::State,
        _input: &Self::Input,
        _output: Option<&Self::Output>,
    ) -> Relevant<Self::State> {
        Relevant::Any
    }
}

/// The states an operation can tell apart from the current one (see [`Model::relevant`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relevant<S> {
    /// Any change may matter.
    Any,
    /// Only a change to one of these states may matter (none at all when empty).
    Only(Vec<S>),
}

/// One client operation as recorded: times are monotonic nanoseconds on one clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Who issued it; only used to render evidence.
    pub client: usize,
    /// When the request was sent.
    pub call: u64,
    /// When the response arrived; `None` when none did (indeterminate: its effect may happen
    /// at any time after `call`, or never). Must not be before `call`.
    pub ret: Option<u64>,
    pub input: I,
    /// The response; `None` when it is unknown. Ignored (treated as unknown) when `ret` is
    /// `None`. `ret: Some` with `output: None` means "finished by `ret`, outcome unknown".
    pub output: Option<O>,
}

impl<I, O> Operation<I, O> {
    /// An operation that returned `output` at `ret`.
    pub fn completed(client: usize, call: u64, ret: u64, input: I, output: O) -> Self {
        Operation {
            client,
            call,
            ret: Some(ret),
            input,
            output: Some(output),
        }
    }

    /// An operation whose outcome is unknown (timeout, lost connection).
    pub fn indeterminate(client: usize, call: u64, input: I) -> Self {
        Operation {
            client,
            call,
            ret: None,
            input,
            output: None,
        }
    }

    /// The output the model must produce, or `None` when it is unknown.
    fn known_output(&self) -> Option<&O> {
        self.ret.and(self.output.as_ref())
    }
}

impl<I: Display, O: Display> Display for Operation<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {} [{} .. ", self.client, Millis(self.call))?;
        match self.ret {
            Some(ret) => write!(f, "{}]", Millis(ret))?,
            None => write!(f, "?]")?,
        }
        write!(f, " {} -> ", self.input)?;
        match self.known_output() {
            Some(output) => write!(f, "{output}"),
            None => write!(f, "? (unknown)"),
        }
    }
}

/// Nanoseconds rendered as exact milliseconds.
struct Millis(u64);

impl Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}ms", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// How much searching one check may do before it answers [`CheckResult::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Distinct configurations explored per key (memory grows with them).
    pub max_states_per_key: u64,
    /// Wall-clock time for the whole check, all keys together.
    pub timeout: Option<Duration>,
}

impl Default for Limits {
    /// One million states per key, ten seconds in all.
    fn default() -> Self {
        Limits {
            max_states_per_key: 1_000_000,
            timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// The verdict on a history. Operation indices are positions in the checked slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// Every key's history is linearizable.
    Ok,
    /// `key`'s history is not linearizable. `Display` renders all of the evidence.
    Illegal {
        key: String,
        /// The longest linearizable prefix found, in linearization order, then `failed`.
        ops: Vec<usize>,
        /// The operation that could not be placed after that prefix: it had returned, so it
        /// had to take effect before anything still pending, and no order allowed it.
        failed: usize,
        /// The other operations that could have come next at that point.
        pending: Vec<usize>,
        /// The evidence rendered for people: the operations with clients, times, inputs and
        /// outputs, and the model state after the prefix.
        report: String,
    },
    /// The search budget ran out on `key` before a verdict (no other key was illegal).
    Unknown { key: String, explored: u64 },
}

impl CheckResult {
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckResult::Ok)
    }
}

impl Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckResult::Ok => write!(f, "linearizable"),
            CheckResult::Illegal { report, .. } => write!(f, "{report}"),
            CheckResult::Unknown { key, explored } => write!(
                f,
                "key {key:?}: undecided, the linearizability search gave up after {explored} states"
            ),
        }
    }
}

/// Checks a history of one object (one partition, reported as key `""`).
///
/// # Panics
///
/// If an operation returns before it is called.
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    limits: Limits,
) -> CheckResult {
    check_partitioned(model, history, |op| ("", op), limits)
}

/// Checks a history of many independent objects: `split` gives each record's object (key)
/// and operation, and every key's sub-history is checked on its own, in key order. The
/// first illegal key is reported; otherwise the first undecided one, if any.
///
/// # Panics
///
/// If an operation returns before it is called.
pub fn check_partitioned<M: Model, T>(
    model: &M,
    history: &[T],
    split: impl Fn(&T) -> (&str, &Operation<M::Input, M::Output>),
    limits: Limits,
) -> CheckResult {
    let deadline = limits
        .timeout
        .and_then(|timeout| Instant::now().checked_add(timeout));
    let mut partitions: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, record) in history.iter().enumerate() {
        let (key, op) = split(record);
        assert!(
            op.ret.is_none_or(|ret| ret >= op.call),
            "operation {index} returns at {} before its call at {}",
            op.ret.unwrap_or_default(),
            op.call
        );
        partitions.entry(key).or_default().push(index);
    }
    let mut undecided = None;
    for (key, indices) in partitions {
        let ops: Vec<_> = indices.iter().map(|&i| split(&history[i]).1).collect();
        let mut search = Search::new(model, &ops);
        match search.run(limits.max_states_per_key, deadline) {
            Outcome::Ok => {}
            Outcome::Unknown { explored } => {
                undecided.get_or_insert(CheckResult::Unknown {
                    key: key.to_string(),
                    explored,
                });
            }
            Outcome::Illegal(evidence) => {
                let global = |local: &usize| indices[*local];
                let mut ops_out: Vec<usize> = evidence.prefix.iter().map(global).collect();
                let failed = global(&evidence.failed);
                ops_out.push(failed);
                let report = render(key, &ops, &indices, &evidence);
                return CheckResult::Illegal {
                    key: key.to_string(),
                    ops: ops_out,
                    failed,
                    pending: evidence.pending.iter().map(global).collect(),
                    report,
                };
            }
        }
    }
    undecided.unwrap_or(CheckResult::Ok)
}

/// Prefix operations shown in a report; earlier ones are summarized.
const SHOWN_PREFIX: usize = 12;
/// Other pending operations shown in a report.
const SHOWN_PENDING: usize = 16;

/// The report of a violation; `indices` maps the partition's operations to the caller's.
fn render<I: Display, O: Display>(
    key: &str,
    ops: &[&Operation<I, O>],
    indices: &[usize],
    evidence: &Evidence,
) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut out, key, ops, indices, evidence);
    out
}

fn write_report<I: Display, O: Display>(
    out: &mut String,
    key: &str,
    ops: &[&Operation<I, O>],
    indices: &[usize],
    evidence: &Evidence,
) -> fmt::Result {
    let label = |local: usize| indices[local];
    writeln!(
        out,
        "key {key:?} is not linearizable: operation #{} cannot be placed after the longest \
         linearizable prefix found ({} operations)",
        label(evidence.failed),
        evidence.prefix.len()
    )?;
    let skipped = evidence.prefix.len().saturating_sub(SHOWN_PREFIX);
    writeln!(out, "  prefix, in linearization order:")?;
    if skipped > 0 {
        writeln!(out, "    ... {skipped} earlier operations")?;
    }
    for &local in &evidence.prefix[skipped..] {
        writeln!(out, "    #{} {}", label(local), ops[local])?;
    }
    writeln!(out, "  state after the prefix: {}", evidence.state)?;
    writeln!(
        out,
        "  cannot come next, yet must come before anything called after it returned:"
    )?;
    writeln!(
        out,
        "    #{} {}",
        label(evidence.failed),
        ops[evidence.failed]
    )?;
    if !evidence.pending.is_empty() {
        writeln!(
            out,
            "  the other operations that could come next (none leads to a linearization):"
        )?;
        for &local in evidence.pending.iter().take(SHOWN_PENDING) {
            writeln!(out, "    #{} {}", label(local), ops[local])?;
        }
        let more = evidence.pending.len().saturating_sub(SHOWN_PENDING);
        if more > 0 {
            writeln!(out, "    ... {more} more")?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The search.

/// The head of the list of the completed operations' calls and returns, in time order.
const HEAD: usize = 0;
/// The head of the list of the indeterminate operations' calls, in time order.
const LOOSE_HEAD: usize = 1;
/// No node.
const NIL: usize = usize::MAX;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Head,
    /// A call; `ret` is its return node, `NIL` for an indeterminate operation.
    Call {
        ret: usize,
    },
    Return,
}

#[derive(Clone, Copy, Debug)]
struct Node {
    prev: usize,
    next: usize,
    time: u64,
    /// Local operation index.
    op: usize,
    kind: Kind,
}

/// Where an operation's bit lives: completed operations (must be linearized) and
/// indeterminate ones (may be left out) have separate bitsets.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Completed(usize),
    Indeterminate(usize),
}

/// Memo: (completed bitset, state) -> the minimal indeterminate bitsets seen with them.
type Memo<S> = HashMap<(Box<[u64]>, S), Vec<Box<[u64]>>>;

/// What to try when the search comes back to a stack frame.
enum Retry<S> {
    /// A completed operation: the states it may lead to and the one taken.
    Completed { states: Vec<S>, taken: usize },
    /// An indeterminate operation: the configurations (node, state) still to explore from
    /// the parent configuration, all already memoized.
    Indeterminate { frontier: Vec<(usize, S)> },
}

struct Frame<S> {
    /// The call node lifted.
    node: usize,
    /// The state before it.
    prev: S,
    retry: Retry<S>,
}

enum Outcome {
    Ok,
    Illegal(Evidence),
    Unknown { explored: u64 },
}

/// The deepest point the search got stuck at, in local indices.
struct Evidence {
    /// Completed operations linearized.
    depth: usize,
    prefix: Vec<usize>,
    failed: usize,
    pending: Vec<usize>,
    state: String,
}

struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [&'a Operation<M::Input, M::Output>],
    slots: Vec<Slot>,
    completed_total: usize,
    /// Two doubly linked lists (`HEAD`, `LOOSE_HEAD`) that operations are lifted out of as
    /// they are linearized and put back into on backtracking.
    nodes: Vec<Node>,
    completed: Vec<u64>,
    indeterminate: Vec<u64>,
    memo: Memo<M::State>,
    explored: u64,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, ops: &'a [&'a Operation<M::Input, M::Output>]) -> Self {
        let mut slots = Vec::with_capacity(ops.len());
        let (mut completed_total, mut indeterminate_total) = (0, 0);
        // (time, return?, op): at equal times calls come first, making operations concurrent.
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * ops.len());
        let mut loose: Vec<(u64, bool, usize)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            match op.ret {
                Some(ret) => {
                    events.push((op.call, false, i));
                    events.push((ret, true, i));
                    slots.push(Slot::Completed(completed_total));
                    completed_total += 1;
                }
                None => {
                    loose.push((op.call, false, i));
                    slots.push(Slot::Indeterminate(indeterminate_total));
                    indeterminate_total += 1;
                }
            }
        }
        events.sort_unstable();
        loose.sort_unstable();
        let head = Node {
            prev: NIL,
            next: NIL,
            time: 0,
            op: 0,
            kind: Kind::Head,
        };
        let mut nodes = Vec::with_capacity(events.len() + loose.len() + 2);
        nodes.extend([head, head]);
        for (list, events) in [(HEAD, events), (LOOSE_HEAD, loose)] {
            let mut last = list;
            for (time, is_return, op) in events {
                let id = nodes.len();
                let kind = if is_return {
                    Kind::Return
                } else {
                    Kind::Call { ret: NIL }
                };
                nodes.push(Node {
                    prev: last,
                    next: NIL,
                    time,
                    op,
                    kind,
                });
                nodes[last].next = id;
                last = id;
            }
        }
        let mut ret_node = vec![NIL; ops.len()];
        for (id, node) in nodes.iter().enumerate() {
            if let Kind::Return = node.kind {
                ret_node[node.op] = id;
            }
        }
        for node in &mut nodes {
            if let Kind::Call { ret } = &mut node.kind {
                *ret = ret_node[node.op];
            }
        }
        Search {
            model,
            ops,
            slots,
            completed_total,
            nodes,
            completed: vec![0; completed_total.div_ceil(64)],
            indeterminate: vec![0; indeterminate_total.div_ceil(64)],
            memo: HashMap::new(),
            explored: 0,
        }
    }

    fn run(&mut self, max_states: u64, deadline: Option<Instant>) -> Outcome {
        let mut remaining = self.completed_total;
        let mut state = self.model.init();
        self.visit(&state);
        let mut stack: Vec<Frame<M::State>> = Vec::new();
        let mut best: Option<Evidence> = None;
        let mut cursor = self.nodes[HEAD].next;
        let mut steps: u64 = 0;
        while remaining > 0 {
            steps += 1;
            if self.explored > max_states
                || (steps % 1024 == 1 && deadline.is_some_and(|d| Instant::now() >= d))
            {
                return Outcome::Unknown {
                    explored: self.explored,
                };
            }
            // Invariant: while a completed operation is unlinearized its return node is in the
            // list, and the cursor never passes the first return node (it backtracks there),
            // so it is a real node here.
            let node = self.nodes[cursor];
            if let Kind::Call { .. } = node.kind {
                let states = self.successors(node.op, &state);
                if let Some(taken) = self.place(node.op, &states, 0) {
                    let prev = std::mem::replace(&mut state, states[taken].clone());
                    self.lift(cursor);
                    remaining -= 1;
                    stack.push(Frame {
                        node: cursor,
                        prev,
                        retry: Retry::Completed { states, taken },
                    });
                    cursor = self.nodes[HEAD].next;
                } else {
                    cursor = node.next;
                }
                continue;
            }

            // A return: stuck. Remember the deepest such point as evidence.
            let depth = self.completed_total - remaining;
            let evidence = match best.take() {
                Some(b) if b.depth >= depth => b,
                _ => self.evidence(depth, &stack, cursor, &state),
            };
            // Then the indeterminate operations that may take effect here, all at once.
            let mut frontier = self.frontier(cursor, &state);
            let mut next = frontier.pop();
            loop {
                if let Some((node, next_state)) = next {
                    self.set(self.nodes[node].op, true);
                    self.lift(node);
                    let prev = std::mem::replace(&mut state, next_state);
                    stack.push(Frame {
                        node,
                        prev,
                        retry: Retry::Indeterminate { frontier },
                    });
                    cursor = self.nodes[HEAD].next;
                    break;
                }
                let Some(frame) = stack.pop() else {
                    return Outcome::Illegal(evidence);
                };
                let op = self.nodes[frame.node].op;
                self.unlift(frame.node);
                self.set(op, false);
                state = frame.prev;
                match frame.retry {
                    Retry::Completed { states, taken } => {
                        remaining += 1;
                        if let Some(taken) = self.place(op, &states, taken + 1) {
                            let prev = std::mem::replace(&mut state, states[taken].clone());
                            self.lift(frame.node);
                            remaining -= 1;
                            stack.push(Frame {
                                node: frame.node,
                                prev,
                                retry: Retry::Completed { states, taken },
                            });
                            cursor = self.nodes[HEAD].next;
                        } else {
                            cursor = self.nodes[frame.node].next;
                        }
                        break;
                    }
                    Retry::Indeterminate { frontier: mut rest } => {
                        next = rest.pop();
                        frontier = rest;
                    }
                }
            }
            best = Some(evidence);
        }
        Outcome::Ok
    }

    /// The states `op` may lead to from `state`.
    fn successors(&self, op: usize, state: &M::State) -> Vec<M::State> {
        let op = self.ops[op];
        match op.known_output() {
            Some(output) => self
                .model
                .step(state, &op.input, output)
                .into_iter()
                .collect(),
            None => self.model.step_unknown(state, &op.input),
        }
    }

    /// Marks `op` linearized into the first of `states[from..]` not seen before, and returns
    /// its index; leaves `op` unmarked and returns `None` when there is none.
    fn place(&mut self, op: usize, states: &[M::State], from: usize) -> Option<usize> {
        for (i, state) in states.iter().enumerate().skip(from) {
            self.set(op, true);
            if self.visit(state) {
                return Some(i);
            }
            self.set(op, false);
        }
        None
    }

    /// The indeterminate operations called by the time of the return node `stuck` (so they
    /// may take effect before it), each with every new state it leads to that an operation
    /// which could come next finds relevant. The configurations are memoized now, so that
    /// chains of indeterminate operations reaching the same states are pruned, and explored
    /// later.
    fn frontier(&mut self, stuck: usize, state: &M::State) -> Vec<(usize, M::State)> {
        let mut frontier = Vec::new();
        let time = self.nodes[stuck].time;
        let first = self.nodes[LOOSE_HEAD].next;
        if first == NIL || self.nodes[first].time > time {
            return frontier;
        }
        let relevant = self.relevant(stuck, state);
        if relevant == Relevant::Only(Vec::new()) {
            return frontier;
        }
        let mut cursor = first;
        while cursor != NIL && self.nodes[cursor].time <= time {
            let op = self.nodes[cursor].op;
            for next in self.model.step_unknown(state, &self.ops[op].input) {
                let noticed = match &relevant {
                    Relevant::Any => true,
                    Relevant::Only(states) => states.contains(&next),
                };
                if next == *state || !noticed {
                    continue; // not applied, or nothing that could come next would notice
                }
                self.set(op, true);
                if self.visit(&next) {
                    frontier.push((cursor, next));
                }
                self.set(op, false);
            }
            cursor = self.nodes[cursor].next;
        }
        frontier.reverse(); // popped from the end: explore in time order
        frontier
    }

    /// The state changes that the operations that could come next (before the return node
    /// `stuck`) may notice, apart from staying in `state`.
    fn relevant(&self, stuck: usize, state: &M::State) -> Relevant<M::State> {
        let time = self.nodes[stuck].time;
        let mut states: Vec<M::State> = Vec::new();
        let mut add = |relevant: Relevant<M::State>| match relevant {
            Relevant::Any => false,
            Relevant::Only(more) => {
                for s in more {
                    if !states.contains(&s) {
                        states.push(s);
                    }
                }
                true
            }
        };
        let mut cursor = self.nodes[HEAD].next;
        while cursor != NIL {
            let node = self.nodes[cursor];
            if !matches!(node.kind, Kind::Call { .. }) {
                break;
            }
            let op = self.ops[node.op];
            if !add(self.model.relevant(state, &op.input, op.known_output())) {
                return Relevant::Any;
            }
            cursor = node.next;
        }
        cursor = self.nodes[LOOSE_HEAD].next;
        while cursor != NIL && self.nodes[cursor].time <= time {
            let op = self.ops[self.nodes[cursor].op];
            if !add(self.model.relevant(state, &op.input, None)) {
                return Relevant::Any;
            }
            cursor = self.nodes[cursor].next;
        }
        states.retain(|s| s != state); // staying put needs no indeterminate operation
        Relevant::Only(states)
    }

    fn evidence(
        &self,
        depth: usize,
        stack: &[Frame<M::State>],
        stuck: usize,
        state: &M::State,
    ) -> Evidence {
        let Node {
            op: failed, time, ..
        } = self.nodes[stuck];
        let mut pending = Vec::new();
        let mut cursor = self.nodes[HEAD].next;
        while cursor != stuck && cursor != NIL {
            let node = self.nodes[cursor];
            if matches!(node.kind, Kind::Call { .. }) && node.op != failed {
                pending.push(node.op);
            }
            cursor = node.next;
        }
        cursor = self.nodes[LOOSE_HEAD].next;
        while cursor != NIL && self.nodes[cursor].time <= time {
            pending.push(self.nodes[cursor].op);
            cursor = self.nodes[cursor].next;
        }
        pending.sort_unstable();
        Evidence {
            depth,
            prefix: stack.iter().map(|f| self.nodes[f.node].op).collect(),
            failed,
            pending,
            state: format!("{state:?}"),
        }
    }

    fn set(&mut self, op: usize, on: bool) {
        let (bits, i) = match self.slots[op] {
            Slot::Completed(i) => (&mut self.completed, i),
            Slot::Indeterminate(i) => (&mut self.indeterminate, i),
        };
        if on {
            bits[i / 64] |= 1 << (i % 64);
        } else {
            bits[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Records the current bitsets with `state`; false when that configuration, or one with
    /// the same completed operations and state and a subset of the indeterminate ones, was
    /// recorded before (anything reachable from this one is reachable from that one).
    fn visit(&mut self, state: &M::State) -> bool {
        let key = (self.completed.clone().into_boxed_slice(), state.clone());
        let seen = self.memo.entry(key).or_default();
        let current = &self.indeterminate;
        let subset = |small: &[u64], big: &[u64]| small.iter().zip(big).all(|(s, b)| s & !b == 0);
        if seen.iter().any(|other| subset(other, current)) {
            return false;
        }
        seen.retain(|other| !subset(current, other));
        seen.push(current.clone().into_boxed_slice());
        self.explored += 1;
        true
    }

    /// Takes a call node and its return node, if any, out of their list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        if let Kind::Call { ret } = self.nodes[call].kind
            && ret != NIL
        {
            self.unlink(ret);
        }
    }

    /// Puts back what `lift` took out; lifts are undone in reverse order.
    fn unlift(&mut self, call: usize) {
        if let Kind::Call { ret } = self.nodes[call].kind
            && ret != NIL
        {
            self.relink(ret);
        }
        self.relink(call);
    }

    fn unlink(&mut self, id: usize) {
        let Node { prev, next, .. } = self.nodes[id];
        self.nodes[prev].next = next;
        if next != NIL {
            self.nodes[next].prev = prev;
        }
    }

    fn relink(&mut self, id: usize) {
        let Node { prev, next, .. } = self.nodes[id];
        self.nodes[prev].next = id;
        if next != NIL {
            self.nodes[next].prev = id;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The key-value register.

/// A request on one key, as etcd clients issue them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    Put(String),
    Get,
    Delete,
    /// Compare-and-swap on the value: `expected: None` requires the key to be absent.
    Cas {
        expected: Option<String>,
        value: String,
    },
}

/// A response: `Ok` to puts and deletes, the value (`None`: absent) to gets, whether the
/// swap happened to compare-and-swaps.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    Ok,
    Value(Option<String>),
    Cas(bool),
}

impl Display for KvInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvInput::Put(value) => write!(f, "put {value:?}"),
            KvInput::Get => write!(f, "get"),
            KvInput::Delete => write!(f, "delete"),
            KvInput::Cas { expected, value } => match expected {
                Some(expected) => write!(f, "cas {expected:?} => {value:?}"),
                None => write!(f, "cas absent => {value:?}"),
            },
        }
    }
}

impl Display for KvOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvOutput::Ok => write!(f, "ok"),
            KvOutput::Value(Some(value)) => write!(f, "{value:?}"),
            KvOutput::Value(None) => write!(f, "absent"),
            KvOutput::Cas(true) => write!(f, "swapped"),
            KvOutput::Cas(false) => write!(f, "not swapped"),
        }
    }
}

/// One key's register: the state is its value, `None` when absent.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

impl Model for KvModel {
    type State = Option<String>;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Self::State {
        None
    }

    fn step(&self, state: &Self::State, input: &KvInput, output: &KvOutput) -> Option<Self::State> {
        match (input, output) {
            (KvInput::Put(value), KvOutput::Ok) => Some(Some(value.clone())),
            (KvInput::Delete, KvOutput::Ok) => Some(None),
            (KvInput::Get, KvOutput::Value(seen)) => (state == seen).then(|| state.clone()),
            (KvInput::Cas { expected, value }, KvOutput::Cas(true)) => {
                (state == expected).then(|| Some(value.clone()))
            }
            (KvInput::Cas { expected, .. }, KvOutput::Cas(false)) => {
                (state != expected).then(|| state.clone())
            }
            _ => None, // an output of the wrong kind is never possible
        }
    }

    fn step_unknown(&self, state: &Self::State, input: &KvInput) -> Vec<Self::State> {
        let applied = match input {
            KvInput::Get => None,
            KvInput::Put(value) => Some(Some(value.clone())),
            KvInput::Delete => Some(None),
            KvInput::Cas { expected, value } => (state == expected).then(|| Some(value.clone())),
        };
        let mut states = vec![state.clone()]; // not applied (or a read)
        states.extend(applied.filter(|applied| applied != state));
        states
    }

    /// Why this is enough: stuck in `state`, suppose a linearization continues with
    /// indeterminate operations P and then an operation `c` that could come next. Writes in P
    /// before its last put or delete are overwritten and can be dropped, as can operations
    /// that had no effect, leaving a put or delete to some `t` (or a CAS from `state`) followed
    /// by CASes, each expecting the value before it. If there is such a second one, it is an
    /// indeterminate CAS that could come next and lists `t`. Otherwise P is one write to `t`
    /// and `c`: a get answering `t` or a CAS (succeeded or unknown) expecting `t` list it; a
    /// failed CAS expecting `state` answers `Any`; a put or delete overwrites `t`, so P can be
    /// dropped; and anything else (a get or failed CAS that `state` also satisfies, an
    /// operation with unknown outcome that did nothing) leaves the state alone, so `c` can
    /// come first and P after it.
    fn relevant(
        &self,
        state: &Self::State,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Relevant<Self::State> {
        match (input, output) {
            (KvInput::Get, Some(KvOutput::Value(value))) => Relevant::Only(vec![value.clone()]),
            (KvInput::Cas { expected, .. }, Some(KvOutput::Cas(false))) => {
                if state == expected {
                    Relevant::Any
                } else {
                    Relevant::Only(Vec::new())
                }
            }
            (KvInput::Cas { expected, .. }, Some(KvOutput::Cas(true)) | None) => {
                Relevant::Only(vec![expected.clone()])
            }
            _ => Relevant::Only(Vec::new()),
        }
    }
}

/// An operation on one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvOperation {
    pub key: String,
    pub op: Operation<KvInput, KvOutput>,
}

impl KvOperation {
    /// `ret: None` or `output: None` mark an unknown outcome (see [`Operation`]).
    pub fn new(
        key: impl Into<String>,
        client: usize,
        call: u64,
        ret: Option<u64>,
        input: KvInput,
        output: Option<KvOutput>,
    ) -> Self {
        KvOperation {
            key: key.into(),
            op: Operation {
                client,
                call,
                ret,
                input,
                output,
            },
        }
    }
}

impl Display for KvOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.key, self.op)
    }
}

/// Checks a key-value history key by key with the default [`Limits`].
///
/// # Panics
///
/// If an operation returns before it is called.
pub fn check_kv(history: &[KvOperation]) -> CheckResult {
    check_kv_with(history, Limits::default())
}

/// Checks a key-value history key by key within `limits`.
///
/// # Panics
///
/// If an operation returns before it is called.
pub fn check_kv_with(history: &[KvOperation], limits: Limits) -> CheckResult {
    check_partitioned(&KvModel, history, |o| (o.key.as_str(), &o.op), limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Histories on key "k" unless `on` moves them; times are small integers (nanoseconds).

    fn op(client: usize, call: u64, ret: u64, input: KvInput, output: KvOutput) -> KvOperation {
        KvOperation::new("k", client, call, Some(ret), input, Some(output))
    }

    fn put(client: usize, call: u64, ret: u64, value: &str) -> KvOperation {
        op(client, call, ret, KvInput::Put(value.into()), KvOutput::Ok)
    }

    fn get(client: usize, call: u64, ret: u64, value: Option<&str>) -> KvOperation {
        let value = value.map(String::from);
        op(client, call, ret, KvInput::Get, KvOutput::Value(value))
    }

    fn delete(client: usize, call: u64, ret: u64) -> KvOperation {
        op(client, call, ret, KvInput::Delete, KvOutput::Ok)
    }

    fn cas(
        client: usize,
        call: u64,
        ret: u64,
        expected: Option<&str>,
        value: &str,
        ok: bool,
    ) -> KvOperation {
        let input = KvInput::Cas {
            expected: expected.map(String::from),
            value: value.into(),
        };
        op(client, call, ret, input, KvOutput::Cas(ok))
    }

    fn put_timeout(client: usize, call: u64, value: &str) -> KvOperation {
        KvOperation::new("k", client, call, None, KvInput::Put(value.into()), None)
    }

    fn on(key: &str, mut op: KvOperation) -> KvOperation {
        op.key = key.into();
        op
    }

    fn assert_ok(history: &[KvOperation]) {
        let result = check_kv(history);
        assert!(result.is_ok(), "{result}");
    }

    /// Asserts the history is illegal with `failed` as the operation that cannot be placed,
    /// and returns the evidence.
    fn assert_illegal(history: &[KvOperation], failed: usize) -> (Vec<usize>, Vec<usize>, String) {
        match check_kv(history) {
            CheckResult::Illegal {
                key,
                ops,
                failed: got,
                pending,
                report,
            } => {
                assert_eq!(key, history[failed].key, "{report}");
                assert_eq!(got, failed, "{report}");
                assert_eq!(ops.last(), Some(&failed), "{report}");
                assert!(
                    report.contains(&format!("#{failed} {}", history[failed].op)),
                    "{report}"
                );
                (ops, pending, report)
            }
            other => panic!("expected a violation at #{failed}, got: {other}"),
        }
    }

    // ---- accepted

    #[test]
    fn empty_history_is_linearizable() {
        assert_ok(&[]);
    }

    #[test]
    fn sequential_history_is_linearizable() {
        assert_ok(&[
            get(0, 0, 1, None),
            put(0, 2, 3, "a"),
            get(1, 4, 5, Some("a")),
            put(1, 6, 7, "b"),
            get(0, 8, 9, Some("b")),
            delete(0, 10, 11),
            get(1, 12, 13, None),
            delete(1, 14, 15), // deleting an absent key is fine
            put(0, 16, 17, "c"),
            get(0, 18, 19, Some("c")),
        ]);
    }

    #[test]
    fn concurrent_overlapping_writes_and_reads_are_linearizable() {
        // Two overlapping puts; reads during them see either order, after them the later one.
        assert_ok(&[
            put(0, 0, 100, "a"),
            put(1, 10, 90, "b"),
            get(2, 20, 30, Some("b")),
            get(3, 40, 50, Some("a")),
            get(2, 110, 120, Some("a")),
        ]);
        assert_ok(&[
            put(0, 0, 100, "a"),
            put(1, 10, 90, "b"),
            get(2, 20, 30, None), // neither has taken effect yet
            get(3, 40, 50, Some("a")),
            get(2, 60, 70, Some("b")),
            get(3, 110, 120, Some("b")),
        ]);
    }

    #[test]
    fn operations_touching_at_one_instant_are_concurrent() {
        // The get is called at the put's return time: either order is allowed.
        assert_ok(&[put(0, 0, 10, "a"), get(1, 10, 20, None)]);
    }

    #[test]
    fn indeterminate_put_observed_later_is_linearizable() {
        assert_ok(&[
            put(0, 0, 10, "a"),
            put_timeout(1, 20, "b"),
            get(2, 30, 40, Some("a")),       // not applied yet
            get(2, 1_000, 1_010, Some("b")), // applied long after the client gave up
            get(0, 1_020, 1_030, Some("b")),
        ]);
        // Applied after a later completed write, then observed.
        assert_ok(&[
            put_timeout(0, 0, "a"),
            put(1, 10, 20, "b"),
            get(2, 30, 40, Some("b")),
            get(2, 50, 60, Some("a")),
        ]);
    }

    #[test]
    fn indeterminate_put_never_observed_is_linearizable() {
        assert_ok(&[
            put(0, 0, 10, "a"),
            put_timeout(1, 20, "b"),
            get(2, 30, 40, Some("a")),
            put(0, 50, 60, "c"),
            get(2, 70, 80, Some("c")),
        ]);
    }

    #[test]
    fn operation_finished_with_unknown_outcome_is_linearizable_either_way() {
        // Finished by its return time, outcome unknown: it may or may not have happened.
        let unknown_put = KvOperation::new("k", 1, 10, Some(20), KvInput::Put("b".into()), None);
        assert_ok(&[
            put(0, 0, 5, "a"),
            unknown_put.clone(),
            get(2, 30, 40, Some("b")),
        ]);
        assert_ok(&[
            put(0, 0, 5, "a"),
            unknown_put.clone(),
            get(2, 30, 40, Some("a")),
        ]);
        // But it did finish by 20: it cannot take effect after a read at 30..40.
        assert_illegal(
            &[
                put(0, 0, 5, "a"),
                unknown_put,
                get(2, 30, 40, Some("a")),
                get(2, 50, 60, Some("b")),
            ],
            3,
        );
    }

    #[test]
    fn indeterminate_get_and_cas_are_linearizable() {
        let lost_get = KvOperation::new("k", 1, 5, None, KvInput::Get, None);
        let lost_cas = KvOperation::new(
            "k",
            2,
            15,
            None,
            KvInput::Cas {
                expected: Some("a".into()),
                value: "b".into(),
            },
            None,
        );
        assert_ok(&[
            put(0, 0, 10, "a"),
            lost_get.clone(),
            lost_cas.clone(),
            get(0, 20, 30, Some("b")),
        ]);
        assert_ok(&[
            put(0, 0, 10, "a"),
            lost_get,
            lost_cas,
            get(0, 20, 30, Some("a")),
        ]);
    }

    #[test]
    fn cas_success_and_failure_are_linearizable() {
        assert_ok(&[
            cas(0, 0, 10, None, "a", true),   // create
            cas(1, 20, 30, None, "x", false), // exists now
            cas(0, 40, 50, Some("a"), "b", true),
            cas(1, 60, 70, Some("a"), "y", false), // stale expectation
            get(2, 80, 90, Some("b")),
            delete(0, 100, 110),
            cas(1, 120, 130, Some("b"), "z", false), // absent
            cas(1, 140, 150, None, "c", true),
            get(2, 160, 170, Some("c")),
        ]);
        // Two concurrent creates: exactly one wins, either one.
        assert_ok(&[
            cas(0, 0, 100, None, "a", false),
            cas(1, 10, 90, None, "b", true),
            get(2, 110, 120, Some("b")),
        ]);
    }

    #[test]
    fn keys_are_checked_independently() {
        // On one key this would be a stale read; on two keys it is fine.
        assert_ok(&[
            on("x", put(0, 0, 10, "a")),
            on("y", put(0, 20, 30, "b")),
            on("x", get(1, 40, 50, Some("a"))),
            on("y", get(1, 60, 70, Some("b"))),
        ]);
    }

    // ---- rejected

    #[test]
    fn lost_write_is_rejected() {
        // "b" was acknowledged; a later read sees "a" again and nobody wrote "a" since.
        let (ops, _, report) = assert_illegal(
            &[
                put(0, 0, 10, "a"),
                put(1, 20, 30, "b"),
                get(2, 40, 50, Some("b")),
                get(2, 60, 70, Some("a")),
            ],
            3,
        );
        assert_eq!(ops, vec![0, 1, 2, 3]);
        assert!(
            report.contains("state after the prefix: Some(\"b\")"),
            "{report}"
        );
    }

    #[test]
    fn stale_read_is_rejected() {
        // The put of "b" completed before the read started.
        let (ops, ..) = assert_illegal(
            &[
                put(0, 0, 10, "a"),
                put(0, 20, 30, "b"),
                get(1, 40, 50, Some("a")),
            ],
            2,
        );
        assert_eq!(ops, vec![0, 1, 2]);
    }

    #[test]
    fn stale_read_after_delete_is_rejected() {
        assert_illegal(
            &[
                put(0, 0, 10, "a"),
                delete(0, 20, 30),
                get(1, 40, 50, Some("a")),
            ],
            2,
        );
    }

    #[test]
    fn read_of_a_value_never_written_is_rejected() {
        let (ops, ..) = assert_illegal(
            &[
                put(0, 0, 10, "a"),
                put(1, 5, 25, "b"),
                get(2, 30, 40, Some("zzz")),
            ],
            2,
        );
        assert_eq!(ops.len(), 3);
    }

    #[test]
    fn read_before_the_write_was_called_is_rejected() {
        // An indeterminate put cannot take effect before it was sent.
        assert_illegal(&[get(0, 0, 10, Some("a")), put_timeout(1, 20, "a")], 0);
    }

    #[test]
    fn cas_that_succeeded_when_it_should_have_failed_is_rejected() {
        let (ops, ..) = assert_illegal(
            &[
                put(0, 0, 10, "a"),
                put(1, 20, 30, "b"),
                cas(2, 40, 50, Some("a"), "c", true), // the value was "b"
            ],
            2,
        );
        assert_eq!(ops, vec![0, 1, 2]);
        // And a create on a present key.
        assert_illegal(&[put(0, 0, 10, "a"), cas(1, 20, 30, None, "c", true)], 1);
    }

    #[test]
    fn cas_that_failed_when_it_should_have_succeeded_is_rejected() {
        assert_illegal(
            &[put(0, 0, 10, "a"), cas(1, 20, 30, Some("a"), "c", false)],
            1,
        );
    }

    #[test]
    fn reads_in_an_order_no_linearization_allows_are_rejected() {
        // Both puts span all the reads, but one client sees a, then b, then another client
        // sees a again: each value was written once, so "a" cannot come back.
        let (_, pending, report) = assert_illegal(
            &[
                put(0, 0, 1_000, "a"),
                put(1, 0, 1_000, "b"),
                get(2, 10, 20, Some("a")),
                get(2, 30, 40, Some("b")),
                get(3, 50, 60, Some("a")),
            ],
            4,
        );
        assert!(pending.is_empty(), "{report}");
    }

    #[test]
    fn new_then_old_read_across_clients_is_rejected() {
        // While a put is in flight, client 1 reads the new value; client 2 reads afterwards and
        // sees the key absent again.
        let (ops, ..) = assert_illegal(
            &[
                put(0, 0, 100, "a"),
                get(1, 10, 20, Some("a")),
                get(2, 30, 40, None),
            ],
            2,
        );
        assert_eq!(ops, vec![0, 1, 2]);
    }

    #[test]
    fn the_illegal_key_is_named_among_legal_ones() {
        let history = [
            on("x", put(0, 0, 10, "a")),
            on("y", put(0, 0, 10, "b")),
            on("y", put(0, 20, 30, "c")),
            on("x", get(1, 40, 50, Some("a"))),
            on("y", get(1, 40, 50, Some("b"))), // stale
        ];
        let (_, _, report) = assert_illegal(&history, 4);
        assert!(
            report.starts_with("key \"y\" is not linearizable"),
            "{report}"
        );
    }

    #[test]
    fn report_renders_the_evidence() {
        let history = [
            put(3, 1_500_000, 2_250_000, "a"),
            put(4, 3_000_000, 3_000_001, "b"),
            get(5, 4_000_000, 4_100_000, Some("a")),
            put_timeout(6, 4_050_000, "c"),
        ];
        let CheckResult::Illegal {
            report, pending, ..
        } = check_kv(&history)
        else {
            panic!("expected a violation");
        };
        assert_eq!(pending, vec![3]);
        for needle in [
            "key \"k\" is not linearizable: operation #2 cannot be placed",
            "#0 client 3 [1.500000ms .. 2.250000ms] put \"a\" -> ok",
            "#1 client 4 [3.000000ms .. 3.000001ms] put \"b\" -> ok",
            "state after the prefix: Some(\"b\")",
            "#2 client 5 [4.000000ms .. 4.100000ms] get -> \"a\"",
            "#3 client 6 [4.050000ms .. ?] put \"c\" -> ? (unknown)",
        ] {
            assert!(report.contains(needle), "missing {needle:?} in:\n{report}");
        }
    }

    #[test]
    fn exhausted_budget_is_unknown_not_a_hang() {
        // 24 concurrent puts then a read of a value nobody wrote: every order of the puts
        // ends at the same dead end, about 24 * 2^23 configurations.
        let mut history: Vec<_> = (0..24).map(|i| put(i, 0, 100, &format!("v{i}"))).collect();
        history.push(get(99, 200, 210, Some("nowhere")));
        let limits = Limits {
            max_states_per_key: 1_000,
            timeout: None,
        };
        let result = check_kv_with(&history, limits);
        assert!(
            matches!(&result, CheckResult::Unknown { key, explored } if key == "k" && *explored > 1_000),
            "{result}"
        );
        assert!(result.to_string().contains("undecided"), "{result}");
        let limits = Limits {
            max_states_per_key: u64::MAX,
            timeout: Some(Duration::from_millis(50)),
        };
        let started = Instant::now();
        let result = check_kv_with(&history, limits);
        assert!(matches!(result, CheckResult::Unknown { .. }), "{result}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // A violation on another key still wins over an undecided one.
        history.push(on("other", put(0, 0, 10, "a")));
        history.push(on("other", get(0, 20, 30, None)));
        let limits = Limits {
            max_states_per_key: 1_000,
            timeout: None,
        };
        match check_kv_with(&history, limits) {
            CheckResult::Illegal { key, failed, .. } => {
                assert_eq!((key.as_str(), failed), ("other", 26))
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn chain_of_indeterminate_cas_operations_is_searched_quickly() {
        let mut history = vec![put(0, 0, 1, "v0")];
        for i in 1..40 {
            let input = KvInput::Cas {
                expected: Some(format!("v{}", i - 1)),
                value: format!("v{i}"),
            };
            history.push(KvOperation::new("k", i, 2, None, input, None));
        }
        history.push(get(0, 10, 20, Some("v39"))); // every CAS took effect, in order
        assert_ok(&history);
        history.last_mut().unwrap().op.output = Some(KvOutput::Value(Some("nowhere".into())));
        let limits = Limits {
            max_states_per_key: 10_000,
            timeout: None,
        };
        match check_kv_with(&history, limits) {
            CheckResult::Illegal { failed, .. } => assert_eq!(failed, 40),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn many_indeterminate_writes_and_a_bogus_read_are_rejected_quickly() {
        // 2^40 subsets of applied writes; pruning by subsets keeps this to a few states.
        let mut history: Vec<_> = (0..40)
            .map(|i| put_timeout(i, i as u64, &format!("v{i}")))
            .collect();
        history.push(get(99, 100, 110, Some("nowhere")));
        let limits = Limits {
            max_states_per_key: 10_000,
            timeout: None,
        };
        match check_kv_with(&history, limits) {
            CheckResult::Illegal { failed, .. } => assert_eq!(failed, 40),
            other => panic!("{other}"),
        }
    }

    #[test]
    #[should_panic(expected = "returns at 5 before its call at 10")]
    fn return_before_call_is_refused() {
        check_kv(&[put(0, 10, 5, "a")]);
    }

    // ---- the generic core with another model

    /// A counter: adds, and reads of the total.
    struct Counter;

    #[derive(Debug)]
    enum CounterOp {
        Add(i64),
        Read,
    }

    impl Display for CounterOp {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                CounterOp::Add(n) => write!(f, "add {n}"),
                CounterOp::Read => write!(f, "read"),
            }
        }
    }

    impl Model for Counter {
        type State = i64;
        type Input = CounterOp;
        /// The total for reads; ignored for adds.
        type Output = i64;

        fn init(&self) -> i64 {
            0
        }

        fn step(&self, total: &i64, input: &CounterOp, output: &i64) -> Option<i64> {
            match input {
                CounterOp::Add(n) => Some(total + n),
                CounterOp::Read => (total == output).then_some(*total),
            }
        }

        fn step_unknown(&self, total: &i64, input: &CounterOp) -> Vec<i64> {
            match input {
                CounterOp::Add(n) => vec![*total, total + n],
                CounterOp::Read => vec![*total],
            }
        }
    }

    #[test]
    fn generic_check_works_with_other_models() {
        let add =
            |client, call, ret, n| Operation::completed(client, call, ret, CounterOp::Add(n), 0);
        let read = |client, call, ret, total| {
            Operation::completed(client, call, ret, CounterOp::Read, total)
        };
        let limits = Limits::default();
        // Two concurrent adds, a read between sees one of them, a timed-out add shows up later.
        let history = [
            add(0, 0, 100, 1),
            add(1, 0, 100, 10),
            read(2, 20, 30, 10),
            Operation::indeterminate(3, 110, CounterOp::Add(100)),
            read(2, 120, 130, 11),
            read(2, 140, 150, 111),
        ];
        assert!(check(&Counter, &history, limits).is_ok());
        // A read of a total no subset of the adds makes.
        let history = [add(0, 0, 10, 1), add(1, 0, 10, 10), read(2, 20, 30, 12)];
        match check(&Counter, &history, limits) {
            CheckResult::Illegal {
                key,
                failed,
                report,
                ..
            } => {
                assert_eq!((key.as_str(), failed), ("", 2), "{report}");
                assert!(
                    report.contains("#2 client 2 [0.000020ms .. 0.000030ms] read -> 12"),
                    "{report}"
                );
            }
            other => panic!("{other}"),
        }
    }

    // ---- randomized

    /// SplitMix64.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn percent(&mut self, p: u64) -> bool {
            self.below(100) < p
        }
    }

    /// A linearizable history by construction: each operation takes effect at a random
    /// point of its interval on a real map (an indeterminate one at a random later point, or
    /// never). Values are unique.
    fn simulate(
        rng: &mut Rng,
        clients: usize,
        keys: u64,
        ops: usize,
        timeout_percent: u64,
    ) -> Vec<KvOperation> {
        let mut history = Vec::with_capacity(ops);
        let mut effects = Vec::new(); // (time of effect, index)
        let mut free_at = vec![0u64; clients];
        let mut written: HashMap<String, Vec<String>> = HashMap::new();
        for i in 0..ops {
            let client = i % clients;
            let call = free_at[client] + rng.below(50);
            let took = 1 + rng.below(200);
            free_at[client] = call + took;
            let key = format!("k{}", rng.below(keys));
            let seen = written.entry(key.clone()).or_default();
            let input = match rng.below(100) {
                0..40 => KvInput::Put(format!("v{i}")),
                40..75 => KvInput::Get,
                75..85 => KvInput::Delete,
                _ => KvInput::Cas {
                    expected: match rng.below(3) {
                        0 => None,
                        1 => seen.last().cloned(),
                        _ => seen.get(rng.below(seen.len() as u64 + 1) as usize).cloned(),
                    },
                    value: format!("v{i}"),
                },
            };
            if let KvInput::Put(value) | KvInput::Cas { value, .. } = &input {
                seen.push(value.clone());
            }
            let timed_out = rng.percent(timeout_percent);
            let (ret, effect) = if timed_out {
                (None, rng.percent(50).then(|| call + rng.below(1_000)))
            } else {
                (Some(call + took), Some(call + rng.below(took + 1)))
            };
            if let Some(at) = effect {
                effects.push((at, i));
            }
            history.push(KvOperation::new(key, client, call, ret, input, None));
        }
        effects.sort_unstable();
        let mut store: HashMap<String, String> = HashMap::new();
        for (_, i) in effects {
            let record = &mut history[i];
            let current = store.get(&record.key).cloned();
            let output = match &record.op.input {
                KvInput::Put(value) => {
                    store.insert(record.key.clone(), value.clone());
                    KvOutput::Ok
                }
                KvInput::Get => KvOutput::Value(current),
                KvInput::Delete => {
                    store.remove(&record.key);
                    KvOutput::Ok
                }
                KvInput::Cas { expected, value } => {
                    let swapped = current == *expected;
                    if swapped {
                        store.insert(record.key.clone(), value.clone());
                    }
                    KvOutput::Cas(swapped)
                }
            };
            if record.op.ret.is_some() {
                record.op.output = Some(output);
            }
        }
        history
    }

    /// Linearizability by definition: some order of all completed operations and any of the
    /// indeterminate ones respects real time (nothing goes before an operation that returned
    /// before it was called) and the model accepts.
    fn brute_force(history: &[KvOperation]) -> bool {
        fn search(
            ops: &[&Operation<KvInput, KvOutput>],
            placed: &mut [bool],
            state: &Option<String>,
        ) -> bool {
            if ops
                .iter()
                .zip(placed.iter())
                .all(|(o, &p)| p || o.ret.is_none())
            {
                return true;
            }
            for c in 0..ops.len() {
                let blocked = (0..ops.len())
                    .any(|d| !placed[d] && ops[d].ret.is_some_and(|r| r < ops[c].call));
                if placed[c] || blocked {
                    continue;
                }
                let next: Vec<_> = match ops[c].known_output() {
                    Some(output) => KvModel
                        .step(state, &ops[c].input, output)
                        .into_iter()
                        .collect(),
                    None => KvModel.step_unknown(state, &ops[c].input),
                };
                placed[c] = true;
                let found = next.iter().any(|s| search(ops, placed, s));
                placed[c] = false;
                if found {
                    return true;
                }
            }
            false
        }
        let ops: Vec<_> = history.iter().map(|o| &o.op).collect();
        search(&ops, &mut vec![false; ops.len()], &None)
    }

    fn pick(rng: &mut Rng, values: &[&str]) -> String {
        values[rng.below(values.len() as u64) as usize].to_string()
    }

    fn random_input(rng: &mut Rng, values: &[&str]) -> KvInput {
        match rng.below(4) {
            0 => KvInput::Put(pick(rng, values)),
            1 => KvInput::Get,
            2 => KvInput::Delete,
            _ => KvInput::Cas {
                expected: (rng.below(3) > 0).then(|| pick(rng, values)),
                value: pick(rng, values),
            },
        }
    }

    fn random_output(rng: &mut Rng, input: &KvInput, values: &[&str]) -> KvOutput {
        match input {
            KvInput::Put(_) | KvInput::Delete => KvOutput::Ok,
            KvInput::Get => KvOutput::Value((rng.below(4) > 0).then(|| pick(rng, values))),
            KvInput::Cas { .. } => KvOutput::Cas(rng.percent(50)),
        }
    }

    /// Random operations at random times with random outputs over `values`; about
    /// `indeterminate` percent without a return, and some finished with an unknown outcome.
    fn random_history(
        rng: &mut Rng,
        n: usize,
        values: &[&str],
        indeterminate: u64,
    ) -> Vec<KvOperation> {
        (0..n)
            .map(|i| {
                let input = random_input(rng, values);
                let call = rng.below(3 * n as u64);
                let (ret, output) = if rng.percent(indeterminate) {
                    (None, None)
                } else if rng.percent(10) {
                    (Some(call + rng.below(10)), None)
                } else {
                    let output = random_output(rng, &input, values);
                    (Some(call + rng.below(10)), Some(output))
                };
                KvOperation::new("k", i, call, ret, input, output)
            })
            .collect()
    }

    /// Checks the evidence of a violation: its prefix is a linearization of those
    /// operations, respecting real time among themselves and against the failed one.
    fn assert_evidence_sound(history: &[KvOperation], ops: &[usize], failed: usize) {
        let (prefix, last) = ops.split_at(ops.len() - 1);
        assert_eq!(last, [failed]);
        let mut states = vec![None];
        for (n, &i) in prefix.iter().enumerate() {
            let op = &history[i].op;
            for &j in &prefix[n + 1..] {
                assert!(
                    history[j].op.ret.is_none_or(|r| r >= op.call),
                    "{i} placed before {j}"
                );
            }
            let mut next = Vec::new();
            for s in &states {
                match op.known_output() {
                    Some(output) => next.extend(KvModel.step(s, &op.input, output)),
                    None => next.extend(KvModel.step_unknown(s, &op.input)),
                }
            }
            assert!(!next.is_empty(), "prefix not accepted by the model at {i}");
            states = next;
        }
        assert!(!prefix.contains(&failed));
    }

    #[test]
    fn agrees_with_brute_force_on_small_random_histories() {
        let mut rng = Rng(7);
        let (mut legal, mut illegal) = (0, 0);
        for round in 0..4_000 {
            let history = if round % 2 == 0 {
                // Linearizable by construction, then maybe one output corrupted.
                let n = 1 + rng.below(8) as usize;
                let mut history = simulate(&mut rng, 3, 1, n, 20);
                if rng.percent(50) {
                    let i = rng.below(n as u64) as usize;
                    if history[i].op.ret.is_some() {
                        let output =
                            random_output(&mut rng, &history[i].op.input, &["v0", "v1", "v2"]);
                        history[i].op.output = Some(output);
                    }
                }
                history
            } else {
                // Random operations and outputs over few values (not unique).
                let n = 1 + rng.below(7) as usize;
                random_history(&mut rng, n, &["a", "b"], 20)
            };
            let expected = brute_force(&history);
            let result = check_kv(&history);
            let shown: Vec<String> = history.iter().map(|o| o.to_string()).collect();
            assert_eq!(
                result.is_ok(),
                expected,
                "round {round}: {result}\n{shown:#?}"
            );
            match result {
                CheckResult::Ok => legal += 1,
                CheckResult::Illegal { ops, failed, .. } => {
                    assert_evidence_sound(&history, &ops, failed);
                    illegal += 1;
                }
                CheckResult::Unknown { .. } => panic!("round {round}: undecided"),
            }
        }
        assert!(
            legal > 1_000 && illegal > 1_000,
            "{legal} legal, {illegal} illegal"
        );
    }

    /// `KvModel` without its pruning hint.
    struct Unhinted;

    impl Model for Unhinted {
        type State = Option<String>;
        type Input = KvInput;
        type Output = KvOutput;

        fn init(&self) -> Self::State {
            KvModel.init()
        }

        fn step(
            &self,
            state: &Self::State,
            input: &KvInput,
            output: &KvOutput,
        ) -> Option<Self::State> {
            KvModel.step(state, input, output)
        }

        fn step_unknown(&self, state: &Self::State, input: &KvInput) -> Vec<Self::State> {
            KvModel.step_unknown(state, input)
        }
    }

    #[test]
    fn relevance_hint_never_changes_the_verdict() {
        // Histories too long for brute force, heavy on indeterminate writes and CAS chains.
        let mut rng = Rng(13);
        let (mut legal, mut illegal) = (0, 0);
        for round in 0..1_500 {
            let history = if round % 2 == 0 {
                let n = 6 + rng.below(11) as usize;
                random_history(&mut rng, n, &["a", "b", "c"], 35)
            } else {
                let n = 10 + rng.below(30) as usize;
                let mut history = simulate(&mut rng, 4, 1, n, 30);
                let i = rng.below(n as u64) as usize;
                if history[i].op.ret.is_some() {
                    let values = ["v0", "v1", "v2", "v3", "v4", "v5"];
                    history[i].op.output =
                        Some(random_output(&mut rng, &history[i].op.input, &values));
                }
                history
            };
            let hinted = check_kv(&history);
            let unhinted = check_partitioned(
                &Unhinted,
                &history,
                |o| (o.key.as_str(), &o.op),
                Limits::default(),
            );
            let shown: Vec<String> = history.iter().map(|o| o.to_string()).collect();
            assert_eq!(
                hinted.is_ok(),
                unhinted.is_ok(),
                "round {round}: {hinted}\n{unhinted}\n{shown:#?}"
            );
            match hinted {
                CheckResult::Ok => legal += 1,
                CheckResult::Illegal { ops, failed, .. } => {
                    assert_evidence_sound(&history, &ops, failed);
                    illegal += 1;
                }
                CheckResult::Unknown { .. } => panic!("round {round}: undecided"),
            }
        }
        assert!(
            legal > 300 && illegal > 300,
            "{legal} legal, {illegal} illegal"
        );
    }

    #[test]
    fn simulated_histories_are_linearizable() {
        let mut rng = Rng(11);
        for _ in 0..20 {
            let history = simulate(&mut rng, 6, 3, 300, 5);
            let result = check_kv(&history);
            assert!(result.is_ok(), "{result}");
        }
    }

    #[test]
    fn large_history_checks_quickly() {
        // 2,000 operations from 8 concurrent clients on 20 keys, 5% indeterminate.
        let mut rng = Rng(2024);
        let mut history = simulate(&mut rng, 8, 20, 2_000, 5);
        let budget = if cfg!(debug_assertions) {
            Duration::from_secs(10)
        } else {
            Duration::from_secs(1)
        };
        let started = Instant::now();
        let result = check_kv(&history);
        let legal_took = started.elapsed();
        assert!(result.is_ok(), "{result}");

        // The same with one late read answering a value nobody wrote.
        let last_get = history
            .iter()
            .rposition(|o| o.op.input == KvInput::Get && o.op.ret.is_some())
            .unwrap();
        history[last_get].op.output = Some(KvOutput::Value(Some("bogus".into())));
        let started = Instant::now();
        let result = check_kv(&history);
        let illegal_took = started.elapsed();
        assert!(
            matches!(result, CheckResult::Illegal { failed, .. } if failed == last_get),
            "{result}"
        );

        eprintln!(
            "2,000 operations: linearizable in {legal_took:?}, violation found in {illegal_took:?}"
        );
        assert!(
            legal_took < budget && illegal_took < budget,
            "{legal_took:?}, {illegal_took:?}"
        );
    }
}
