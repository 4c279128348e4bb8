//! Fault-injecting TCP proxy for the fault-injection tests: partitions, one-way loss, latency
//! and connection resets between cluster members, applied to their real gRPC peer traffic.
//!
//! Shape: one [`Network`] per test cluster. Each member advertises a proxy address as its
//! peer URL; [`Network::proxy`] starts a listener in front of that member's real peer
//! listener and forwards every accepted connection to it. Members dial their peers from
//! distinct loopback source IPs (registered with [`Network::add_member`]), so a proxy knows
//! who is dialing from the connection's source IP; connections from unknown IPs are
//! forwarded untouched.
//!
//! Rules are per direction `(from, to)` ([`Rule`]): for a connection that member `d` dialed
//! to the proxy of member `t`, bytes `d -> t` (requests) follow rule `(d, t)` and bytes
//! `t -> d` (responses) follow rule `(t, d)`. So rule `(a, b)` covers the request bytes of
//! connections `a` dialed to `b` and the response bytes of connections `b` dialed to `a`.
//! Rules live in a `tokio::sync::watch` channel: every connection reacts to a change at once.
//!
//! Each accepted connection is one task holding both sockets; inside it the two directions
//! are two pumps (a reader and a writer joined by a small bounded queue of chunks, so a
//! delay delays every chunk without serialising them and a stall keeps its bytes in order).
//! When either side closes, the proxy delivers what that side sent (stalled and delayed bytes
//! included, so a blackholed FIN waits for the heal like the data before it), forwards the
//! FIN and closes the whole connection: TCP half-close is not carried (gRPC never uses it).
//! On an I/O error or a `Drop` rule both sockets are reset at once.
//!
//! Each proxy is an accept-loop task owning its connection tasks (a `JoinSet`); the proxies
//! are aborted by [`Network::shutdown`] or when the last `Network` handle is dropped, which
//! closes every listener and proxied socket.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

/// Largest chunk one read takes off a socket.
const CHUNK_BYTES: usize = 16 * 1024;
/// Chunks a direction may hold between its reader and its writer (stalled or delayed);
/// past that the reader stops reading and the sender's kernel buffers fill, as on a real
/// network.
const QUEUE_CHUNKS: usize = 64;

/// What happens to bytes travelling one direction between two members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Delivered as they come.
    Healthy,
    /// Not delivered and not closed: the direction stalls, like a partition under which TCP
    /// keeps retrying. When the rule is lifted, the held bytes are delivered in order.
    Blackhole,
    /// Each chunk is delivered this long after the proxy read it, in order.
    Delay(Duration),
    /// Connection reset: every connection carrying this direction (in either role) is
    /// reset now, and new ones between the two members are reset on accept while it holds.
    Drop,
}

/// Byte counters of one direction `(from, to)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Bytes written to the receiving side.
    pub forwarded: u64,
    /// Bytes that were held back by a `Blackhole` rule (counted once per chunk; they count as
    /// forwarded too once delivered).
    pub stalled: u64,
}

/// A snapshot of the proxy counters, for logging and for evidence in assertions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Per direction `(from, to)` between known members.
    pub links: BTreeMap<(usize, usize), LinkStats>,
    /// Bytes forwarded (both directions) on connections from unknown source IPs.
    pub passthrough_bytes: u64,
    /// Connections accepted by all proxies.
    pub accepted: u64,
    /// Connections open right now.
    pub active: u64,
    /// Connections reset by a `Drop` rule (existing ones and refused new ones).
    pub resets: u64,
    /// Connections ended by an I/O error or an unreachable upstream (then reset both ways).
    pub failed: u64,
}

/// The fault-injecting network of one test cluster: members, rules, proxies and counters.
/// Cheap to clone; the proxies stop when the last clone is dropped or on [`Network::shutdown`].
#[derive(Clone)]
pub struct Network {
    shared: Arc<Shared>,
    tasks: Arc<Tasks>,
}

type RuleMap = HashMap<(usize, usize), Rule>;

/// State the proxy tasks share. The tasks hold this, never [`Tasks`], so dropping the last
/// `Network` handle aborts them.
struct Shared {
    rules: watch::Sender<RuleMap>,
    members: Mutex<HashMap<IpAddr, usize>>,
    links: Mutex<HashMap<(usize, usize), Arc<Counters>>>,
    passthrough: Arc<Counters>,
    accepted: AtomicU64,
    active: AtomicU64,
    resets: AtomicU64,
    failed: AtomicU64,
}

