//! The TCP connection table: by id (`$conid`), by peer address, by alias, and per-IP counts.
//!
//! One `std::sync::Mutex` guards it. Holders never `.await` and never do I/O while holding it, and
//! every operation is a few hash-map steps, so a blocking mutex is cheaper than tokio's and can be
//! taken from the synchronous worker threads as well as from the I/O tasks.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use tokio::sync::mpsc;

use crate::spec::{ConnId, Proto, SocketId};

/// Who opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Accepted,
    Outgoing,
}

/// Whether an outgoing connection is still being opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    Connecting,
    Established,
}

/// A public view of one connection (what `core.tcp_list`-style RPCs show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    pub id: ConnId,
    pub proto: Proto,
    pub peer: SocketAddr,
    /// Local address, known once established.
    pub local: Option<SocketAddr>,
    /// The listening socket this connection belongs to.
    pub socket: SocketId,
    pub direction: Direction,
    pub state: ConnState,
}

/// Orders for a connection task.
#[derive(Debug)]
pub(crate) enum Cmd {
    Send {
        data: Vec<u8>,
        close: bool,
    },
    /// Close after what is already queued (`tcp_close_connection`).
    Close,
}

pub(crate) struct Entry {
    pub info: ConnInfo,
    pub tx: mpsc::Sender<Cmd>,
}

#[derive(Default)]
pub(crate) struct ConnTable {
    conns: HashMap<ConnId, Entry>,
    /// Latest connection per peer address.
    by_peer: HashMap<SocketAddr, ConnId>,
    /// `tcp_accept_aliases` / `force_tcp_alias`: other peer ip:port pairs that mean this connection.
    aliases: HashMap<SocketAddr, ConnId>,
    accepted_per_ip: HashMap<IpAddr, usize>,
}

impl ConnTable {
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn insert(&mut self, e: Entry) {
        let id = e.info.id;
        self.by_peer.insert(e.info.peer, id);
        if e.info.direction == Direction::Accepted {
            *self.accepted_per_ip.entry(e.info.peer.ip()).or_default() += 1;
        }
        self.conns.insert(id, e);
    }

    pub fn remove(&mut self, id: ConnId) -> Option<Entry> {
        let e = self.conns.remove(&id)?;
        if self.by_peer.get(&e.info.peer) == Some(&id) {
            self.by_peer.remove(&e.info.peer);
        }
        self.aliases.retain(|_, v| *v != id);
        if e.info.direction == Direction::Accepted {
            let ip = e.info.peer.ip();
            if let Some(n) = self.accepted_per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.accepted_per_ip.remove(&ip);
                }
            }
        }
        Some(e)
    }

    pub fn get(&self, id: ConnId) -> Option<&Entry> {
        self.conns.get(&id)
    }

    /// A connection to `peer`: a direct match first, then an alias.
    pub fn find(&self, peer: SocketAddr) -> Option<ConnId> {
        self.by_peer
            .get(&peer)
            .or_else(|| self.aliases.get(&peer))
            .copied()
    }

    /// Makes `alias` another name of connection `id`; false when `id` is unknown.
    pub fn add_alias(&mut self, id: ConnId, alias: SocketAddr) -> bool {
        if !self.conns.contains_key(&id) {
            return false;
        }
        self.aliases.insert(alias, id);
        true
    }

    pub fn accepted_from(&self, ip: IpAddr) -> usize {
        self.accepted_per_ip.get(&ip).copied().unwrap_or(0)
    }

    pub fn set_established(&mut self, id: ConnId, local: SocketAddr) {
        if let Some(e) = self.conns.get_mut(&id) {
            e.info.state = ConnState::Established;
            e.info.local = Some(local);
        }
    }

    pub fn list(&self) -> Vec<ConnInfo> {
        let mut v: Vec<ConnInfo> = self.conns.values().map(|e| e.info.clone()).collect();
        v.sort_by_key(|c| c.id);
        v
    }

    pub fn clear(&mut self) {
        self.conns.clear();
        self.by_peer.clear();
        self.aliases.clear();
        self.accepted_per_ip.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, peer: &str, dir: Direction) -> (Entry, mpsc::Receiver<Cmd>) {
        let (tx, rx) = mpsc::channel(1);
        let e = Entry {
            info: ConnInfo {
                id: ConnId(id),
                proto: Proto::Tcp,
                peer: peer.parse().unwrap(),
                local: None,
                socket: SocketId(0),
                direction: dir,
                state: ConnState::Connecting,
            },
            tx,
        };
        (e, rx)
    }

    #[test]
    fn lookups_follow_inserts_aliases_and_removals() {
        let mut t = ConnTable::default();
        let mut keep = Vec::new();
        for (id, peer, dir) in [
            (1, "10.0.0.1:5060", Direction::Accepted),
            (2, "10.0.0.1:5070", Direction::Accepted),
            (3, "[::1]:5060", Direction::Outgoing),
        ] {
            let (e, rx) = entry(id, peer, dir);
            t.insert(e);
            keep.push(rx);
        }
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(t.add_alias(ConnId(2), "10.0.0.1:5080".parse().unwrap()));
        assert!(!t.add_alias(ConnId(9), "10.0.0.1:5090".parse().unwrap()));
        t.set_established(ConnId(3), "[::1]:40000".parse().unwrap());

        let cases: [(&str, Option<u64>); 5] = [
            ("10.0.0.1:5060", Some(1)),
            ("10.0.0.1:5070", Some(2)),
            ("10.0.0.1:5080", Some(2)),
            ("[::1]:5060", Some(3)),
            ("10.0.0.2:5060", None),
        ];
        for (peer, want) in cases {
            assert_eq!(t.find(peer.parse().unwrap()), want.map(ConnId), "{peer}");
        }
        assert_eq!(t.accepted_from(ip), 2);
        assert_eq!(t.get(ConnId(3)).unwrap().info.state, ConnState::Established);

        assert!(t.remove(ConnId(2)).is_some());
        assert!(t.remove(ConnId(2)).is_none());
        assert_eq!(
            t.find("10.0.0.1:5080".parse().unwrap()),
            None,
            "alias dropped"
        );
        assert_eq!(t.accepted_from(ip), 1);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.list().iter().map(|c| c.id.0).collect::<Vec<_>>(),
            vec![1, 3]
        );
        t.clear();
        assert_eq!(t.len(), 0);
        assert_eq!(t.accepted_from(ip), 0);
    }

    #[test]
    fn newer_connection_to_same_peer_wins_and_older_removal_keeps_it() {
        let mut t = ConnTable::default();
        let (a, _ra) = entry(1, "10.0.0.1:5060", Direction::Outgoing);
        let (b, _rb) = entry(2, "10.0.0.1:5060", Direction::Outgoing);
        t.insert(a);
        t.insert(b);
        assert_eq!(t.find("10.0.0.1:5060".parse().unwrap()), Some(ConnId(2)));
        t.remove(ConnId(1));
        assert_eq!(t.find("10.0.0.1:5060".parse().unwrap()), Some(ConnId(2)));
    }
}
