//! Nonces as Kamailio's auth module builds them: base64 of `expire(4) since(4) MD5(…, secret1)`,
//! then, when extra checks apply to the request, `MD5(message parts, secret2)`, then, when nonce
//! counts or one-time nonces are on, the nonce id (4) and its pool/flags byte (1). Sizes (and so
//! the header length) match Kamailio's: 32, 40, 56 or 60 base64 characters. Time is passed in
//! (`now`, seconds since the epoch) so tests control it.
//!
//! Nonce-count replay protection keeps, per nonce id, the highest `nc` seen (one byte, as
//! Kamailio: an nc above 255 forces a new nonce); one-time nonces keep one bit per id. Both are
//! rings indexed by the id: an id older than the ring is treated as stale/reused. Kamailio splits
//! ids in pools per process to avoid contention; here one pool of atomics serves every worker
//! (`nid_pool_no` is accepted and has no effect — recorded in docs/modules-auth.md).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use super::digest::{b64_decode, b64_encode, md5};

/// `auth_checks_*` bit: the R-URI enters the nonce.
pub const CHECK_FULL_URI: u32 = 1;
/// `auth_checks_*` bit: Call-ID.
pub const CHECK_CALLID: u32 = 2;
/// `auth_checks_*` bit: From tag.
pub const CHECK_FROMTAG: u32 = 4;
/// `auth_checks_*` bit: source IP.
pub const CHECK_SRC_IP: u32 = 8;

const NF_VALID_NC_ID: u8 = 128;
const NF_VALID_OT_ID: u8 = 64;
const MIN_B64_LEN: usize = 32;

/// The message parts the extra checks protect.
#[derive(Debug, Clone, Default)]
pub struct MsgParts {
    /// Request-URI as received.
    pub ruri: Vec<u8>,
    /// Call-ID.
    pub callid: Vec<u8>,
    /// From tag.
    pub from_tag: Vec<u8>,
    /// Source IP, binary (4 or 16 bytes).
    pub src_ip: Vec<u8>,
}

/// Outcome of a nonce check, with Kamailio's `check_nonce` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// 0: genuine and fresh.
    Ok,
    /// -1/1/2: not one of ours (bad encoding, too short, wrong signature, truncated).
    Invalid,
    /// 3: the protected message parts differ.
    ChecksFailed,
    /// 4: expired, from before the start, from too far in the future, or nc replayed/too big.
    Stale,
    /// 5: malformed nc.
    BadNc,
    /// 6: a one-time nonce used again.
    Reused,
}

/// Nonce settings and replay state, shared by every worker.
#[derive(Debug)]
pub struct Nonces {
    secret1: Vec<u8>,
    secret2: Vec<u8>,
    /// `nonce_expire`.
    pub expire: u32,
    /// `nonce_auth_max_drift`.
    pub max_drift: u32,
    up_since: u32,
    next_id: AtomicU32,
    nc: Option<Vec<AtomicU8>>,
    otn: Option<Vec<AtomicU64>>,
    otn_bits: u32,
}

impl Nonces {
    /// Settings; `nc_size`/`otn_size` `Some` enable nonce counts / one-time nonces (rounded up
    /// to a power of two). `up_since` is the start time: older nonces are stale.
    pub fn new(
        secret1: Vec<u8>,
        secret2: Vec<u8>,
        expire: u32,
        max_drift: u32,
        up_since: u32,
        nc_size: Option<u32>,
        otn_size: Option<u32>,
    ) -> Nonces {
        let pow2 = |n: u32| n.max(64).checked_next_power_of_two().unwrap_or(1 << 31);
        let otn_bits = otn_size.map(pow2).unwrap_or(0);
        Nonces {
            secret1,
            secret2,
            expire,
            max_drift,
            up_since,
            next_id: AtomicU32::new(0),
            nc: nc_size.map(|n| (0..pow2(n)).map(|_| AtomicU8::new(0)).collect()),
            otn: otn_size.map(|_| (0..otn_bits / 64).map(|_| AtomicU64::new(0)).collect()),
            otn_bits,
        }
    }

    fn nid_enabled(&self) -> bool {
        self.nc.is_some() || self.otn.is_some()
    }

    /// A new nonce created at `now`; `checks` are the extra-check bits for this request.
    pub fn make(&self, now: u32, checks: u32, parts: &MsgParts) -> String {
        let mut id_pf = None;
        if self.nid_enabled() {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            let mut pf = 0u8;
            if let Some(nc) = &self.nc {
                if let Some(slot) = nc.get(id as usize & (nc.len() - 1)) {
                    slot.store(0, Ordering::Relaxed);
                }
                pf |= NF_VALID_NC_ID;
            }
            if let Some(otn) = &self.otn {
                let bit = id & (self.otn_bits - 1);
                if let Some(w) = otn.get((bit / 64) as usize) {
                    w.fetch_and(!(1u64 << (bit % 64)), Ordering::Relaxed);
                }
                pf |= NF_VALID_OT_ID;
            }
            id_pf = Some((id, pf));
        }
        let bin = self.binary(now.wrapping_add(self.expire), now, id_pf, checks, parts);
        b64_encode(&bin)
    }

