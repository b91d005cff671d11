//! Kamailio's load-time type check of expressions (`rve_check_type` in `src/core/rvalue.c`):
//! constant operands of the wrong type are refused ("type mismatch: str instead of int").

use ferrosip_config::ast::{self, BinOp, UnOp};
use ferrosip_config::Span;

use super::{err, Compiler};

/// Static type of an expression for the load-time check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    Int,
    Str,
    Unknown,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Int => "int",
            Ty::Str => "str",
            Ty::Unknown => "undef",
        }
    }
}

impl Compiler<'_> {
    /// Kamailio's load-time type check of an expression (`rve_check_type`): constant operands of the
    /// wrong type are refused ("type mismatch: str instead of int"). Variables are of unknown type.
    pub(super) fn check_types(&mut self, e: &ast::Expr) -> Option<Ty> {
        let mismatch = |c: &mut Self, bad: Ty, want: Ty, at: Span| {
            c.errors.push(err(
                format!("type mismatch: {} instead of {}", bad.name(), want.name()),
                at,
            ));
            None
        };
        match e {
            ast::Expr::Int(..) => Some(Ty::Int),
            ast::Expr::Str(..) | ast::Expr::Select(..) => Some(Ty::Str),
            ast::Expr::Call { .. } | ast::Expr::Assign { .. } => Some(Ty::Int),
            ast::Expr::Selval { .. } => Some(Ty::Unknown),
            ast::Expr::Pv(_)
            | ast::Expr::Keyword(..)
            | ast::Expr::Ident(..)
            | ast::Expr::Addr { .. } => Some(Ty::Unknown),
            ast::Expr::Unary { op, expr, .. } => match op {
                UnOp::IntCast => Some(Ty::Int),
                UnOp::StrCast => Some(Ty::Str),
                UnOp::Neg | UnOp::Not | UnOp::BitNot => match self.check_types(expr)? {
                    Ty::Str => mismatch(self, Ty::Str, Ty::Int, expr.span()),
                    _ => Some(Ty::Int),
                },
                UnOp::Defined | UnOp::Strlen | UnOp::Strempty => match self.check_types(expr)? {
                    Ty::Int => mismatch(self, Ty::Int, Ty::Str, expr.span()),
                    _ => Some(Ty::Int),
                },
            },
            ast::Expr::Binary {
                op, left, right, ..
            } => {
                // An old-style keyword comparison is a boolean expression of its own.
                if matches!(**left, ast::Expr::Keyword(..))
                    || matches!(**right, ast::Expr::Keyword(..))
                {
                    return Some(Ty::Int);
                }
                let t1 = self.check_types(left)?;
                match op {
                    BinOp::Eq
                    | BinOp::Ne
                    | BinOp::Add
                    | BinOp::StrEq
                    | BinOp::StrNe
                    | BinOp::Match => {
                        let t2 = self.check_types(right)?;
                        if t1 != t2
                            && t1 != Ty::Unknown
                            && t2 != Ty::Unknown
                            && !(t1 == Ty::Str && t2 == Ty::Int)
                        {
                            return mismatch(self, t2, t1, right.span());
                        }
                        if matches!(op, BinOp::StrEq | BinOp::StrNe | BinOp::Match) && t1 == Ty::Int
                        {
                            return mismatch(self, Ty::Int, Ty::Str, left.span());
                        }
                        Some(if *op == BinOp::Add { t1 } else { Ty::Int })
                    }
                    _ => {
                        if t1 == Ty::Str {
                            return mismatch(self, Ty::Str, Ty::Int, left.span());
                        }
                        if self.check_types(right)? == Ty::Str {
                            return mismatch(self, Ty::Str, Ty::Int, right.span());
                        }
                        Some(Ty::Int)
                    }
                }
            }
        }
    }
}
