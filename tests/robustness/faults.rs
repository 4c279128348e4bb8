//! The faults a run injects into a real 3-member cluster, and their repair.
//!
//! Process faults use signals on the member processes (SIGKILL, SIGSTOP/SIGCONT) and restarts
//! from the same data dir; network faults use the proxies in front of every member's peer
//! listener (see `netproxy`): blackholed links (a partition: bytes stall, as TCP would keep
//! retrying), one-way partitions, delays and connection resets. Client traffic is never
//! proxied: a partitioned member still answers its clients, which is exactly when a stale
//! read or a write it cannot commit would show.

use std::fmt;
use std::time::Duration;

use super::Rng;
use super::netproxy::{Network, Rule};
use crate::support::{Cluster, wait_for};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    KillLeader,
    KillFollower,
    /// SIGSTOP the leader for longer than the election timeout, then SIGCONT.
    PauseLeader,
    IsolateLeader,
    IsolateFollower,
    /// The leader's messages to the others are lost; theirs reach it.
    OneWayFromLeader,
    /// The others' messages to the leader are lost; the leader's reach them.
    OneWayToLeader,
    /// Every peer link slowed down.
    DelayLinks,
    /// Every peer connection reset, repeatedly.
    ResetLinks,
    /// A follower is killed, misses enough for a snapshot, and is killed again while the
    /// snapshot is being sent and installed.
    KillDuringSnapshotInstall,
    /// The leader is killed right after a compaction was proposed.
    KillDuringCompaction,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

pub const ALL: [Fault; 11] = [
    Fault::KillLeader,
    Fault::KillFollower,
    Fault::PauseLeader,
    Fault::IsolateLeader,
    Fault::IsolateFollower,
    Fault::OneWayFromLeader,
    Fault::OneWayToLeader,
    Fault::DelayLinks,
    Fault::ResetLinks,
    Fault::KillDuringSnapshotInstall,
    Fault::KillDuringCompaction,
];

/// The cluster under test with its proxies.
pub struct Target {
    pub cluster: Cluster,
    pub network: Network,
}

impl Target {
    /// Starts `n` members behind proxies, with `extra_args`, and waits for a leader.
    pub async fn start(n: usize, extra_args: &[&str]) -> Target {
        let mut cluster = Cluster::plan_behind_proxies(n, extra_args);
        let network = Network::new();
        for (i, member) in cluster.members.iter().enumerate() {
            network.add_member(i, Cluster::source_ip(i));
            let listen = address(member.advertised_peer_url.as_deref().unwrap_or_default());
            let forward = address(&member.peer_url);
            network
                .proxy(i, listen, forward)
                .await
                .expect("start a peer proxy");
        }
        for member in &mut cluster.members {
            member.start();
        }
        cluster.leader().await;
        Target { cluster, network }
    }

    pub fn client_urls(&self) -> Vec<String> {
        self.cluster
            .members
            .iter()
            .map(|m| m.client_url.clone())
            .collect()
    }