    fn binary(
        &self,
        expire: u32,
        since: u32,
        id_pf: Option<(u32, u8)>,
        checks: u32,
        parts: &MsgParts,
    ) -> Vec<u8> {
        let mut b = Vec::with_capacity(45);
        b.extend_from_slice(&expire.to_be_bytes());
        b.extend_from_slice(&since.to_be_bytes());
        let mut tail = Vec::new();
        if let Some((id, pf)) = id_pf {
            tail.extend_from_slice(&id.to_be_bytes());
            tail.push(pf);
        }
        let head = b.clone();
        b.extend_from_slice(&md5(&[&head, &tail, &self.secret1]));
        if checks != 0 {
            let mut v: Vec<&[u8]> = Vec::new();
            if checks & CHECK_FULL_URI != 0 {
                v.push(&parts.ruri);
            }
            if checks & CHECK_CALLID != 0 {
                v.push(&parts.callid);
            }
            if checks & CHECK_FROMTAG != 0 {
                v.push(&parts.from_tag);
            }
            if checks & CHECK_SRC_IP != 0 {
                v.push(&parts.src_ip);
            }
            v.push(&self.secret2);
            b.extend_from_slice(&md5(&v));
        }
        b.extend_from_slice(&tail);
        b
    }

    /// Checks `nonce` at `now` (Kamailio's `check_nonce`); `nc` is the credentials' nc, if any;
    /// `update` records the nc / one-time use.
    pub fn check(
        &self,
        nonce: &[u8],
        now: u32,
        checks: u32,
        parts: &MsgParts,
        nc: Option<&[u8]>,
        update: bool,
    ) -> NonceCheck {
        if nonce.len() < MIN_B64_LEN {
            return NonceCheck::Invalid;
        }
        let Some(bin) = b64_decode(nonce) else {
            return NonceCheck::Invalid;
        };
        let word = |at: usize| -> Option<u32> {
            bin.get(at..at + 4)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map(u32::from_be_bytes)
        };
        let (Some(expire), Some(since)) = (word(0), word(4)) else {
            return NonceCheck::Invalid;
        };
        if since < self.up_since && since < now {
            return NonceCheck::Stale;
        }
        if since > now && since - now > self.max_drift {
            return NonceCheck::Stale;
        }
        let md5_len = if checks != 0 { 32 } else { 16 };
        let id_pf = if self.nid_enabled() {
            match (word(8 + md5_len), bin.get(12 + md5_len)) {
                (Some(id), Some(pf)) => Some((id, *pf)),
                _ => None,
            }
        } else {
            None
        };
        let pf = id_pf.map(|(_, p)| p).unwrap_or(0);
        if self.nc.is_some() && pf & NF_VALID_NC_ID == 0 {
            return NonceCheck::Stale;
        }
        if self.otn.is_some() && pf & NF_VALID_OT_ID == 0 {
            return NonceCheck::Stale;
        }
        let want = self.binary(expire, since, id_pf, checks, parts);
        if bin.get(8..24) != want.get(8..24) {
            return NonceCheck::Invalid;
        }
        let id = id_pf.map(|(i, _)| i).unwrap_or(0);
        let mut nc_ok = false;
        if let (Some(arr), Some(ncv)) = (&self.nc, nc.filter(|v| !v.is_empty())) {
            if pf & NF_VALID_NC_ID != 0 {
                let Some(n) = parse_nc(ncv) else {
                    return NonceCheck::BadNc;
                };
                if !self.nc_check(arr, id, n, update) {
                    return NonceCheck::Stale;
                }
                nc_ok = true;
            }
        }
        if !nc_ok {
            if let Some(otn) = &self.otn {
                if pf & NF_VALID_OT_ID != 0 && !self.otn_check(otn, id) {
                    return NonceCheck::Reused;
                }
            }
            if checks != 0 {
                if bin.len() != want.len() {
                    return NonceCheck::Invalid;
                }
                if bin.get(24..40) != want.get(24..40) {
                    return NonceCheck::ChecksFailed;
                }
            }
        }
        if expire < now {
            return NonceCheck::Stale;
        }
        NonceCheck::Ok
    }

    fn too_old(&self, id: u32, size: u32) -> bool {
        let cur = self.next_id.load(Ordering::Relaxed);
        cur.wrapping_sub(id) >= size
    }