#[derive(Default)]
struct Counters {
    forwarded: AtomicU64,
    stalled: AtomicU64,
}

/// Abort handles of the proxy (accept-loop) tasks; aborted on drop of the last handle.
struct Tasks {
    handles: Mutex<Vec<AbortHandle>>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for handle in lock(&self.handles).drain(..) {
            handle.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Default for Network {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("members", &self.members())
            .field("rules", &self.rules())
            .finish_non_exhaustive()
    }
}

impl Network {
    /// An empty network: no members, every link healthy, no proxies.
    pub fn new() -> Self {
        let (rules, _) = watch::channel(RuleMap::new());
        Self {
            shared: Arc::new(Shared {
                rules,
                members: Mutex::new(HashMap::new()),
                links: Mutex::new(HashMap::new()),
                passthrough: Arc::new(Counters::default()),
                accepted: AtomicU64::new(0),
                active: AtomicU64::new(0),
                resets: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
            tasks: Arc::new(Tasks {
                handles: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Registers member `id` as dialing its peers from `source_ip`. Connections accepted
    /// before this call stay unidentified (rules never apply to them).
    pub fn add_member(&self, id: usize, source_ip: IpAddr) {
        lock(&self.shared.members).insert(source_ip.to_canonical(), id);
    }

    /// Registered members by id, with their source IPs.
    pub fn members(&self) -> BTreeMap<usize, IpAddr> {
        lock(&self.shared.members)
            .iter()
            .map(|(ip, id)| (*id, *ip))
            .collect()
    }

    /// Starts a proxy in front of member `target`: listens on `listen` (port 0 picks one) and
    /// forwards every connection to `forward_to`. Returns the bound address.
    pub async fn proxy(
        &self,
        target: usize,
        listen: SocketAddr,
        forward_to: SocketAddr,
    ) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(
            self.shared.clone(),
            listener,
            target,
            forward_to,
        ));
        lock(&self.tasks.handles).push(task.abort_handle());
        Ok(addr)
    }

    /// Stops every proxy now: listeners close and every proxied connection is dropped.
    pub fn shutdown(&self) {
        for handle in lock(&self.tasks.handles).drain(..) {
            handle.abort();
        }
    }

    /// Sets the rule of direction `from -> to` (`Healthy` clears it).
    pub fn set(&self, from: usize, to: usize, rule: Rule) {
        self.shared
            .rules
            .send_modify(|rules| put(rules, from, to, rule));
    }

    /// The rule of direction `from -> to`.
    pub fn rule(&self, from: usize, to: usize) -> Rule {
        rule_of(&self.shared.rules.borrow(), (from, to))
    }

    /// Blackholes both directions between `member` and every other registered member.
    pub fn isolate(&self, member: usize) {
        let others: Vec<usize> = self
            .members()
            .into_keys()
            .filter(|&m| m != member)
            .collect();
        self.shared.rules.send_modify(|rules| {
            for other in others {
                put(rules, member, other, Rule::Blackhole);
                put(rules, other, member, Rule::Blackhole);
            }
        });
    }

    /// Blackholes only the direction `from -> to`.
    pub fn one_way(&self, from: usize, to: usize) {
        self.set(from, to, Rule::Blackhole);
    }

    /// Blackholes both directions between every two members in different groups. Links
    /// within a group and links of members in no group keep their rules (`heal` first for a
    /// clean slate).
    pub fn partition(&self, groups: &[&[usize]]) {
        self.shared.rules.send_modify(|rules| {
            for (i, a_group) in groups.iter().enumerate() {
                for b_group in &groups[i + 1..] {
                    for &a in a_group.iter() {
                        for &b in b_group.iter() {
                            put(rules, a, b, Rule::Blackhole);
                            put(rules, b, a, Rule::Blackhole);
                        }
                    }
                }
            }
        });
    }

    /// Every link healthy again; stalled bytes flow at once.
    pub fn heal(&self) {
        self.shared.rules.send_modify(RuleMap::clear);
    }

    /// The rules that are not `Healthy`, by direction `(from, to)`.
    pub fn rules(&self) -> BTreeMap<(usize, usize), Rule> {
        self.shared
            .rules
            .borrow()
            .iter()
            .map(|(dir, rule)| (*dir, *rule))
            .collect()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> NetStats {
        let s = &self.shared;
        NetStats {
            links: lock(&s.links)
                .iter()
                .map(|(dir, c)| {
                    let stats = LinkStats {
                        forwarded: c.forwarded.load(Ordering::Relaxed),
                        stalled: c.stalled.load(Ordering::Relaxed),
                    };
                    (*dir, stats)
                })
                .collect(),
            passthrough_bytes: s.passthrough.forwarded.load(Ordering::Relaxed),
            accepted: s.accepted.load(Ordering::Relaxed),
            active: s.active.load(Ordering::Relaxed),
            resets: s.resets.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
        }
    }

    /// Bytes forwarded in direction `from -> to`.
    pub fn forwarded(&self, from: usize, to: usize) -> u64 {
        self.stats()
            .links
            .get(&(from, to))
            .map_or(0, |l| l.forwarded)
    }

    /// Bytes held back by a blackhole in direction `from -> to`.
    pub fn stalled(&self, from: usize, to: usize) -> u64 {
        self.stats().links.get(&(from, to)).map_or(0, |l| l.stalled)
    }

    /// Connections reset by `Drop` rules so far.
    pub fn resets(&self) -> u64 {
        self.shared.resets.load(Ordering::Relaxed)
    }
}

fn put(rules: &mut RuleMap, from: usize, to: usize, rule: Rule) {
    if rule == Rule::Healthy {
        rules.remove(&(from, to));
    } else {
        rules.insert((from, to), rule);
    }
}

fn rule_of(rules: &RuleMap, dir: (usize, usize)) -> Rule {
    rules.get(&dir).copied().unwrap_or(Rule::Healthy)
}

/// Whether a connection between `a` and `b` (either dialing) must be reset.
fn dropped(rules: &RuleMap, a: usize, b: usize) -> bool {
    rule_of(rules, (a, b)) == Rule::Drop || rule_of(rules, (b, a)) == Rule::Drop
}

impl Shared {
    fn member_at(&self, ip: IpAddr) -> Option<usize> {
        lock(&self.members).get(&ip.to_canonical()).copied()
    }

    fn counters(&self, dir: (usize, usize)) -> Arc<Counters> {
        lock(&self.links).entry(dir).or_default().clone()
    }
}

/// Resets a socket: closing it with a zero linger sends RST instead of FIN.
fn reset(stream: &TcpStream) {
    if let Err(e) = stream.set_zero_linger() {
        eprintln!("netproxy: cannot set zero linger to reset a connection: {e}");
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    target: usize,
    forward_to: SocketAddr,
) {
    // Dropping this set (when this task is aborted) aborts every connection task.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    shared.accepted.fetch_add(1, Ordering::Relaxed);
                    let dialer = shared.member_at(peer.ip()).filter(|&d| d != target);
                    if let Some(d) = dialer
                        && dropped(&shared.rules.borrow(), d, target)
                    {
                        shared.resets.fetch_add(1, Ordering::Relaxed);
                        reset(&stream);
                        continue;
                    }
                    conns.spawn(serve(shared.clone(), stream, target, dialer, forward_to));
                }
                Err(e) => {
                    eprintln!("netproxy: proxy of member {target}: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Keeps [`NetStats::active`] right however a connection task ends (aborts included).
struct Active(Arc<Shared>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

enum Outcome {
    Closed,
    Failed(io::Error),
    Reset,
}

/// One proxied connection: `client` was dialed by `dialer` (None: unknown source) to the proxy
/// of `target`.
async fn serve(
    shared: Arc<Shared>,
    mut client: TcpStream,
    target: usize,
    dialer: Option<usize>,
    forward_to: SocketAddr,
) {
    shared.active.fetch_add(1, Ordering::Relaxed);
    let _active = Active(shared.clone());
    let mut upstream = match TcpStream::connect(forward_to).await {
        Ok(s) => s,
        Err(_) => {
            // A member that is down: expected while faults are injected; counted, not logged.
            shared.failed.fetch_add(1, Ordering::Relaxed);
            reset(&client);
            return;
        }
    };
    // Nagle would add its own latency on top of the rules; failing to disable it is harmless.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);

    let (req_dir, resp_dir) = match dialer {
        Some(d) => (Some((d, target)), Some((target, d))),
        None => (None, None),
    };
    let counters = |dir: Option<(usize, usize)>| match dir {
        Some(dir) => shared.counters(dir),
        None => shared.passthrough.clone(),
    };
    let (req_counters, resp_counters) = (counters(req_dir), counters(resp_dir));

    let outcome = {
        let (client_rd, client_wr) = client.split();
        let (upstream_rd, upstream_wr) = upstream.split();
        let request = pump(&shared, req_dir, client_rd, upstream_wr, req_counters);
        let response = pump(&shared, resp_dir, upstream_rd, client_wr, resp_counters);
        // Either side closing ends the connection: whichever pump finishes first decides.
        tokio::select! {
            done = request => done.map_or_else(Outcome::Failed, |()| Outcome::Closed),
            done = response => done.map_or_else(Outcome::Failed, |()| Outcome::Closed),
            () = until_dropped(&shared, dialer, target) => Outcome::Reset,
        }
    };
    match outcome {
        Outcome::Closed => {}
        Outcome::Failed(e) => {
            // One side broke: pass the reset on to the other side. Resets and broken pipes are
            // routine (a member was killed, a dialer gave up), anything else is worth a line.
            if !matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ) {
                eprintln!("netproxy: connection to member {target} failed: {e}; resetting");
            }
            shared.failed.fetch_add(1, Ordering::Relaxed);
            reset(&client);
            reset(&upstream);
        }
        Outcome::Reset => {
            shared.resets.fetch_add(1, Ordering::Relaxed);
            reset(&client);
            reset(&upstream);
        }
    }
}

/// Resolves once a `Drop` rule covers the link between `dialer` and `target`.
async fn until_dropped(shared: &Shared, dialer: Option<usize>, target: usize) {
    let Some(d) = dialer else {
        return std::future::pending().await;
    };
    let mut rules = shared.rules.subscribe();
    loop {
        if dropped(&rules.borrow_and_update(), d, target) {
            return;
        }
        if rules.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

struct Chunk {
    data: Vec<u8>,
    read_at: Instant,
    stalled: bool,
}

/// One direction: reads `src` into a bounded queue, and writes the queue to `dst` as the rule
/// of `dir` allows (no rule when `dir` is None). On EOF, delivers what is queued, forwards
/// the FIN and returns.
async fn pump<R, W>(
    shared: &Shared,
    dir: Option<(usize, usize)>,
    mut src: R,
    mut dst: W,
    counters: Arc<Counters>,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, mut rx) = mpsc::channel::<Chunk>(QUEUE_CHUNKS);
    let mut rules = shared.rules.subscribe();
    let reader = {
        let counters = counters.clone();
        async move {
            let mut buf = vec![0u8; CHUNK_BYTES];
            loop {
                let n = src.read(&mut buf).await?;
                if n == 0 {
                    return Ok(()); // drops `tx`: the writer drains the queue, then sends FIN
                }
                let stalled =
                    dir.is_some_and(|d| rule_of(&shared.rules.borrow(), d) == Rule::Blackhole);
                if stalled {
                    counters.stalled.fetch_add(n as u64, Ordering::Relaxed);
                }
                let chunk = Chunk {
                    data: buf[..n].to_vec(),
                    read_at: Instant::now(),
                    stalled,
                };
                if tx.send(chunk).await.is_err() {
                    return Ok(());
                }
            }
        }
    };
    let writer = async move {
        while let Some(mut chunk) = rx.recv().await {
            if let Some(dir) = dir {
                hold(&mut rules, dir, &mut chunk, &counters).await?;
            }
            dst.write_all(&chunk.data).await?;
            counters
                .forwarded
                .fetch_add(chunk.data.len() as u64, Ordering::Relaxed);
        }
        dst.shutdown().await
    };
    tokio::try_join!(reader, writer).map(|_| ())
}

/// Waits until the rule of `dir` lets `chunk` through, re-checking on every rule change.
async fn hold(
    rules: &mut watch::Receiver<RuleMap>,
    dir: (usize, usize),
    chunk: &mut Chunk,
    counters: &Counters,
) -> io::Result<()> {
    loop {
        let rule = rule_of(&rules.borrow_and_update(), dir);
        match rule {
            Rule::Healthy => return Ok(()),
            Rule::Delay(delay) => {
                let due = chunk.read_at + delay;
                if Instant::now() >= due {
                    return Ok(());
                }
                tokio::select! {
                    () = tokio::time::sleep_until(due) => return Ok(()),
                    changed = rules.changed() => changed.map_err(|_| gone())?,
                }
            }
            Rule::Blackhole => {
                if !chunk.stalled {
                    chunk.stalled = true;
                    counters
                        .stalled
                        .fetch_add(chunk.data.len() as u64, Ordering::Relaxed);
                }
                rules.changed().await.map_err(|_| gone())?;
            }
            // The connection is being reset by `until_dropped`; deliver nothing meanwhile.
            Rule::Drop => rules.changed().await.map_err(|_| gone())?,
        }
    }
}

fn gone() -> io::Error {
    io::Error::other("netproxy: network dropped")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use tokio::net::TcpSocket;
    use tokio::time::timeout;

    const LONG: Duration = Duration::from_secs(5);
    const QUIET: Duration = Duration::from_millis(300);

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    fn localhost() -> SocketAddr {
        SocketAddr::new(ip(1), 0)
    }

    /// An echo server that also reports every chunk it receives.
    async fn echo_server() -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
        let listener = TcpListener::bind(localhost()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                let _ = tx.send(buf[..n].to_vec());
                                if s.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        (addr, rx)
    }

    /// Connects to `addr` from source IP 127.0.0.`src`.
    async fn try_dial(src: u8, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(ip(src), 0))?;
        socket.connect(addr).await
    }

    async fn dial(src: u8, addr: SocketAddr) -> TcpStream {
        try_dial(src, addr).await.unwrap()
    }

    /// Asserts a new connection from 127.0.0.`src` is reset or closed at once (the proxy may
    /// reset it before `connect` returns).
    async fn assert_refused(src: u8, addr: SocketAddr) {
        if let Ok(mut s) = try_dial(src, addr).await {
            assert_closed(&mut s).await;
        }
    }

    async fn read_n(s: &mut TcpStream, n: usize, within: Duration) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; n];
        match timeout(within, s.read_exact(&mut buf)).await {
            Ok(Ok(_)) => Some(buf),
            Ok(Err(e)) => panic!("read failed: {e}"),
            Err(_) => None,
        }
    }

    async fn echo(s: &mut TcpStream, msg: &[u8]) {
        s.write_all(msg).await.unwrap();
        assert_eq!(read_n(s, msg.len(), LONG).await.as_deref(), Some(msg));
    }

    /// Asserts the peer closed or reset `s` promptly.
    async fn assert_closed(s: &mut TcpStream) {
        let mut buf = [0u8; 16];
        match timeout(LONG, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(n)) => panic!("expected a closed connection, read {n} bytes"),
            Err(_) => panic!("connection still open"),
        }
    }

    async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while !cond() {
            assert!(start.elapsed() < LONG, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Members 0, 1, 2 dialing from 127.0.0.21..23; an echo server behind member 0's proxy.
    async fn setup() -> (Network, SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
        let net = Network::new();
        for id in 0..3 {
            net.add_member(id, ip(21 + id as u8));
        }
        let (server, seen) = echo_server().await;
        let proxy = net.proxy(0, localhost(), server).await.unwrap();
        (net, proxy, seen)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn healthy_echo_and_counters() {
        let (net, proxy, _) = setup().await;
        let mut c1 = dial(22, proxy).await;
        let mut c2 = dial(23, proxy).await;
        echo(&mut c1, b"hello").await;
        echo(&mut c2, b"world!").await;
        wait_for("counters", || {
            (net.forwarded(1, 0), net.forwarded(0, 1)) == (5, 5)
                && (net.forwarded(2, 0), net.forwarded(0, 2)) == (6, 6)
        })
        .await;
        let stats = net.stats();
        assert_eq!((stats.accepted, stats.active), (2, 2));
        assert_eq!(
            (stats.resets, stats.failed, stats.passthrough_bytes),
            (0, 0, 0)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blackhole_stalls_and_heal_delivers_in_order() {
        let (net, proxy, mut seen) = setup().await;
        let mut c = dial(22, proxy).await;
        echo(&mut c, b"warm").await;
        assert_eq!(seen.recv().await.unwrap(), b"warm");

        net.isolate(0);
        assert_eq!(net.rule(1, 0), Rule::Blackhole);
        assert_eq!(net.rule(0, 2), Rule::Blackhole);
        c.write_all(b"abc").await.unwrap();
        assert_eq!(
            read_n(&mut c, 1, QUIET).await,
            None,
            "reply through a blackhole"
        );
        c.write_all(b"def").await.unwrap();
        assert_eq!(
            read_n(&mut c, 1, QUIET).await,
            None,
            "reply through a blackhole"
        );
        assert!(
            seen.try_recv().is_err(),
            "server got bytes through a blackhole"
        );
        assert_eq!(net.stalled(1, 0), 6);
        assert_eq!(net.stats().active, 1, "a stalled connection stays open");

        let healed = Instant::now();
        net.heal();
        assert_eq!(read_n(&mut c, 6, LONG).await.unwrap(), b"abcdef");
        // Heal is noticed at once (generous bound: the machine may be busy).
        assert!(healed.elapsed() < Duration::from_millis(500));
        wait_for("counters", || {
            (net.forwarded(1, 0), net.forwarded(0, 1)) == (10, 10)
        })
        .await;
        echo(&mut c, b"after").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stalled_response_direction_is_delivered_on_heal() {
        let (net, proxy, mut seen) = setup().await;
        let mut c = dial(22, proxy).await;
        net.set(0, 1, Rule::Blackhole);
        c.write_all(b"ping").await.unwrap();
        let got = timeout(LONG, seen.recv()).await.unwrap().unwrap();
        assert_eq!(got, b"ping", "request direction is healthy");
        assert_eq!(
            read_n(&mut c, 1, QUIET).await,
            None,
            "reply through a blackhole"
        );
        wait_for("stalled count", || net.stalled(0, 1) == 4).await;
        net.set(0, 1, Rule::Healthy);
        assert_eq!(read_n(&mut c, 4, LONG).await.unwrap(), b"ping");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_way_blackhole_affects_one_direction_only() {
        let (net, proxy0, mut seen0) = setup().await;
        let (server1, mut seen1) = echo_server().await;
        let proxy1 = net.proxy(1, localhost(), server1).await.unwrap();
        net.one_way(0, 1);
        assert_eq!(net.rules(), BTreeMap::from([((0, 1), Rule::Blackhole)]));

        // Member 1 dials member 0: its requests (1 -> 0) flow, the replies (0 -> 1) stall.
        let mut from1 = dial(22, proxy0).await;
        from1.write_all(b"one").await.unwrap();
        assert_eq!(timeout(LONG, seen0.recv()).await.unwrap().unwrap(), b"one");
        assert_eq!(read_n(&mut from1, 1, QUIET).await, None);

        // Member 0 dials member 1: its requests (0 -> 1) stall.
        let mut from0 = dial(21, proxy1).await;
        from0.write_all(b"zero").await.unwrap();
        assert!(
            timeout(QUIET, seen1.recv()).await.is_err(),
            "request through a blackhole"
        );

        // Member 2 is unaffected both ways.
        let mut from2 = dial(23, proxy1).await;
        echo(&mut from2, b"two").await;
        assert_eq!(seen1.recv().await.unwrap(), b"two");

        net.heal();
        assert_eq!(read_n(&mut from1, 3, LONG).await.unwrap(), b"one");
        assert_eq!(read_n(&mut from0, 4, LONG).await.unwrap(), b"zero");
        assert_eq!(seen1.recv().await.unwrap(), b"zero");
        assert_eq!(net.stalled(0, 1), 7);
        assert_eq!(net.stalled(1, 0), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delay_adds_latency_and_keeps_order_without_serialising() {
        let (net, proxy, _) = setup().await;
        let mut c = dial(22, proxy).await;
        echo(&mut c, b"warm").await;

        let delay = Duration::from_millis(150);
        net.set(1, 0, Rule::Delay(delay));
        let start = Instant::now();
        echo(&mut c, b"x").await;
        assert!(
            start.elapsed() >= delay,
            "one-way delay: {:?}",
            start.elapsed()
        );

        net.set(0, 1, Rule::Delay(delay));
        let start = Instant::now();
        echo(&mut c, b"y").await;
        assert!(
            start.elapsed() >= delay * 2,
            "two-way delay: {:?}",
            start.elapsed()
        );

        // Chunks sent 30 ms apart arrive in order, each delayed, not one delay after another.
        net.heal();
        let delay = Duration::from_millis(250);
        net.set(1, 0, Rule::Delay(delay));
        let start = Instant::now();
        for b in b"12345" {
            c.write_all(&[*b]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        assert_eq!(read_n(&mut c, 5, LONG).await.unwrap(), b"12345");
        let took = start.elapsed();
        assert!(took >= delay, "delayed: {took:?}");
        assert!(took < delay * 4, "delays piled up: {took:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drop_resets_existing_and_new_connections() {
        let (net, proxy, _) = setup().await;
        let mut c1 = dial(22, proxy).await;
        let mut c2 = dial(23, proxy).await;
        echo(&mut c1, b"a").await;
        echo(&mut c2, b"b").await;

        // A Drop in the response direction resets connections member 1 dialed too.
        net.set(0, 1, Rule::Drop);
        assert_closed(&mut c1).await;
        wait_for("reset count", || net.resets() == 1).await;
        echo(&mut c2, b"member 2 unaffected").await;

        assert_refused(22, proxy).await;
        wait_for("reset count", || net.resets() == 2).await;

        net.heal();
        let mut again = dial(22, proxy).await;
        echo(&mut again, b"back").await;
        wait_for("active count", || net.stats().active == 2).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_sources_pass_through() {
        let (net, proxy, _) = setup().await;
        for id in 0..3 {
            net.set(id, 0, Rule::Drop);
            net.set(0, id, Rule::Drop);
        }
        let mut stranger = dial(99, proxy).await;
        echo(&mut stranger, b"hi").await;
        wait_for("counters", || net.stats().passthrough_bytes == 4).await;
        assert!(net.stats().links.values().all(|l| l.forwarded == 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closes_end_connections_and_drop_stops_everything() {
        let (net, proxy, _) = setup().await;
        // Client side closes: the FIN goes through, the echo server closes, the task ends.
        let mut c = dial(22, proxy).await;
        echo(&mut c, b"bye").await;
        drop(c);
        wait_for("client close to end the connection", || {
            net.stats().active == 0
        })
        .await;

        // Server side closes.
        let closer = TcpListener::bind(localhost()).await.unwrap();
        let closer_addr = closer.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (s, _) = closer.accept().await.unwrap();
                drop(s);
            }
        });
        let closer_proxy = net.proxy(1, localhost(), closer_addr).await.unwrap();
        let mut c = dial(21, closer_proxy).await;
        assert_closed(&mut c).await;
        wait_for("server close to end the connection", || {
            net.stats().active == 0
        })
        .await;

        // Unreachable upstream: the dialer is reset.
        let gone = TcpListener::bind(localhost()).await.unwrap();
        let gone_addr = gone.local_addr().unwrap();
        drop(gone);
        let gone_proxy = net.proxy(2, localhost(), gone_addr).await.unwrap();
        assert_refused(21, gone_proxy).await;

        // Dropping the last handle closes listeners and open (even stalled) connections.
        let mut open = dial(22, proxy).await;
        echo(&mut open, b"x").await;
        net.isolate(0);
        open.write_all(b"y").await.unwrap();
        let clone = net.clone();
        drop(net);
        // A clone keeps the proxies alive: the connection is stalled, not closed.
        assert_eq!(read_n(&mut open, 1, QUIET).await, None);
        drop(clone);
        assert_closed(&mut open).await;
        let mut refused = false;
        for _ in 0..100 {
            if TcpStream::connect(proxy).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(refused, "listener still open after the network was dropped");
    }

    #[test]
    fn rule_helpers() {
        let net = Network::new();
        for id in 0..5 {
            net.add_member(id, ip(31 + id as u8));
        }
        net.partition(&[&[0, 1], &[2, 3]]);
        let rules = net.rules();
        assert_eq!(rules.len(), 8);
        assert_eq!(net.rule(0, 2), Rule::Blackhole);
        assert_eq!(net.rule(3, 1), Rule::Blackhole);
        assert_eq!(net.rule(0, 1), Rule::Healthy);
        assert_eq!(net.rule(4, 0), Rule::Healthy);

        net.heal();
        assert!(net.rules().is_empty());
        net.isolate(4);
        assert_eq!(net.rules().len(), 8);
        assert!(
            (0..4).all(|m| net.rule(m, 4) == Rule::Blackhole && net.rule(4, m) == Rule::Blackhole)
        );

        net.heal();
        net.set(1, 2, Rule::Delay(Duration::from_millis(5)));
        net.set(1, 2, Rule::Healthy);
        assert!(net.rules().is_empty());
        assert_eq!(net.members().get(&3), Some(&ip(34)));
        assert!(format!("{net:?}").contains("rules"));
    }
}
