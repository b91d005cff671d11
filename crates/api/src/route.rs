//! Route types and the masks that say where a function may be used.

/// A set of route types, with Kamailio's bit values (`src/core/route.h`), so masks written by people
/// who know Kamailio read the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteMask(pub u32);

impl RouteMask {
    /// `request_route` / `route` (1 << 0).
    pub const REQUEST: RouteMask = RouteMask(1);
    /// `failure_route` (1 << 1).
    pub const FAILURE: RouteMask = RouteMask(1 << 1);
    /// tm `onreply_route[name]` (1 << 2).
    pub const TM_ONREPLY: RouteMask = RouteMask(1 << 2);
    /// `branch_route` (1 << 3).
    pub const BRANCH: RouteMask = RouteMask(1 << 3);
    /// `onsend_route` (1 << 4).
    pub const ONSEND: RouteMask = RouteMask(1 << 4);
    /// `error_route` (1 << 5).
    pub const ERROR: RouteMask = RouteMask(1 << 5);
    /// tm local requests (1 << 6).
    pub const LOCAL: RouteMask = RouteMask(1 << 6);
    /// core `reply_route` / `onreply_route` without name (1 << 7).
    pub const CORE_ONREPLY: RouteMask = RouteMask(1 << 7);
    /// tm `event_route[tm:branch-failure]` (1 << 8).
    pub const BRANCH_FAILURE: RouteMask = RouteMask(1 << 8);
    /// Both reply route kinds.
    pub const ONREPLY: RouteMask = RouteMask((1 << 2) | (1 << 7));
    /// Event routes proper (1 << 9).
    pub const ONEVENT: RouteMask = RouteMask(1 << 9);
    /// What Kamailio calls `EVENT_ROUTE`: `REQUEST_ROUTE | ONEVENT_ROUTE`.
    pub const EVENT: RouteMask = RouteMask(1 | (1 << 9));
    /// Everywhere.
    pub const ANY: RouteMask = RouteMask(0xFFFF_FFFF);

    /// Both masks together.
    pub const fn or(self, other: RouteMask) -> RouteMask {
        RouteMask(self.0 | other.0)
    }

    /// True when `kind`'s bit is in this mask.
    pub fn allows(self, kind: RouteType) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Names of the route kinds in the mask, for docs (`ANY` for all of them).
    pub fn describe(self) -> String {
        if self == RouteMask::ANY {
            return "ANY".to_string();
        }
        let missing: Vec<&str> = RouteType::ALL
            .iter()
            .filter(|t| !self.allows(**t))
            .map(|t| t.keyword())
            .collect();
        if self.0 & 0xFFFF_FC00 == 0xFFFF_FC00 && missing.len() <= 3 {
            return format!("ANY except {}", missing.join(", "));
        }
        let names: Vec<&str> = RouteType::ALL
            .iter()
            .filter(|t| self.allows(**t))
            .map(|t| t.keyword())
            .collect();
        names.join(", ")
    }
}

/// The kind of route block a piece of script runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteType {
    /// `request_route` and the `route[..]` blocks it calls.
    Request,
    /// `failure_route[..]`.
    Failure,
    /// tm `onreply_route[name]`.
    TmOnReply,
    /// `branch_route[..]`.
    Branch,
    /// `onsend_route`.
    OnSend,
    /// `error_route`.
    Error,
    /// tm local requests.
    Local,
    /// Core `reply_route` (or unnamed `onreply_route`).
    CoreOnReply,
    /// tm branch failure event.
    BranchFailure,
    /// `event_route[..]`.
    Event,
}

impl RouteType {
    /// Every route type, in bit order.
    pub const ALL: [RouteType; 10] = [
        RouteType::Request,
        RouteType::Failure,
        RouteType::TmOnReply,
        RouteType::Branch,
        RouteType::OnSend,
        RouteType::Error,
        RouteType::Local,
        RouteType::CoreOnReply,
        RouteType::BranchFailure,
        RouteType::Event,
    ];

    /// The Kamailio bit of this type.
    pub fn bit(self) -> u32 {
        match self {
            RouteType::Request => 1,
            RouteType::Failure => 1 << 1,
            RouteType::TmOnReply => 1 << 2,
            RouteType::Branch => 1 << 3,
            RouteType::OnSend => 1 << 4,
            RouteType::Error => 1 << 5,
            RouteType::Local => 1 << 6,
            RouteType::CoreOnReply => 1 << 7,
            RouteType::BranchFailure => 1 << 8,
            RouteType::Event => 1 << 9,
        }
    }

    /// The short upper-case name used in docs (`REQUEST`, `FAILURE` …).
    pub fn keyword(self) -> &'static str {
        match self {
            RouteType::Request => "REQUEST",
            RouteType::Failure => "FAILURE",
            RouteType::TmOnReply => "TM_ONREPLY",
            RouteType::Branch => "BRANCH",
            RouteType::OnSend => "ONSEND",
            RouteType::Error => "ERROR",
            RouteType::Local => "LOCAL",
            RouteType::CoreOnReply => "CORE_ONREPLY",
            RouteType::BranchFailure => "BRANCH_FAILURE",
            RouteType::Event => "EVENT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_kamailio_bits() {
        let cases: &[(RouteMask, RouteType, bool)] = &[
            (RouteMask::REQUEST, RouteType::Request, true),
            (RouteMask::REQUEST, RouteType::Failure, false),
            (RouteMask::ONREPLY, RouteType::TmOnReply, true),
            (RouteMask::ONREPLY, RouteType::CoreOnReply, true),
            (RouteMask::ONREPLY, RouteType::Request, false),
            (RouteMask::EVENT, RouteType::Event, true),
            (RouteMask::EVENT, RouteType::Request, true),
            (RouteMask::ANY, RouteType::BranchFailure, true),
            (
                RouteMask::REQUEST.or(RouteMask::FAILURE),
                RouteType::Failure,
                true,
            ),
        ];
        for (m, t, want) in cases {
            assert_eq!(m.allows(*t), *want, "{m:?} {t:?}");
        }
        assert_eq!(RouteMask::ONREPLY.0, 132);
        assert_eq!(RouteMask::EVENT.0, 513);
        assert_eq!(
            RouteMask::REQUEST.or(RouteMask::BRANCH).describe(),
            "REQUEST, BRANCH"
        );
        assert_eq!(
            RouteMask(RouteMask::ANY.0 & !RouteMask::ONSEND.0).describe(),
            "ANY except ONSEND"
        );
    }
}