    fn nc_check(&self, arr: &[AtomicU8], id: u32, nc: u32, update: bool) -> bool {
        let size = u32::try_from(arr.len()).unwrap_or(u32::MAX);
        if self.too_old(id, size) {
            return false;
        }
        let Ok(nc) = u8::try_from(nc) else {
            return false; // too big: force a new nonce
        };
        let Some(slot) = arr.get(id as usize & (arr.len() - 1)) else {
            return false;
        };
        let mut cur = slot.load(Ordering::Relaxed);
        loop {
            if nc <= cur {
                return false; // replayed
            }
            if !update {
                return true;
            }
            match slot.compare_exchange(cur, nc, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    fn otn_check(&self, otn: &[AtomicU64], id: u32) -> bool {
        if self.too_old(id, self.otn_bits) {
            return false;
        }
        let bit = id & (self.otn_bits - 1);
        let Some(w) = otn.get((bit / 64) as usize) else {
            return false;
        };
        let mask = 1u64 << (bit % 64);
        w.fetch_or(mask, Ordering::AcqRel) & mask == 0
    }
}

/// `nc`: exactly 8 hex digits.
fn parse_nc(v: &[u8]) -> Option<u32> {
    if v.len() != 8 {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(v).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(nc: Option<u32>, otn: Option<u32>) -> Nonces {
        Nonces::new(b"s1".to_vec(), b"s2".to_vec(), 300, 3, 1000, nc, otn)
    }

    #[test]
    fn lengths_match_kamailio() {
        let p = MsgParts::default();
        let cases = [
            (None, None, 0, 32),
            (None, None, 3, 56),
            (Some(64), None, 0, 40),
            (None, Some(64), 3, 60),
        ];
        for (nc, otn, checks, len) in cases {
            assert_eq!(
                n(nc, otn).make(2000, checks, &p).len(),
                len,
                "{nc:?} {otn:?} {checks}"
            );
        }
    }

    #[test]
    fn checks_table() {
        let p = MsgParts {
            callid: b"c1".to_vec(),
            ..MsgParts::default()
        };
        let q = MsgParts {
            callid: b"c2".to_vec(),
            ..MsgParts::default()
        };
        let x = n(None, None);
        let good = x.make(2000, 2, &p);
        let mut forged = good.clone().into_bytes();
        forged[12] = if forged[12] == b'A' { b'B' } else { b'A' };
        let cases: [(&[u8], u32, u32, &MsgParts, NonceCheck); 8] = [
            (good.as_bytes(), 2000, 2, &p, NonceCheck::Ok),
            (good.as_bytes(), 2300, 2, &p, NonceCheck::Ok),
            (good.as_bytes(), 2301, 2, &p, NonceCheck::Stale),
            (good.as_bytes(), 1997, 2, &p, NonceCheck::Ok),
            (good.as_bytes(), 1996, 2, &p, NonceCheck::Stale),
            (good.as_bytes(), 2000, 2, &q, NonceCheck::ChecksFailed),
            (&forged, 2000, 2, &p, NonceCheck::Invalid),
            (b"short", 2000, 2, &p, NonceCheck::Invalid),
        ];
        for (i, (nonce, now, checks, parts, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                x.check(nonce, now, checks, parts, None, true),
                want,
                "case {i}"
            );
        }
        // Made before the server started.
        assert_eq!(
            x.check(x.make(900, 0, &p).as_bytes(), 1100, 0, &p, None, true),
            NonceCheck::Stale
        );
    }

    #[test]
    fn nonce_count_and_one_time() {
        let p = MsgParts::default();
        let x = n(Some(64), None);
        let v = x.make(2000, 0, &p);
        let steps: [(&[u8], NonceCheck); 5] = [
            (b"00000001", NonceCheck::Ok),
            (b"00000001", NonceCheck::Stale),
            (b"00000003", NonceCheck::Ok),
            (b"00000100", NonceCheck::Stale),
            (b"1", NonceCheck::BadNc),
        ];
        for (nc, want) in steps {
            assert_eq!(x.check(v.as_bytes(), 2000, 0, &p, Some(nc), true), want);
        }
        let o = n(None, Some(64));
        let v = o.make(2000, 0, &p);
        assert_eq!(
            o.check(v.as_bytes(), 2000, 0, &p, None, true),
            NonceCheck::Ok
        );
        assert_eq!(
            o.check(v.as_bytes(), 2000, 0, &p, None, true),
            NonceCheck::Reused
        );
        // An id pushed out of the ring by newer nonces.
        let old = o.make(2000, 0, &p);
        for _ in 0..64 {
            o.make(2000, 0, &p);
        }
        assert_eq!(
            o.check(old.as_bytes(), 2000, 0, &p, None, true),
            NonceCheck::Reused
        );
    }
}