    /// Injects `fault`, holds it for `hold`, then repairs it; returns a line describing what
    /// was done. Always leaves every member running and the network healthy.
    pub async fn inject(&mut self, fault: Fault, hold: Duration, rng: &mut Rng) -> String {
        let leader = self.cluster.leader().await;
        let n = self.cluster.members.len();
        let follower = (leader + 1 + rng.below(n - 1)) % n;
        let names: Vec<String> = self
            .cluster
            .members
            .iter()
            .map(|m| m.name.clone())
            .collect();
        let name = |i: usize| names[i].clone();
        let what = match fault {
            Fault::KillLeader | Fault::KillFollower => {
                let victim = if fault == Fault::KillLeader {
                    leader
                } else {
                    follower
                };
                self.cluster.members[victim].kill();
                tokio::time::sleep(hold).await;
                self.cluster.members[victim].restart();
                format!("killed {} and restarted it after {hold:?}", name(victim))
            }
            Fault::PauseLeader => {
                self.cluster.members[leader].pause();
                tokio::time::sleep(hold).await;
                self.cluster.members[leader].resume();
                format!("paused leader {} for {hold:?}", name(leader))
            }
            Fault::IsolateLeader | Fault::IsolateFollower => {
                let victim = if fault == Fault::IsolateLeader {
                    leader
                } else {
                    follower
                };
                self.network.isolate(victim);
                tokio::time::sleep(hold).await;
                self.network.heal();
                format!("isolated {} for {hold:?}", name(victim))
            }
            Fault::OneWayFromLeader | Fault::OneWayToLeader => {
                for other in (0..n).filter(|i| *i != leader) {
                    if fault == Fault::OneWayFromLeader {
                        self.network.one_way(leader, other);
                    } else {
                        self.network.one_way(other, leader);
                    }
                }
                tokio::time::sleep(hold).await;
                self.network.heal();
                format!("{fault} (leader {}) for {hold:?}", name(leader))
            }
            Fault::DelayLinks => {
                let delay = Duration::from_millis(50 + rng.below(200) as u64);
                for a in 0..n {
                    for b in (0..n).filter(|b| *b != a) {
                        self.network.set(a, b, Rule::Delay(delay));
                    }
                }
                tokio::time::sleep(hold).await;
                self.network.heal();
                format!("delayed every peer link by {delay:?} for {hold:?}")
            }
            Fault::ResetLinks => {
                let until = tokio::time::Instant::now() + hold;
                let mut resets = 0;
                while tokio::time::Instant::now() < until {
                    for a in 0..n {
                        for b in (0..n).filter(|b| *b != a) {
                            self.network.set(a, b, Rule::Drop);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    self.network.heal();
                    resets += 1;
                    tokio::time::sleep(Duration::from_millis(200 + rng.below(300) as u64)).await;
                }
                format!("reset every peer connection {resets} times over {hold:?}")
            }
            Fault::KillDuringSnapshotInstall => {
                self.cluster.members[follower].kill();
                // The traffic writes meanwhile; the cluster snapshots and purges its log
                // (small --snapshot-count), so the follower needs a snapshot to catch up.
                tokio::time::sleep(hold).await;
                self.cluster.members[follower].restart();
                let delay = Duration::from_millis(100 + rng.below(400) as u64);
                tokio::time::sleep(delay).await;
                self.cluster.members[follower].kill();
                self.cluster.members[follower].restart();
                format!(
                    "killed {} for {hold:?}, restarted it and killed it again {delay:?} into its catch-up",
                    name(follower)
                )
            }
            Fault::KillDuringCompaction => {
                let leader_member = &self.cluster.members[leader];
                let revision = leader_member.revision().await.unwrap_or(1);
                let target = (revision - 20).max(1);
                let compacting = async {
                    let mut kv = leader_member.kv().await?;
                    kv.compact(keel_proto::etcdserverpb::CompactionRequest {
                        revision: target,
                        physical: false,
                    })
                    .await
                    .ok()
                };
                let _ = tokio::time::timeout(Duration::from_millis(5), compacting).await;
                self.cluster.members[leader].kill();
                tokio::time::sleep(hold).await;
                self.cluster.members[leader].restart();
                format!(
                    "compacted to {target} and killed leader {} at once, restarted after {hold:?}",
                    name(leader)
                )
            }
        };
        self.wait_healthy().await;
        what
    }

    /// Waits until every member answers and they agree on a leader.
    pub async fn wait_healthy(&self) {
        self.cluster.leader().await;
        for member in &self.cluster.members {
            wait_for(Duration::from_secs(30), "every member to answer", || {
                member.status()
            })
            .await;
        }
    }

    /// One line per member for failure reports: who it is, what it knows.
    pub async fn describe(&self) -> String {
        let mut lines = Vec::new();
        for member in &self.cluster.members {
            let status = member.status().await;
            let revision = member.revision().await;
            lines.push(format!(
                "{} pid {:?} status (id, leader) {status:?} revision {revision:?}",
                member.name,
                member.pid()
            ));
        }
        lines.push(format!("network: {:?}", self.network.rules()));
        lines.join("\n")
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.network.shutdown();
    }
}

fn address(url: &str) -> std::net::SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("a loopback host:port URL")
}
